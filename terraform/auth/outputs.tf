output "workload_identity_provider" {
  description = "The GitHub secret WIF_PROVIDER: the provider's full resource name."
  value       = google_iam_workload_identity_pool_provider.github.name
}

output "deployer_service_account" {
  description = "The GitHub secret SERVICE_ACCOUNT: the deployer's email."
  value       = google_service_account.deployer.email
}
