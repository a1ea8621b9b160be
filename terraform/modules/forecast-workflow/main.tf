data "aws_partition" "current" {}

locals {
  # The Distributed Maps read their item lists through the S3 integration, in the stack's own partition
  # (aws, aws-cn, aws-us-gov, ...) as every other ARN of the stack.
  s3_get_object = "arn:${data.aws_partition.current.partition}:states:::s3:getObject"

  # A Distributed Map over the shard list <shard_key_prefix><run>/shards.json, one function task per shard;
  # RetryCount tells the function which attempt it is, so each shard's status can count them.
  shard_map = {
    for task in ["shard_stats", "shard_forecast"] : task => {
      Type = "Map"
      ItemReader = {
        Resource     = local.s3_get_object
        ReaderConfig = { InputType = "JSON" }
        Parameters   = { "Bucket.$" = "$.bucket", "Key.$" = "$.shard_list_key" }
      }
      ItemSelector = {
        "run_id.$" = "$.run_id"
        "bucket.$" = "$.bucket"
        "index.$"  = "$$.Map.Item.Value.index"
      }
      ItemProcessor = {
        ProcessorConfig = { Mode = "DISTRIBUTED", ExecutionType = "STANDARD" }
        StartAt         = "Shard"
        States = {
          Shard = {
            Type = "Task"
            Parameters = {
              FunctionName = var.function_arn
              Payload = {
                task        = task
                "run_id.$"  = "$.run_id"
                "bucket.$"  = "$.bucket"
                "index.$"   = "$.index"
                "attempt.$" = "$$.State.RetryCount"
              }
            }
            ResultSelector = { "index.$" = "$.Payload.index" }
            End            = true
          }
        }
      }
      # The shards report to S3 (status/*.json); the map's own output would only grow with them.
      ResultPath = null
    }
  }

  run_task = {
    for task in ["pool", "combine"] : task => {
      Type = "Task"
      Parameters = {
        FunctionName = var.function_arn
        Payload      = { task = task, "run_id.$" = "$.run_id", "bucket.$" = "$.bucket" }
      }
      ResultPath = null
    }
  }
}

# Lambda tasks, retries, the catch into RecordFailure, the role and the log group: ../lambda-workflow.
module "workflow" {
  source = "../lambda-workflow"

  name          = var.name
  function_arns = [var.function_arn]
  item_reader   = { bucket_arn = var.shard_bucket_arn, key_prefix = var.shard_key_prefix }

  comment       = "Sharded forecast: per-shard history and item/store sums, their total, per-shard forecasts, one CSV in the upload's row order."
  start_at      = "ShardStats"
  failure_state = "RecordFailure"
  states = {
    ShardStats     = merge(local.shard_map["shard_stats"], { Next = "PoolStats" })
    PoolStats      = merge(local.run_task["pool"], { Next = "ForecastShards" })
    ForecastShards = merge(local.shard_map["shard_forecast"], { Next = "Combine" })
    Combine        = merge(local.run_task["combine"], { End = true })
    RecordFailure = {
      Type = "Task"
      Parameters = {
        FunctionName = var.function_arn
        Payload      = { task = "fail", "run_id.$" = "$.run_id", "bucket.$" = "$.bucket", "error.$" = "$.error" }
      }
      ResultPath = null
      Next       = "Failed"
    }
    Failed = {
      Type  = "Fail"
      Error = "ShardedForecastFailed"
      Cause = "A shard or the combine step failed after its retries; the run manifest lists each shard's errors."
    }
  }

  max_concurrency        = var.max_concurrency
  task_retries           = var.shard_retries
  retry_interval_seconds = var.retry_interval_seconds

  # Execution data is logged: task inputs and outputs are run ids, buckets and shard indices, no data.
  log_level                   = var.log_level
  log_retention_days          = var.log_retention_days
  cloudwatch_logs_kms_key_arn = var.cloudwatch_logs_kms_key_arn

  tags = var.tags
}
