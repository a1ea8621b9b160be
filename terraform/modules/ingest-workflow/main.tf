data "aws_partition" "current" {}

locals {
  # The Distributed Maps read their item lists through the S3 integration, in the stack's own partition
  # (aws, aws-cn, aws-us-gov, ...) as every other ARN of the stack.
  s3_get_object = "arn:${data.aws_partition.current.partition}:states:::s3:getObject"

  # A Distributed Map over a list in S3 (<prefix><run>/<stamp>/shards.json or partitions.json), one
  # function task per item; RetryCount tells the function which attempt it is, so each status can count them.
  maps = {
    ValidateShards  = { task = "validate_shard", list = "$.shard_list_key", field = "index" }
    CheckPartitions = { task = "check_partition", list = "$.partition_list_key", field = "partition" }
    MergePartitions = { task = "merge_partition", list = "$.partition_list_key", field = "partition" }
  }

  map_states = {
    for name, m in local.maps : name => {
      Type = "Map"
      ItemReader = {
        Resource     = local.s3_get_object
        ReaderConfig = { InputType = "JSON" }
        Parameters   = { "Bucket.$" = "$.bucket", "Key.$" = m.list }
      }
      ItemSelector = {
        "run_id.$"     = "$.run_id"
        "bucket.$"     = "$.bucket"
        "base.$"       = "$.base"
        "${m.field}.$" = "$$.Map.Item.Value.${m.field}"
      }
      ItemProcessor = {
        ProcessorConfig = { Mode = "DISTRIBUTED", ExecutionType = "STANDARD" }
        StartAt         = "Task"
        States = {
          Task = {
            Type = "Task"
            Parameters = {
              FunctionName = var.function_arn
              Payload = {
                task           = m.task
                "run_id.$"     = "$.run_id"
                "bucket.$"     = "$.bucket"
                "base.$"       = "$.base"
                "${m.field}.$" = "$.${m.field}"
                "attempt.$"    = "$$.State.RetryCount"
              }
            }
            ResultSelector = { "n.$" = "$.Payload.n" }
            End            = true
          }
        }
      }
      # The tasks report to S3 (status/*.json); the map's own output would only grow with them.
      ResultPath = null
    }
  }

  # The tasks that write the run's outcome name their execution: the function lets only the run's
  # current execution write it (a re-upload of the same bytes starts a newer one on the same run).
  outcome_task = {
    for task in ["verdict", "finish", "fail"] : task => {
      Type = "Task"
      Parameters = {
        FunctionName = var.function_arn
        Payload = merge(
          { task = task, "run_id.$" = "$.run_id", "bucket.$" = "$.bucket", "base.$" = "$.base", "execution.$" = "$$.Execution.Id" },
          { for k, v in { "error.$" = "$.error" } : k => v if task == "fail" },
        )
      }
    }
  }
}

# Lambda tasks, retries, the catch into RecordFailure, the role and the log group: ../lambda-workflow.
module "workflow" {
  source = "../lambda-workflow"

  name          = var.name
  function_arns = [var.function_arn]
  item_reader   = { bucket_arn = var.list_bucket_arn, key_prefix = var.list_key_prefix }

  comment       = "Sharded ingest: validate byte-range shards, gather and check series partitions, reject the whole file or merge each partition under its own writer lease, hand the series to the forecast."
  start_at      = "ValidateShards"
  failure_state = "RecordFailure"
  states = {
    ValidateShards  = merge(local.map_states["ValidateShards"], { Next = "CheckPartitions" })
    CheckPartitions = merge(local.map_states["CheckPartitions"], { Next = "Verdict" })
    Verdict = merge(local.outcome_task["verdict"], {
      ResultSelector = { "accepted.$" = "$.Payload.accepted" }
      ResultPath     = "$.verdict"
      Next           = "Accepted"
    })
    Accepted = {
      Type    = "Choice"
      Choices = [{ Variable = "$.verdict.accepted", BooleanEquals = true, Next = "MergePartitions" }]
      Default = "Rejected"
    }
    # A file breaking the contract: the verdict wrote its report and manifest; history is untouched.
    Rejected        = { Type = "Succeed" }
    MergePartitions = merge(local.map_states["MergePartitions"], { Next = "Finish" })
    Finish          = merge(local.outcome_task["finish"], { ResultPath = null, End = true })
    RecordFailure   = merge(local.outcome_task["fail"], { ResultPath = null, Next = "Failed" })
    Failed = {
      Type  = "Fail"
      Error = "ShardedIngestFailed"
      Cause = "A shard or partition task failed after its retries; the run manifest lists each one's errors."
    }
  }

  max_concurrency        = var.max_concurrency
  task_retries           = var.task_retries
  retry_interval_seconds = var.retry_interval_seconds

  # Execution data is logged: task inputs and outputs are run ids, buckets, key prefixes and indices, no data.
  log_level                   = var.log_level
  log_retention_days          = var.log_retention_days
  cloudwatch_logs_kms_key_arn = var.cloudwatch_logs_kms_key_arn

  tags = var.tags
}
