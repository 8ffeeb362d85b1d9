# Workload Identity Federation for GitHub Actions: the model workflow
# (.github/workflows/build-deploy-model.yml) exchanges its OIDC token for a
# short-lived token of a deployer service account that may only push to the
# one Artifact Registry repository. No service account key exists anywhere.

resource "google_iam_workload_identity_pool" "github" {
  workload_identity_pool_id = var.pool_id
  display_name              = "GitHub Actions"
  description               = "OIDC tokens of ${var.github_repository}"
}

resource "google_iam_workload_identity_pool_provider" "github" {
  # checkov:skip=CKV_GCP_125: the condition pins assertion.sub to "repo:<owner/name>:ref:<ref>", both from variables, which checkov cannot read.
  workload_identity_pool_id          = google_iam_workload_identity_pool.github.workload_identity_pool_id
  workload_identity_pool_provider_id = var.provider_id
  display_name                       = "GitHub OIDC"

  attribute_mapping = {
    "google.subject"       = "assertion.sub"
    "attribute.repository" = "assertion.repository"
    "attribute.ref"        = "assertion.ref"
  }
  # Tokens of any other repository, or of another ref, are refused by the
  # provider itself: the subject names both ("repo:owner/name:ref:refs/heads/main").
  attribute_condition = "assertion.sub == \"repo:${var.github_repository}:ref:${var.github_ref}\""

  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

resource "google_service_account" "deployer" {
  account_id   = "updraft-model-deployer"
  display_name = "Pushes the ML image from GitHub Actions"
}

# Only the repository's workflows (on the allowed ref, by the condition
# above) may act as the deployer.
resource "google_service_account_iam_member" "deployer_wif" {
  service_account_id = google_service_account.deployer.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/attribute.repository/${var.github_repository}"
}

resource "google_artifact_registry_repository_iam_member" "deployer_push" {
  location   = var.region
  repository = var.gar_repo
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.deployer.email}"
}
