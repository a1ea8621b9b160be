output "dynamodb_table_id" {
  description = "Name of the table."
  value       = aws_dynamodb_table.this.id
}

output "dynamodb_table_name" {
  description = "Name of the table (same as dynamodb_table_id)."
  value       = aws_dynamodb_table.this.name
}

output "dynamodb_table_arn" {
  description = "ARN of the table."
  value       = aws_dynamodb_table.this.arn
}

output "dynamodb_table_hash_key" {
  description = "Partition key attribute name."
  value       = var.hash_key
}

output "dynamodb_table_range_key" {
  description = "Sort key attribute name."
  value       = var.range_key
}

output "dynamodb_table_point_in_time_recovery_enabled" {
  description = "Whether point-in-time recovery is enabled."
  value       = aws_dynamodb_table.this.point_in_time_recovery[0].enabled
}

output "dynamodb_table_server_side_encryption_enabled" {
  description = "Whether server-side encryption is enabled (always true: with the AWS managed key unless kms_key_arn is set)."
  value       = aws_dynamodb_table.this.server_side_encryption[0].enabled
}
