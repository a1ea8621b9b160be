################################################################################
# Retraining: a Step Functions workflow (parallel Scan of the history -> train -> gate -> promote
# or reject) of training-function tasks, started weekly by EventBridge and on demand
# (`grocery-forecast train --remote`)
################################################################################

locals {
  train_function_name = "${var.name_prefix}-train"
  # The retraining's Scan parts (pipeline/training.py PARTS_PREFIX): working files, expired.
  training_parts_prefix  = "models/_training/parts/"
  training_workflow_name = "${var.name_prefix}-retraining"

  # The training function reads the whole history table (parallel Scan) and GetItem for its date
  # range; it writes nothing to it.
  train_table_actions = [
    "dynamodb:GetItem",
    "dynamodb:Scan",
  ]

  train_environment = merge(
    {
      HISTORY_TABLE             = module.history_table.dynamodb_table_name
      MODELS_BUCKET             = module.bucket["models"].s3_bucket_id
      PROCESSED_BUCKET          = module.bucket["processed"].s3_bucket_id
      LOG_LEVEL                 = var.log_level
      TRAINING_HISTORY_DAYS     = tostring(var.training_history_days)
      PROMOTION_MIN_IMPROVEMENT = tostring(var.promotion_min_improvement)
    },
    var.training_max_rows == null ? {} : { TRAINING_MAX_ROWS = tostring(var.training_max_rows) },
  )

  # What the training code may do, wherever it runs (the Lambda, or the Batch job).
  train_policy_statements = [
    {
      # Whole buckets, so a missing object is a 404 (why not under an s3:prefix condition: lambdas.tf).
      sid       = "ListModelsAndProcessed"
      actions   = ["s3:ListBucket"]
      resources = [local.models_bucket_arn, local.processed_bucket_arn]
    },
    {
      sid       = "ReadReference"
      actions   = ["s3:GetObject"]
      resources = ["${local.processed_bucket_arn}/reference/*"]
    },
    {
      # The model in service (to score it), the Scan parts and manifests of its own runs.
      sid       = "ReadModels"
      actions   = ["s3:GetObject"]
      resources = ["${local.models_bucket_arn}/models/*"]
    },
    {
      # New versions (models/<version>/), the pointer to the one in service (models/current.json)
      # and its own work files (models/_training/): under models/ and nowhere else.
      sid       = "WriteModels"
      actions   = ["s3:PutObject"]
      resources = ["${local.models_bucket_arn}/models/*"]
    },
    {
      sid       = "ScanHistory"
      actions   = local.train_table_actions
      resources = [module.history_table.dynamodb_table_arn]
    },
  ]
}

module "train" {
  source = "../lambda-function"

  function_name = local.train_function_name
  description   = "Retraining tasks: scan the history, train a challenger, gate it against the model in service, promote or reject it."
  handler       = "handler.lambda_handler"
  runtime       = var.lambda_runtime
  memory_size   = var.train_memory_mb
  timeout       = var.train_timeout_seconds

  package_path     = var.train_package_path
  artifacts_bucket = module.bucket["artifacts"].s3_bucket_id

  environment_variables = merge(local.train_environment, { POWERTOOLS_SERVICE_NAME = "train" })

  policy_statements = local.train_policy_statements

  log_retention_days          = var.log_retention_days
  cloudwatch_logs_kms_key_arn = local.cloudwatch_logs_kms_key_arn
  # Invoked synchronously by the workflow, which retries and records failures itself.
  maximum_retry_attempts       = 0
  maximum_event_age_in_seconds = 60

  create_errors_alarm               = var.create_alarms
  create_throttles_alarm            = var.create_alarms
  create_duration_alarm             = var.create_alarms
  duration_alarm_percent_of_timeout = var.duration_alarm_percent_of_timeout
  alarm_actions                     = var.alarm_actions

  tags = var.tags
}

################################################################################
# Optional: the train step on AWS Batch (Fargate), for histories a Lambda cannot train
################################################################################

module "training_batch" {
  source = "../training-batch"
  count  = var.training_runner == "batch" ? 1 : 0

  name                 = local.train_function_name
  image                = var.training_image
  image_repository_arn = var.training_image_repository_arn
  vcpu                 = var.training_batch_vcpu
  memory_mb            = var.training_batch_memory_mb
  subnet_ids           = var.training_subnet_ids
  security_group_ids   = var.training_security_group_ids
  assign_public_ip     = var.training_assign_public_ip

  environment_variables = local.train_environment
  job_policy_statements = local.train_policy_statements

  log_retention_days          = var.log_retention_days
  cloudwatch_logs_kms_key_arn = local.cloudwatch_logs_kms_key_arn

  tags = var.tags
}

module "training_workflow" {
  source = "../training-workflow"

  name         = local.training_workflow_name
  function_arn = module.train.lambda_function_arn

  train_runner             = var.training_runner
  batch_job_queue_arn      = one(module.training_batch[*].job_queue_arn)
  batch_job_definition_arn = one(module.training_batch[*].job_definition_arn)

  scan_segments        = var.training_scan_segments
  scan_max_concurrency = var.training_scan_segments
  task_retries         = var.training_task_retries

  schedule_expression = var.training_schedule_expression
  schedule_enabled    = var.training_schedule_enabled

  create_failed_alarm = var.create_alarms
  alarm_actions       = var.alarm_actions

  log_retention_days          = var.log_retention_days
  cloudwatch_logs_kms_key_arn = local.cloudwatch_logs_kms_key_arn

  tags = var.tags
}
