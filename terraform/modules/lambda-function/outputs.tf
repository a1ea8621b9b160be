################################################################################
# Function
################################################################################

output "lambda_function_name" {
  description = "Name of the function."
  value       = aws_lambda_function.this.function_name
}

output "lambda_function_arn" {
  description = "ARN of the function."
  value       = aws_lambda_function.this.arn
}

output "lambda_function_invoke_arn" {
  description = "ARN used to invoke the function from API Gateway."
  value       = aws_lambda_function.this.invoke_arn
}

output "lambda_function_source_code_hash" {
  description = "Base64 SHA-256 of the deployed package."
  value       = aws_lambda_function.this.source_code_hash
}

output "lambda_function_s3_key" {
  description = "Key of the uploaded package in the artifacts bucket."
  value       = aws_s3_object.package.key
}

output "lambda_function_environment_variables" {
  description = "Environment variables of the function."
  value       = try(aws_lambda_function.this.environment[0].variables, {})
}

################################################################################
# Asynchronous invocation
################################################################################

output "lambda_maximum_retry_attempts" {
  description = "Retries of a failed asynchronous invocation."
  value       = aws_lambda_function_event_invoke_config.this.maximum_retry_attempts
}

output "lambda_maximum_event_age_in_seconds" {
  description = "Maximum age of an asynchronous event before it goes to the on-failure destination."
  value       = aws_lambda_function_event_invoke_config.this.maximum_event_age_in_seconds
}

output "lambda_destination_on_failure" {
  description = "ARN receiving asynchronous invocations that failed every attempt (null if none)."
  value       = try(aws_lambda_function_event_invoke_config.this.destination_config[0].on_failure[0].destination, null)
}

################################################################################
# Execution role
################################################################################

output "lambda_role_arn" {
  description = "ARN of the function's execution role."
  value       = aws_iam_role.lambda.arn
}

output "lambda_role_name" {
  description = "Name of the function's execution role."
  value       = aws_iam_role.lambda.name
}

output "lambda_role_policy_json" {
  description = "The inline policy document attached to the role (JSON)."
  value       = local.policy_document
}

################################################################################
# Logging
################################################################################

output "lambda_cloudwatch_log_group_name" {
  description = "Name of the function's log group (/aws/lambda/<function_name>)."
  value       = aws_cloudwatch_log_group.lambda.name
}

output "lambda_cloudwatch_log_group_arn" {
  description = "ARN of the function's log group."
  value       = aws_cloudwatch_log_group.lambda.arn
}

output "lambda_cloudwatch_log_group_kms_key_arn" {
  description = "ARN of the KMS key encrypting the function's log group (null: CloudWatch Logs' own key)."
  value       = aws_cloudwatch_log_group.lambda.kms_key_id
}

output "lambda_cloudwatch_log_group_retention_in_days" {
  description = "Retention of the function's log group in days (0: never expire)."
  value       = aws_cloudwatch_log_group.lambda.retention_in_days
}

################################################################################
# Alarm
################################################################################

output "cloudwatch_errors_alarm_name" {
  description = "Name of the alarm on the function's Errors metric (null when create_errors_alarm is false)."
  value       = one(aws_cloudwatch_metric_alarm.errors[*].alarm_name)
}

output "cloudwatch_throttles_alarm_name" {
  description = "Name of the alarm on the function's Throttles metric (null when create_throttles_alarm is false)."
  value       = one(aws_cloudwatch_metric_alarm.throttles[*].alarm_name)
}

output "cloudwatch_duration_alarm_name" {
  description = "Name of the alarm on the function's Maximum Duration near its timeout (null when create_duration_alarm is false)."
  value       = one(aws_cloudwatch_metric_alarm.duration[*].alarm_name)
}

output "cloudwatch_duration_alarm_threshold_ms" {
  description = "Threshold of the duration alarm in milliseconds (null when create_duration_alarm is false)."
  value       = one(aws_cloudwatch_metric_alarm.duration[*].threshold)
}
