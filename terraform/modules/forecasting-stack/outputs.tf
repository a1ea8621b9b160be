################################################################################
# Storage
################################################################################

output "raw_bucket_name" {
  description = "Bucket for uploads: sales actuals (train.csv format) and forecast requests (test.csv format), .csv or .csv.gz. Uploads trigger the ETL function."
  value       = module.bucket["raw"].s3_bucket_id
}

output "processed_bucket_name" {
  description = "Bucket the ETL writes cleaned files to (actuals/, requests/, reference/). actuals/ and requests/ trigger the predict function."
  value       = module.bucket["processed"].s3_bucket_id
}

output "output_bucket_name" {
  description = "Bucket of the results: forecasts/, runs/ (run manifests) and rejected/ (error reports for bad uploads)."
  value       = module.bucket["output"].s3_bucket_id
}

output "models_bucket_name" {
  description = "Bucket of the trained models (under models/)."
  value       = module.bucket["models"].s3_bucket_id
}

output "artifacts_bucket_name" {
  description = "Bucket holding the Lambda deployment packages."
  value       = module.bucket["artifacts"].s3_bucket_id
}

output "history_table_name" {
  description = "DynamoDB table of the sales history (hash key series = \"<store_nbr>#<item_nbr>\", range key bucket)."
  value       = module.history_table.dynamodb_table_name
}

output "history_table_arn" {
  description = "ARN of the history table."
  value       = module.history_table.dynamodb_table_arn
}

################################################################################
# Functions
################################################################################

output "etl_function_name" {
  description = "Name of the ETL function."
  value       = module.etl.lambda_function_name
}

output "etl_function_arn" {
  description = "ARN of the ETL function."
  value       = module.etl.lambda_function_arn
}

output "etl_log_group_name" {
  description = "CloudWatch log group of the ETL function."
  value       = module.etl.lambda_cloudwatch_log_group_name
}

output "predict_function_name" {
  description = "Name of the predict function."
  value       = module.predict.lambda_function_name
}

output "predict_function_arn" {
  description = "ARN of the predict function."
  value       = module.predict.lambda_function_arn
}

output "predict_log_group_name" {
  description = "CloudWatch log group of the predict function."
  value       = module.predict.lambda_cloudwatch_log_group_name
}

output "cloudwatch_logs_kms_key_arn" {
  description = "ARN of the customer managed KMS key encrypting both functions' log groups (null when they use CloudWatch Logs' own encryption)."
  value       = local.cloudwatch_logs_kms_key_arn

  precondition {
    condition     = !(var.create_cloudwatch_logs_kms_key && var.cloudwatch_logs_kms_key_arn != null)
    error_message = "cloudwatch_logs_kms_key_arn is only used with create_cloudwatch_logs_kms_key = false: set one or the other."
  }
}

################################################################################
# Failures
################################################################################

output "dlq_queue_url" {
  description = "URL of the dead-letter queue receiving S3-triggered invocations that failed every attempt."
  value       = aws_sqs_queue.dlq.url
}

output "dlq_queue_arn" {
  description = "ARN of the dead-letter queue."
  value       = aws_sqs_queue.dlq.arn
}

################################################################################
# Location
################################################################################

output "region" {
  description = "Region the stack is deployed in."
  value       = data.aws_region.current.name
}

################################################################################
# Sharded forecasts
################################################################################

output "forecast_state_machine_arn" {
  description = "ARN of the sharded-forecast workflow (Step Functions) that runs forecasts over forecast_shard_rows target rows."
  value       = module.forecast_workflow.state_machine_arn
}

output "forecast_state_machine_name" {
  description = "Name of the sharded-forecast workflow."
  value       = module.forecast_workflow.state_machine_name
}

output "forecast_workflow_log_group_name" {
  description = "CloudWatch log group of the sharded-forecast workflow."
  value       = module.forecast_workflow.log_group_name
}

output "forecast_shard_rows" {
  description = "Target rows above which a forecast is sharded."
  value       = var.forecast_shard_rows
}

