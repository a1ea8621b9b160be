data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

locals {
  # Every bucket of the stack, by role. Only raw is versioned: it holds the uploads, the one input that
  # cannot be rebuilt from anything else.
  buckets = {
    raw       = { versioning_enabled = true }
    processed = { versioning_enabled = false }
    output    = { versioning_enabled = false }
    models    = { versioning_enabled = false }
    artifacts = { versioning_enabled = false }
  }

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
