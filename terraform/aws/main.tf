# The S3 side of the invoice ETL: one bucket, private, versioned, encrypted
# with a customer-managed KMS key, and a policy for the Updraft worker that
# allows only what the s3_* operators and the AWS branch do (list, read,
# write, delete, multipart) on this bucket.

data "aws_caller_identity" "current" {}

resource "aws_kms_key" "bucket" {
  description             = "Encrypts s3://${var.bucket_name}"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  # The account administers the key; who may use it is decided by IAM
  # policies (the worker's below), as with AWS's default key policy, but
  # written down.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministersTheKey"
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::${data.aws_caller_identity.current.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
}

resource "aws_s3_bucket" "ecomm" {
  # checkov:skip=CKV_AWS_144: the bucket holds daily copies re-created from the sources by the ETL; replicating them to a second region doubles the cost for nothing that cannot be rebuilt.
  # checkov:skip=CKV2_AWS_62: nothing consumes bucket events; Updraft runs the pipeline on its schedule.
  bucket = var.bucket_name
}

resource "aws_s3_bucket_ownership_controls" "ecomm" {
  bucket = aws_s3_bucket.ecomm.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "ecomm" {
  bucket                  = aws_s3_bucket.ecomm.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "ecomm" {
  bucket = aws_s3_bucket.ecomm.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "ecomm" {
  bucket = aws_s3_bucket.ecomm.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.bucket.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "ecomm" {
  bucket     = aws_s3_bucket.ecomm.id
  depends_on = [aws_s3_bucket_versioning.ecomm]

  rule {
    id     = "expire-raw-and-staging"
    status = "Enabled"
    filter {}
    expiration {
      days = var.raw_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_s3_bucket_logging" "ecomm" {
  count         = var.access_log_bucket == "" ? 0 : 1
  bucket        = aws_s3_bucket.ecomm.id
  target_bucket = var.access_log_bucket
  target_prefix = "${var.bucket_name}/"
}

# Refuse anything not sent over TLS.
resource "aws_s3_bucket_policy" "tls_only" {
  bucket = aws_s3_bucket.ecomm.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.ecomm.arn, "${aws_s3_bucket.ecomm.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })
  depends_on = [aws_s3_bucket_public_access_block.ecomm]
}

data "aws_iam_policy_document" "worker" {
  statement {
    sid       = "ListTheBucket"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"]
    resources = [aws_s3_bucket.ecomm.arn]
  }
  statement {
    sid = "ObjectsOfTheBucket"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = ["${aws_s3_bucket.ecomm.arn}/*"]
  }
  statement {
    sid       = "TheBucketKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.bucket.arn]
  }
}

resource "aws_iam_policy" "worker" {
  name        = "updraft-worker-${var.bucket_name}"
  description = "What Updraft's s3_* operators need on s3://${var.bucket_name}, and nothing else"
  policy      = data.aws_iam_policy_document.worker.json
}
