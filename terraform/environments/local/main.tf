provider "aws" {
  region     = var.region
  access_key = "test"
  secret_key = "test"

  # The emulator accepts any credentials and has no metadata service or real account.
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  skip_region_validation      = true

  # Bucket names in the path (http://host:port/bucket/key), not in the host name.
  s3_use_path_style = true

  endpoints {
    cloudwatch = var.endpoint
    dynamodb   = var.endpoint
    events     = var.endpoint
    iam        = var.endpoint
    kms        = var.endpoint
    lambda     = var.endpoint
    logs       = var.endpoint
    s3         = var.endpoint
    sfn        = var.endpoint
    sqs        = var.endpoint
    sts        = var.endpoint
  }
}

locals {
  repo_root = "${path.module}/../../.."
}

module "forecasting_stack" {
  source = "../../modules/forecasting-stack"

  name_prefix = var.name_prefix

  etl_package_path     = coalesce(var.etl_package_path, "${local.repo_root}/build/lambdas/etl.zip")
  predict_package_path = coalesce(var.predict_package_path, "${local.repo_root}/build/lambdas/predict.zip")
  monitor_package_path = coalesce(var.monitor_package_path, "${local.repo_root}/build/lambdas/monitor.zip")
  train_package_path   = coalesce(var.train_package_path, "${local.repo_root}/build/lambdas/train.zip")
  lambda_runtime       = var.lambda_runtime

  forecast_horizon       = var.forecast_horizon
  log_level              = var.log_level
  log_retention_days     = var.log_retention_days
  maximum_retry_attempts = var.maximum_retry_attempts

  maximum_event_age_in_seconds = var.maximum_event_age_in_seconds

  # See var.create_alarms: MiniStack reads alarms back incompletely. When deployed, they notify nobody.
  create_alarms = var.create_alarms
  alarm_actions = []

  # MiniStack keeps Lambda logs but does not turn EMF log lines into metrics; it implements
  # PutMetricData, so the monitor publishes the same metrics through the API here.
  metrics_destination = "api"
  accuracy_alarm_days = var.accuracy_alarm_days

  # Small shards, so a CI-sized upload already runs the sharded workflow with several shards.
  forecast_shard_rows                   = var.forecast_shard_rows
  forecast_max_concurrency              = var.forecast_max_concurrency
  forecast_shard_retries                = var.forecast_shard_retries
  forecast_shard_retry_interval_seconds = 1
  forecast_shard_fault_marker           = var.forecast_shard_fault_marker
  etl_fault_marker                      = var.etl_fault_marker

  # Small shards too, so a CI-sized upload (a few MB) is ingested by the sharded workflow in several shards.
  ingest_shard_bytes            = var.ingest_shard_bytes
  ingest_partitions             = var.ingest_partitions
  ingest_bucket_rows            = var.ingest_bucket_rows
  ingest_max_concurrency        = var.ingest_max_concurrency
  ingest_task_retries           = var.ingest_task_retries
  ingest_retry_interval_seconds = 1

  # Disposable: `terraform destroy` empties the buckets, nothing is protected.
  force_destroy             = true
  point_in_time_recovery    = var.point_in_time_recovery
  table_deletion_protection = false

  # Retraining on the Lambda path (small data here; see the README for where Favorita-size runs).
  training_schedule_expression = var.training_schedule_expression
  promotion_min_improvement    = var.promotion_min_improvement
  training_scan_segments       = var.training_scan_segments
  training_task_retries        = 0

  tags = var.tags
}
