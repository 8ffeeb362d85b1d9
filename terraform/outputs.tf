output "updraft_variables" {
  description = "Updraft variables for the invoice ETL and the ML job: `terraform output -json updraft_variables | jq .value > variables.json` (merge `s3` from ../aws), then `updraft variables import variables.json`."
  value = {
    project_id = var.project_id
    region     = var.region
    gar_repo   = google_artifact_registry_repository.ml.repository_id
    gcs = {
      landing  = google_storage_bucket.ecomm["landing"].name
      staging  = google_storage_bucket.ecomm["staging"].name
      curate   = google_storage_bucket.ecomm["curate"].name
      artifact = google_storage_bucket.ecomm["artifact"].name
    }
    gcp_service_account = google_service_account.worker.email
  }
}

output "worker_service_account" {
  description = "The Updraft worker's service account: run the worker as it (attached to its VM, or impersonated from ADC)."
  value       = google_service_account.worker.email
}

output "image_repository" {
  description = "Where the ML image is pushed: <region>-docker.pkg.dev/<project>/<repo>."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.ml.repository_id}"
}
