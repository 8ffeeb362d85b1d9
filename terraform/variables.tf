variable "project_id" {
  description = "The GCP project that holds the buckets, datasets and registry (Updraft variable `project_id`)."
  type        = string
}

variable "region" {
  description = "Region for the buckets, the BigQuery datasets and Artifact Registry (Updraft variable `region`), e.g. asia-southeast1."
  type        = string
}

variable "bucket_prefix" {
  description = "Prefix of the four bucket names (bucket names are global): <prefix>-landing, -staging, -curate, -artifact."
  type        = string
}

variable "env" {
  description = "Environment label put on every resource (dev, stg, prod)."
  type        = string
  default     = "dev"
}

variable "gar_repo" {
  description = "Artifact Registry repository for the ML image (Updraft variable `gar_repo`)."
  type        = string
  default     = "ecomm"
}

variable "landing_retention_days" {
  description = "Days a landed raw file is kept; landed files move to Nearline after 30 days."
  type        = number
  default     = 365
}

variable "staging_retention_days" {
  description = "Days before a forgotten staging object is deleted (the ETL deletes its own after loading)."
  type        = number
  default     = 7
}

variable "kms_key_name" {
  description = "Optional Cloud KMS key (projects/.../cryptoKeys/...) for customer-managed encryption of the buckets; Google-managed keys when empty."
  type        = string
  default     = ""
}

variable "access_log_bucket" {
  description = "Optional bucket receiving the usage logs of the four buckets; no access logging when empty."
  type        = string
  default     = ""
}
