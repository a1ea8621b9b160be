data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name
  account   = data.aws_caller_identity.current.account_id

  state_machine_arn = "arn:${local.partition}:states:${local.region}:${local.account}:stateMachine:${var.name}"
  # The Distributed Map runs each shard as a child execution of this state machine.
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

  # Anything else the function raises (or a timeout, or an out-of-memory kill): shard_retries times.
  task_retry = [for r in [{
    ErrorEquals     = ["States.ALL"]
    IntervalSeconds = var.retry_interval_seconds
    MaxAttempts     = var.shard_retries
    BackoffRate     = 2
  }] : r if var.shard_retries > 0]

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

  # A Distributed Map over the shard list shards/<run>/shards.json, one function task per shard.
  shard_map = {
    for task in ["shard_stats", "shard_forecast"] : task => {
      Type = "Map"
      ItemReader = {
        Resource     = "arn:aws:states:::s3:getObject"
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
          Shard = merge(local.invoke, {
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
            Retry          = concat([local.service_retry], local.task_retry)
            End            = true
          })
        }
      }
      MaxConcurrency = var.max_concurrency
      # The shards report to S3 (status/*.json); the map's own output would only grow with them.
      ResultPath = null
      Catch      = local.failure_catch
    }
  }

  run_task = {
    for task in ["pool", "combine"] : task => merge(local.invoke, {
      Parameters = {
        FunctionName = var.function_arn
        Payload      = { task = task, "run_id.$" = "$.run_id", "bucket.$" = "$.bucket" }
      }
      ResultPath = null
      Retry      = concat([local.service_retry], local.task_retry)
      Catch      = local.failure_catch
    })
  }

  definition = {
    Comment = "Sharded forecast: per-shard history and item/store sums, their total, per-shard forecasts, one CSV in the upload's row order."
    StartAt = "ShardStats"
    States = {
      ShardStats     = merge(local.shard_map["shard_stats"], { Next = "PoolStats" })
      PoolStats      = merge(local.run_task["pool"], { Next = "ForecastShards" })
      ForecastShards = merge(local.shard_map["shard_forecast"], { Next = "Combine" })
      Combine        = merge(local.run_task["combine"], { End = true })
      RecordFailure = merge(local.invoke, {
        Parameters = {
          FunctionName = var.function_arn
          Payload      = { task = "fail", "run_id.$" = "$.run_id", "bucket.$" = "$.bucket", "error.$" = "$.error" }
        }
        ResultPath = null
        Retry      = [local.service_retry]
        Next       = "Failed"
      })
      Failed = {
        Type  = "Fail"
        Error = "ShardedForecastFailed"
        Cause = "A shard or the combine step failed after its retries; the run manifest lists each shard's errors."
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
    include_execution_data = true # task inputs and outputs are run ids, buckets and shard indices: no data
    level                  = var.log_level
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.this]
}