################################################################################
# Sharded ingest
################################################################################

output "ingest_state_machine_arn" {
  description = "ARN of the sharded-ingest workflow (Step Functions) that ingests actuals uploads over ingest_shard_bytes."
  value       = module.ingest_workflow.state_machine_arn
}

output "ingest_state_machine_name" {
  description = "Name of the sharded-ingest workflow."
  value       = module.ingest_workflow.state_machine_name
}

output "ingest_shard_bytes" {
  description = "Size of an actuals upload (bytes stored) above which it is ingested in shards."
  value       = var.ingest_shard_bytes
}

output "ingest_partitions" {
  description = "Partitions of the series, one writer lease each."
  value       = var.ingest_partitions
}

################################################################################
# Monitor
################################################################################

output "monitor_function_name" {
  description = "Name of the monitor function (realized accuracy, runs whose workflow ended)."
  value       = module.monitor.lambda_function_name
}

output "monitor_function_arn" {
  description = "ARN of the monitor function."
  value       = module.monitor.lambda_function_arn
}

output "monitor_log_group_name" {
  description = "CloudWatch log group of the monitor function."
  value       = module.monitor.lambda_cloudwatch_log_group_name
}

output "metrics_namespace" {
  description = "CloudWatch namespace of the realized-accuracy metrics (dimensions service=monitor, stack=name_prefix)."
  value       = var.metrics_namespace
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard (null when create_dashboard is false)."
  value       = one(aws_cloudwatch_dashboard.this[*].dashboard_name)
}

output "alarm_names" {
  description = "Every CloudWatch alarm of the stack (empty when create_alarms is false)."
  value = compact(concat(
    aws_cloudwatch_metric_alarm.dlq_depth[*].alarm_name,
    [for m in [module.etl, module.predict, module.monitor, module.train] : m.cloudwatch_errors_alarm_name],
    [for m in [module.etl, module.predict, module.monitor, module.train] : m.cloudwatch_throttles_alarm_name],
    [for m in [module.etl, module.predict, module.monitor, module.train] : m.cloudwatch_duration_alarm_name],
    [for a in aws_cloudwatch_metric_alarm.workflow : a.alarm_name],
    aws_cloudwatch_metric_alarm.model_worse_than_baseline[*].alarm_name,
    [module.training_workflow.failed_alarm_name],
  ))
}

################################################################################
# Retraining
################################################################################

output "train_function_name" {
  description = "Name of the training function (the retraining workflow's tasks)."
  value       = module.train.lambda_function_name
}

output "train_function_arn" {
  description = "ARN of the training function."
  value       = module.train.lambda_function_arn
}

output "train_role_arn" {
  description = "ARN of the training function's role (reads the history, writes under models/)."
  value       = module.train.lambda_role_arn
}

output "training_state_machine_arn" {
  description = "ARN of the retraining workflow (grocery-forecast train --remote starts it)."
  value       = module.training_workflow.state_machine_arn
}

output "training_state_machine_name" {
  description = "Name of the retraining workflow."
  value       = module.training_workflow.state_machine_name
}

output "training_schedule_rule_name" {
  description = "EventBridge rule that starts retraining on schedule."
  value       = module.training_workflow.schedule_rule_name
}

output "training_schedule_input" {
  description = "The exact input the schedule sends to the retraining workflow (JSON)."
  value       = module.training_workflow.schedule_input
}

output "training_failed_alarm_name" {
  description = "Name of the failed-retraining alarm (null when alarms are off)."
  value       = module.training_workflow.failed_alarm_name
}

output "peak_lambda_concurrency" {
  description = "Lambda executions one run of each workflow takes at once at its configured width: a sharded forecast and a sharded ingest at full width, the training scan's segments (the train step runs after them, in the same function), plus one ETL, predict and monitor invocation. The floor for the account's concurrency quota: uploads that overlap each add their workflow's width."
  value       = var.forecast_max_concurrency + var.ingest_max_concurrency + var.training_scan_segments + 3
}
