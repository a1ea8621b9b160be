################################################################################
# Sharded forecast: a forecast over forecast_shard_rows target rows runs as a Step Functions
# workflow (Distributed Maps over shards of series) of predict-function tasks
################################################################################

locals {
  shard_key_prefix = "shards/"
}

module "forecast_workflow" {
  source = "../forecast-workflow"

  name         = local.workflow_name
  function_arn = module.predict.lambda_function_arn

  shard_bucket_arn = local.processed_bucket_arn
  shard_key_prefix = local.shard_key_prefix

  max_concurrency        = var.forecast_max_concurrency
  shard_retries          = var.forecast_shard_retries
  retry_interval_seconds = var.forecast_shard_retry_interval_seconds

  log_retention_days          = var.log_retention_days
  cloudwatch_logs_kms_key_arn = local.cloudwatch_logs_kms_key_arn

  tags = var.tags
}
