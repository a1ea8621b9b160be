provider "aws" {
  # Credentials come from the default chain: environment, shared config/SSO profile, instance or task role.
  region = var.region

  default_tags {
    tags = {
      Project     = "grocery-forecast"
      Environment = "aws"
      ManagedBy   = "terraform"
    }
  }
}

locals {
  repo_root = "${path.module}/../../.."
}

module "forecasting_stack" {
  source = "../../modules/forecasting-stack"

  name_prefix = var.name_prefix

  etl_package_path     = coalesce(var.etl_package_path, "${local.repo_root}/build/lambdas-aws/etl.zip")
  predict_package_path = coalesce(var.predict_package_path, "${local.repo_root}/build/lambdas-aws/predict.zip")
  monitor_package_path = coalesce(var.monitor_package_path, "${local.repo_root}/build/lambdas-aws/monitor.zip")
  train_package_path   = coalesce(var.train_package_path, "${local.repo_root}/build/lambdas-aws/train.zip")
  lambda_runtime       = var.lambda_runtime

  etl_memory_mb           = var.etl_memory_mb
  etl_timeout_seconds     = var.etl_timeout_seconds
  predict_memory_mb       = var.predict_memory_mb
  predict_timeout_seconds = var.predict_timeout_seconds
  maximum_retry_attempts  = var.maximum_retry_attempts

  maximum_event_age_in_seconds = var.maximum_event_age_in_seconds
  alarm_actions                = var.alarm_actions

  # Realized accuracy as EMF log lines (CloudWatch Logs extracts the metrics); its alarm's N.
  metrics_destination = "emf"
  accuracy_alarm_days = var.accuracy_alarm_days

  forecast_shard_rows      = var.forecast_shard_rows
  forecast_max_concurrency = var.forecast_max_concurrency
  forecast_shard_retries   = var.forecast_shard_retries
  # Pool the item/store/class/family features over every series of the history (its series index).
  forecast_pool_over_history = var.forecast_pool_over_history

  ingest_shard_bytes     = var.ingest_shard_bytes
  ingest_partitions      = var.ingest_partitions
  ingest_bucket_rows     = var.ingest_bucket_rows
  ingest_max_concurrency = var.ingest_max_concurrency
  ingest_task_retries    = var.ingest_task_retries

  forecast_horizon   = var.forecast_horizon
  log_level          = var.log_level
  log_retention_days = var.log_retention_days

  # Log encryption: the stack's own key unless you bring one.
  create_cloudwatch_logs_kms_key = var.cloudwatch_logs_kms_key_arn == null
  cloudwatch_logs_kms_key_arn    = var.cloudwatch_logs_kms_key_arn

  # Production data: buckets are never emptied by Terraform, the table keeps 35 days of recovery points.
  force_destroy             = false
  point_in_time_recovery    = true
  table_deletion_protection = var.table_deletion_protection

  # Retraining: weekly, gated; the train step on the training Lambda or on AWS Batch (training_runner).
  training_schedule_expression  = var.training_schedule_expression
  promotion_min_improvement     = var.promotion_min_improvement
  train_memory_mb               = var.train_memory_mb
  training_runner               = var.training_runner
  training_image                = var.training_image
  training_image_repository_arn = var.training_image_repository_arn
  training_subnet_ids           = var.training_subnet_ids
  training_assign_public_ip     = var.training_assign_public_ip
  training_security_group_ids   = var.training_security_group_ids

  tags = var.tags
}
