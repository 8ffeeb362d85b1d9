variable "region" {
  description = "AWS region of the bucket (the aws-default connection's region_name)."
  type        = string
}

variable "bucket_name" {
  description = "The S3 bucket of the ETL's AWS branch (Updraft variable `s3`)."
  type        = string
}

variable "env" {
  description = "Environment tag (dev, stg, prod)."
  type        = string
  default     = "dev"
}

variable "raw_retention_days" {
  description = "Days landed raw files (raw/) and staging files (staging_area/) are kept."
  type        = number
  default     = 365
}

variable "access_log_bucket" {
  description = "Optional bucket receiving the server access logs; no access logging when empty."
  type        = string
  default     = ""
}
