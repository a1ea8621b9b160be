output "s3_bucket_id" {
  description = "Name of the bucket."
  value       = aws_s3_bucket.this.bucket
}

output "s3_bucket_arn" {
  description = "ARN of the bucket (arn:<partition>:s3:::<name>). Object ARNs are this plus \"/<key>\"."
  value       = aws_s3_bucket.this.arn
}

output "s3_bucket_region" {
  description = "Region the bucket lives in."
  value       = aws_s3_bucket.this.region
}

output "s3_bucket_versioning_status" {
  description = "Versioning status managed by the module: \"Enabled\", or null when versioning is not managed (never enabled)."
  value       = one(aws_s3_bucket_versioning.this[*].versioning_configuration[0].status)
}

output "s3_bucket_sse_algorithm" {
  description = "Default server-side encryption algorithm: \"AES256\" (SSE-S3) or \"aws:kms\" (SSE-KMS)."
  value       = one(aws_s3_bucket_server_side_encryption_configuration.this.rule).apply_server_side_encryption_by_default[0].sse_algorithm
}

output "s3_bucket_lifecycle_rule_ids" {
  description = "Ids of the enabled lifecycle rules: always \"abort-incomplete-multipart-uploads\", plus \"expire-noncurrent-versions\" when noncurrent_version_expiration_days is set on a versioned bucket, and \"expire-<prefix>\" for each of expire_prefixes."
  value       = [for r in aws_s3_bucket_lifecycle_configuration.this.rule : r.id if r.status == "Enabled"]
}

output "s3_bucket_expiring_prefixes" {
  description = "Key prefixes whose objects S3 deletes after a number of days: prefix => days."
  value       = { for r in aws_s3_bucket_lifecycle_configuration.this.rule : r.filter[0].prefix => r.expiration[0].days if startswith(r.id, "expire-") && r.id != "expire-noncurrent-versions" }
}

output "s3_bucket_noncurrent_expiring_prefixes" {
  description = "Key prefixes whose noncurrent object versions S3 deletes after a number of days: prefix => days (expire_prefixes on a versioned bucket, with expire_prefixes_noncurrent_days)."
  value       = { for r in aws_s3_bucket_lifecycle_configuration.this.rule : r.filter[0].prefix => r.noncurrent_version_expiration[0].noncurrent_days if startswith(r.id, "expire-") && r.id != "expire-noncurrent-versions" && length(r.noncurrent_version_expiration) > 0 }
}
