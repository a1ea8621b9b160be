output "job_queue_arn" {
  description = "ARN of the job queue the retraining workflow submits the train step to."
  value       = aws_batch_job_queue.this.arn
}

output "job_definition_arn" {
  description = "ARN of the job definition (with its revision)."
  value       = aws_batch_job_definition.this.arn
}

output "job_role_arn" {
  description = "ARN of the job's role (the training code's permissions)."
  value       = aws_iam_role.job.arn
}

output "job_role_policy_json" {
  description = "The job role's policy document."
  value       = aws_iam_role_policy.job.policy
}

output "log_group_name" {
  description = "CloudWatch log group of the job's container."
  value       = aws_cloudwatch_log_group.this.name
}
