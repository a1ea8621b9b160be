################################################################################
# Sharded ingest: an actuals upload over ingest_shard_bytes runs as a Step Functions workflow
# (Distributed Maps over byte-range shards, then over series partitions) of ETL-function tasks
################################################################################

locals {
  ingest_key_prefix = "ingest/"
}

module "ingest_workflow" {
  source = "../ingest-workflow"

  name         = local.ingest_workflow_name
  function_arn = module.etl.lambda_function_arn

  list_bucket_arn = local.processed_bucket_arn
  list_key_prefix = local.ingest_key_prefix

  max_concurrency        = var.ingest_max_concurrency
  task_retries           = var.ingest_task_retries
  retry_interval_seconds = var.ingest_retry_interval_seconds

  log_retention_days          = var.log_retention_days
  cloudwatch_logs_kms_key_arn = local.cloudwatch_logs_kms_key_arn

  tags = var.tags
}
