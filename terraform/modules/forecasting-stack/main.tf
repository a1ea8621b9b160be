data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  # Every bucket of the stack, by role. Raw is versioned: it holds the uploads, the one input that cannot
  # be rebuilt from anything else. Models is versioned: an overwritten or deleted artifact or current.json
  # (the model in service) can be restored.
  buckets = {
    raw       = { versioning_enabled = true, expire_prefixes = {} }
    processed = { versioning_enabled = false, expire_prefixes = { (local.shard_key_prefix) = var.shard_files_retention_days, (local.ingest_key_prefix) = var.shard_files_retention_days } }
    output    = { versioning_enabled = false, expire_prefixes = {} }
    models    = { versioning_enabled = true, expire_prefixes = { (local.training_parts_prefix) = var.training_parts_retention_days } }
    artifacts = { versioning_enabled = false, expire_prefixes = {} }
  }

  etl_function_name     = "${var.name_prefix}-etl"
  predict_function_name = "${var.name_prefix}-predict"
  workflow_name         = "${var.name_prefix}-forecast-shards"
  ingest_workflow_name  = "${var.name_prefix}-ingest-shards"

  raw_bucket_arn       = module.bucket["raw"].s3_bucket_arn
  processed_bucket_arn = module.bucket["processed"].s3_bucket_arn
  output_bucket_arn    = module.bucket["output"].s3_bucket_arn
  models_bucket_arn    = module.bucket["models"].s3_bucket_arn
}

################################################################################
# Storage
################################################################################

module "bucket" {
  source   = "../s3-bucket"
  for_each = local.buckets

  bucket             = "${var.name_prefix}-${each.key}"
  force_destroy      = var.force_destroy
  versioning_enabled = each.value.versioning_enabled
  expire_prefixes    = each.value.expire_prefixes
  # In the versioned models bucket, expiring the training parts only puts delete markers over them: their data
  # (noncurrent versions) is deleted 1 day later, and with it the delete markers. Only under the expiring
  # prefixes: the models themselves keep every version.
  expire_prefixes_noncurrent_days = 1

  tags = var.tags
}

module "history_table" {
  source = "../dynamodb-table"

  name      = "${var.name_prefix}-history"
  hash_key  = "series"
  range_key = "bucket"

  point_in_time_recovery_enabled = var.point_in_time_recovery
  deletion_protection_enabled    = var.table_deletion_protection

  tags = var.tags
}

################################################################################
# Dead-letter queue: asynchronous invocations that failed every attempt
################################################################################

resource "aws_sqs_queue" "dlq" {
  name = "${var.name_prefix}-dlq"

  message_retention_seconds = 1209600 # 14 days, the maximum
  sqs_managed_sse_enabled   = true

  tags = var.tags
}

# Anything in the queue is an upload that failed every attempt: someone must look, then replay it
# (`grocery-forecast replay`).
resource "aws_cloudwatch_metric_alarm" "dlq_depth" {
  count = var.create_alarms ? 1 : 0

  alarm_name        = "${var.name_prefix}-dlq-not-empty"
  alarm_description = "Events failed every attempt and wait in ${aws_sqs_queue.dlq.name}: read the run manifests (grocery-forecast status), fix the cause, then grocery-forecast replay."

  namespace   = "AWS/SQS"
  metric_name = "ApproximateNumberOfMessagesVisible"
  dimensions  = { QueueName = aws_sqs_queue.dlq.name }
  statistic   = "Maximum"
  period      = 300

  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"

  alarm_actions = var.alarm_actions
  ok_actions    = var.alarm_actions

  tags = var.tags
}

################################################################################
# Log encryption: a customer managed key for the functions' log groups
################################################################################

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition

  # The log groups the key may encrypt (the functions', the sharded-forecast, sharded-ingest and retraining workflows'), as CloudWatch Logs names them in the encryption context.
  # Built from the names (not read from the log groups, which need the key first).
  log_group_arns = concat(
    [
      for name in [local.etl_function_name, local.predict_function_name, local.monitor_function_name, local.train_function_name] :
      "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${name}"
    ],
    # Each workflow module names its own log group's ARN (before the group exists: no cycle).
    [module.forecast_workflow.log_group_arn, module.ingest_workflow.log_group_arn, module.training_workflow.log_group_arn],
    [for runner in [var.training_runner] : "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/batch/${local.train_function_name}" if runner == "batch"],
  )

  cloudwatch_logs_kms_key_arn = var.create_cloudwatch_logs_kms_key ? one(aws_kms_key.logs[*].arn) : var.cloudwatch_logs_kms_key_arn
}

resource "aws_kms_key" "logs" {
  count = var.create_cloudwatch_logs_kms_key ? 1 : 0

  description             = "Encrypts the log groups of the ${var.name_prefix} forecasting functions."
  enable_key_rotation     = true
  deletion_window_in_days = 30

  # Written with jsonencode (like the function policies) so `terraform test` can decode and check it.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # The default key policy statement: the account's IAM policies decide who administers and
        # uses the key. Without it nobody could ever change or delete the key again. In a key policy
        # Resource "*" means this key only.
        Sid       = "EnableIamPolicies"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        # CloudWatch Logs itself, and only for the log groups of this stack.
        Sid       = "AllowCloudWatchLogsForTheStackLogGroups"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action = [
          "kms:Decrypt",
          "kms:DescribeKey",
          "kms:Encrypt",
          "kms:GenerateDataKey",
          "kms:GenerateDataKeyPair",
          "kms:GenerateDataKeyPairWithoutPlaintext",
          "kms:GenerateDataKeyWithoutPlaintext",
          "kms:ReEncryptFrom",
          "kms:ReEncryptTo",
        ]
        Resource  = "*"
        Condition = { ArnEquals = { "kms:EncryptionContext:aws:logs:arn" = local.log_group_arns } }
      },
    ]
  })

  tags = var.tags
}

resource "aws_kms_alias" "logs" {
  count = var.create_cloudwatch_logs_kms_key ? 1 : 0

  name          = "alias/${var.name_prefix}-logs"
  target_key_id = aws_kms_key.logs[0].key_id
}
