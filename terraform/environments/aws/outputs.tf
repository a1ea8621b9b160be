# Same names as the forecasting-stack outputs: scripts and tests read them with `terraform output -json`.

output "raw_bucket_name" {
  description = "Bucket for uploads: sales actuals (train.csv format) and forecast requests (test.csv format), .csv or .csv.gz. Uploads trigger the ETL function."
  value       = module.forecasting_stack.raw_bucket_name
}

output "processed_bucket_name" {
  description = "Bucket the ETL writes cleaned files to (actuals/, requests/, reference/). actuals/ and requests/ trigger the predict function."
  value       = module.forecasting_stack.processed_bucket_name
}

output "output_bucket_name" {
  description = "Bucket of the results: forecasts/, runs/ (run manifests) and rejected/ (error reports for bad uploads)."
  value       = module.forecasting_stack.output_bucket_name
}

output "models_bucket_name" {
  description = "Bucket of the trained models (under models/)."
  value       = module.forecasting_stack.models_bucket_name
}

output "artifacts_bucket_name" {
  description = "Bucket holding the Lambda deployment packages."
  value       = module.forecasting_stack.artifacts_bucket_name
}

output "history_table_name" {
  description = "DynamoDB table of the sales history (hash key series = \"<store_nbr>#<item_nbr>\", range key bucket)."
  value       = module.forecasting_stack.history_table_name
}

output "history_table_arn" {
  description = "ARN of the history table."
  value       = module.forecasting_stack.history_table_arn
}

output "etl_function_name" {
  description = "Name of the ETL function."
  value       = module.forecasting_stack.etl_function_name
}

output "etl_function_arn" {
  description = "ARN of the ETL function."
  value       = module.forecasting_stack.etl_function_arn
}

output "etl_log_group_name" {
  description = "CloudWatch log group of the ETL function."
  value       = module.forecasting_stack.etl_log_group_name
}

output "predict_function_name" {
  description = "Name of the predict function."
  value       = module.forecasting_stack.predict_function_name
}

output "predict_function_arn" {
  description = "ARN of the predict function."
  value       = module.forecasting_stack.predict_function_arn
}

output "predict_log_group_name" {
  description = "CloudWatch log group of the predict function."
  value       = module.forecasting_stack.predict_log_group_name
}

output "dlq_queue_url" {
  description = "URL of the dead-letter queue receiving S3-triggered invocations that failed every attempt."
  value       = module.forecasting_stack.dlq_queue_url
}

output "dlq_queue_arn" {
  description = "ARN of the dead-letter queue."
  value       = module.forecasting_stack.dlq_queue_arn
}

output "forecast_state_machine_arn" {
  description = "ARN of the sharded-forecast workflow (Step Functions)."
  value       = module.forecasting_stack.forecast_state_machine_arn
}

output "forecast_state_machine_name" {
  description = "Name of the sharded-forecast workflow."
  value       = module.forecasting_stack.forecast_state_machine_name
}

output "forecast_shard_rows" {
  description = "Target rows above which a forecast is sharded."
  value       = module.forecasting_stack.forecast_shard_rows
}

output "ingest_state_machine_arn" {
  description = "ARN of the sharded-ingest workflow."
  value       = module.forecasting_stack.ingest_state_machine_arn
}

output "ingest_shard_bytes" {
  description = "Size of an actuals upload (bytes stored) above which it is ingested in shards."
  value       = module.forecasting_stack.ingest_shard_bytes
}

output "ingest_partitions" {
  description = "Partitions of the series, one writer lease each."
  value       = module.forecasting_stack.ingest_partitions
}

output "region" {
  description = "Region the stack is deployed in."
  value       = module.forecasting_stack.region
}

output "monitor_function_name" {
  description = "Name of the monitor function (realized accuracy, runs whose workflow ended)."
  value       = module.forecasting_stack.monitor_function_name
}

output "monitor_log_group_name" {
  description = "CloudWatch log group of the monitor function."
  value       = module.forecasting_stack.monitor_log_group_name
}

output "metrics_namespace" {
  description = "CloudWatch namespace of the realized-accuracy metrics."
  value       = module.forecasting_stack.metrics_namespace
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = module.forecasting_stack.dashboard_name
}

output "alarm_names" {
  description = "Every CloudWatch alarm of the stack (empty when alarms are off)."
  value       = module.forecasting_stack.alarm_names
}

output "train_function_name" {
  description = "Name of the training function."
  value       = module.forecasting_stack.train_function_name
}

output "training_state_machine_arn" {
  description = "ARN of the retraining workflow (grocery-forecast train --remote --env aws starts it)."
  value       = module.forecasting_stack.training_state_machine_arn
}

output "training_schedule_rule_name" {
  description = "EventBridge rule that starts retraining on schedule."
  value       = module.forecasting_stack.training_schedule_rule_name
}

output "training_schedule_input" {
  description = "The exact input the schedule sends to the retraining workflow (JSON)."
  value       = module.forecasting_stack.training_schedule_input
}

output "training_failed_alarm_name" {
  description = "Name of the failed-retraining alarm."
  value       = module.forecasting_stack.training_failed_alarm_name
}

output "peak_lambda_concurrency" {
  description = "Lambda executions one run of each workflow takes at once (the floor for the account's concurrency quota, checked on every plan)."
  value       = module.forecasting_stack.peak_lambda_concurrency
}
