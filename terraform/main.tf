# What the first user's Terraform created for Airflow, for Updraft: the four
# buckets of the invoice ETL, the BigQuery datasets it loads, the Artifact
# Registry repository of the ML image, and one least-privilege service
# account for the Updraft worker. Workload Identity Federation for GitHub
# Actions is in ./auth, the AWS side in ./aws.

locals {
  labels = { env = var.env, app = "updraft-ecomm" }
  buckets = {
    landing  = { retention_days = var.landing_retention_days, versioning = false }
    staging  = { retention_days = var.staging_retention_days, versioning = false }
    curate   = { retention_days = 0, versioning = true }
    artifact = { retention_days = 0, versioning = true }
  }
}

resource "google_storage_bucket" "ecomm" {
  # checkov:skip=CKV_GCP_78: landing and staging hold copies the ETL re-creates by day and deletes itself; versioning them would keep every deleted staging file. curate and artifact are versioned.
  for_each = local.buckets

  name                        = "${var.bucket_prefix}-${each.key}"
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  labels                      = local.labels

  versioning {
    enabled = each.value.versioning
  }

  dynamic "encryption" {
    for_each = var.kms_key_name == "" ? [] : [var.kms_key_name]
    content {
      default_kms_key_name = encryption.value
    }
  }

  dynamic "logging" {
    for_each = var.access_log_bucket == "" ? [] : [var.access_log_bucket]
    content {
      log_bucket        = logging.value
      log_object_prefix = "${var.bucket_prefix}-${each.key}/"
    }
  }

  # Landed raw files get cheaper after a month.
  dynamic "lifecycle_rule" {
    for_each = each.key == "landing" ? [1] : []
    content {
      condition {
        age = 30
      }
      action {
        type          = "SetStorageClass"
        storage_class = "NEARLINE"
      }
    }
  }

  # Landing and staging expire; curated data and artifacts stay.
  dynamic "lifecycle_rule" {
    for_each = each.value.retention_days > 0 ? [each.value.retention_days] : []
    content {
      condition {
        age = lifecycle_rule.value
      }
      action {
        type = "Delete"
      }
    }
  }

  # Versioned buckets keep three noncurrent versions for 30 days.
  dynamic "lifecycle_rule" {
    for_each = each.value.versioning ? [1] : []
    content {
      condition {
        num_newer_versions = 3
        with_state         = "ARCHIVED"
      }
      action {
        type = "Delete"
      }
    }
  }
  dynamic "lifecycle_rule" {
    for_each = each.value.versioning ? [1] : []
    content {
      condition {
        days_since_noncurrent_time = 30
      }
      action {
        type = "Delete"
      }
    }
  }
}

resource "google_bigquery_dataset" "ecomm" {
  for_each = toset(["silver", "gold"])

  dataset_id  = each.key
  location    = var.region
  description = "Invoice ETL, ${each.key} layer (loaded by Updraft)"
  labels      = local.labels

  dynamic "default_encryption_configuration" {
    for_each = var.kms_key_name == "" ? [] : [var.kms_key_name]
    content {
      kms_key_name = default_encryption_configuration.value
    }
  }
}

resource "google_artifact_registry_repository" "ml" {
  # checkov:skip=CKV_GCP_84: encrypted with Google-managed keys unless var.kms_key_name names a customer-managed key (then used here too).
  location      = var.region
  repository_id = var.gar_repo
  format        = "DOCKER"
  kms_key_name  = var.kms_key_name == "" ? null : var.kms_key_name
  description   = "ML images run by Updraft's docker operator"
  labels        = local.labels

  docker_config {
    immutable_tags = true
  }

  # Untagged images go after 30 days; the ten newest versions always stay.
  cleanup_policies {
    id     = "delete-untagged"
    action = "DELETE"
    condition {
      tag_state  = "UNTAGGED"
      older_than = "2592000s"
    }
  }
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 10
    }
  }
}

# The Updraft worker's identity: read and write the four buckets, load and
# query the two datasets, run BigQuery jobs in the project, pull the ML
# image. Nothing project-wide beyond jobUser.
resource "google_service_account" "worker" {
  account_id   = "updraft-worker"
  display_name = "Updraft worker (invoice ETL and ML job)"
}

resource "google_storage_bucket_iam_member" "worker_objects" {
  for_each = google_storage_bucket.ecomm

  bucket = each.value.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.worker.email}"
}

resource "google_bigquery_dataset_iam_member" "worker_data" {
  for_each = google_bigquery_dataset.ecomm

  dataset_id = each.value.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = "serviceAccount:${google_service_account.worker.email}"
}

resource "google_project_iam_member" "worker_jobs" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = "serviceAccount:${google_service_account.worker.email}"
}

resource "google_artifact_registry_repository_iam_member" "worker_pull" {
  location   = google_artifact_registry_repository.ml.location
  repository = google_artifact_registry_repository.ml.name
  role       = "roles/artifactregistry.reader"
  member     = "serviceAccount:${google_service_account.worker.email}"
}
