data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name
  account   = data.aws_caller_identity.current.account_id

  state_machine_arn = "arn:${local.partition}:states:${local.region}:${local.account}:stateMachine:${var.name}"
  # The Distributed Maps run each task as a child execution of this state machine.
  child_execution_arns = "arn:${local.partition}:states:${local.region}:${local.account}:execution:${var.name}/*"
  # Its own (top-level) executions: the function that starts one may look it up again.
  execution_arns = "arn:${local.partition}:states:${local.region}:${local.account}:execution:${var.name}:*"

  # Throttles and Lambda service faults: always worth retrying, with backoff.
  lambda_service_errors = [
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
  ]

  service_retry = {
    ErrorEquals     = local.lambda_service_errors
    IntervalSeconds = 2
    MaxAttempts     = 6
    BackoffRate     = 2
    JitterStrategy  = "FULL"
  }

  # Anything else the function raises (or a timeout, or an out-of-memory kill): task_retries times.
  task_retry = [for r in [{
    ErrorEquals     = ["States.ALL"]
    IntervalSeconds = var.retry_interval_seconds
    MaxAttempts     = var.task_retries
    BackoffRate     = 2
  }] : r if var.task_retries > 0]

  # One task of the workflow: the function with a payload naming the task; RetryCount tells the
  # function which attempt it is, so each shard's status can count them.
  invoke = {
    Type     = "Task"
    Resource = "arn:${local.partition}:states:::lambda:invoke"
  }

  failure_catch = [{
    ErrorEquals = ["States.ALL"]
    ResultPath  = "$.error"
    Next        = "RecordFailure"
  }]

  # A Distributed Map over a list in S3 (<prefix><run>/<stamp>/shards.json or partitions.json), one
  # function task per item.
  maps = {
    ValidateShards  = { task = "validate_shard", list = "$.shard_list_key", field = "index" }
    CheckPartitions = { task = "check_partition", list = "$.partition_list_key", field = "partition" }
    MergePartitions = { task = "merge_partition", list = "$.partition_list_key", field = "partition" }
  }

  map_states = {
    for name, m in local.maps : name => {
      Type = "Map"
      ItemReader = {
        Resource     = "arn:aws:states:::s3:getObject"
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
          Task = merge(local.invoke, {
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
            Retry          = concat([local.service_retry], local.task_retry)
            End            = true
          })
        }
      }
      MaxConcurrency = var.max_concurrency
      # The tasks report to S3 (status/*.json); the map's own output would only grow with them.
      ResultPath = null
      Catch      = local.failure_catch
    }
  }

  # The tasks that write the run's outcome name their execution: the function lets only the run's
  # current execution write it (a re-upload of the same bytes starts a newer one on the same run).
  outcome_payload = {
    "run_id.$"    = "$.run_id"
    "bucket.$"    = "$.bucket"
    "base.$"      = "$.base"
    "execution.$" = "$$.Execution.Id"
  }

  run_task = {
    for task in ["verdict", "finish"] : task => merge(local.invoke, {
      Parameters = {
        FunctionName = var.function_arn
        Payload      = merge(local.outcome_payload, { task = task })
      }
      Retry = concat([local.service_retry], local.task_retry)
      Catch = local.failure_catch
    })
  }

  definition = {
    Comment = "Sharded ingest: validate byte-range shards, gather and check series partitions, reject the whole file or merge each partition under its own writer lease, hand the series to the forecast."
    StartAt = "ValidateShards"
    States = {
      ValidateShards  = merge(local.map_states["ValidateShards"], { Next = "CheckPartitions" })
      CheckPartitions = merge(local.map_states["CheckPartitions"], { Next = "Verdict" })
      Verdict = merge(local.run_task["verdict"], {
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
      Finish          = merge(local.run_task["finish"], { ResultPath = null, End = true })
      RecordFailure = merge(local.invoke, {
        Parameters = {
          FunctionName = var.function_arn
          Payload      = merge(local.outcome_payload, { task = "fail", "error.$" = "$.error" })
        }
        ResultPath = null
        Retry      = [local.service_retry]
        Next       = "Failed"
      })
      Failed = {
        Type  = "Fail"
        Error = "ShardedIngestFailed"
        Cause = "A shard or partition task failed after its retries; the run manifest lists each one's errors."
      }
    }
  }
}

################################################################################
# Logging
################################################################################

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/vendedlogs/states/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.cloudwatch_logs_kms_key_arn

  tags = var.tags
}

################################################################################
# State machine
################################################################################

resource "aws_sfn_state_machine" "this" {
  #checkov:skip=CKV_AWS_284:X-Ray tracing needs xray:PutTraceSegments on Resource "*" (no resource-level permissions); execution history and the log group cover what a run did
  name     = var.name
  role_arn = aws_iam_role.this.arn
  type     = "STANDARD"

  definition = jsonencode(local.definition)

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.this.arn}:*"
    include_execution_data = true # task inputs and outputs are run ids, buckets, key prefixes and indices: no data
    level                  = var.log_level
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.this]
}
