output "updraft_variables" {
  description = "The Updraft variable of the AWS branch: merge into variables.json."
  value       = { s3 = aws_s3_bucket.ecomm.bucket }
}

output "worker_policy_arn" {
  description = "Attach to the role or user the Updraft worker runs as (the aws-default connection, or the instance role)."
  value       = aws_iam_policy.worker.arn
}
