data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name
  account   = data.aws_caller_identity.current.account_id

  state_machine_arn = "arn:${local.partition}:states:${local.region}:${local.account}:stateMachine:${var.name}"
  execution_arns    = "arn:${local.partition}:states:${local.region}:${local.account}:execution:${var.name}:*"

  # What the schedule sends, and what `grocery-forecast train --remote` sends with its own trigger.
  schedule_input = jsonencode({ trigger = "schedule" })

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

  # Anything else a task raises (or a timeout): task_retries times, then the run fails and says why.
  task_retry = [for r in [{
    ErrorEquals     = ["States.ALL"]
    IntervalSeconds = var.retry_interval_seconds
    MaxAttempts     = var.task_retries
    BackoffRate     = 2
  }] : r if var.task_retries > 0]

  invoke = {
    Type     = "Task"
    Resource = "arn:${local.partition}:states:::lambda:invoke"
  }

  failure_catch = [{
    ErrorEquals = ["States.ALL"]
    ResultPath  = "$.error"
    Next        = "RecordFailure"
  }]

  train_on_lambda = merge(local.invoke, {
    Parameters = {
      FunctionName = var.function_arn
      Payload = {
        task               = "train"
        "run_id.$"         = "$.run_id"
        "total_segments.$" = "$.total_segments"
        "trigger.$"        = "$.trigger"
      }
    }
    ResultSelector = {
      "version.$" = "$.Payload.version"
      "promote.$" = "$.Payload.promote"
      "reason.$"  = "$.Payload.reason"
    }
    ResultPath = "$.challenger"
    Retry      = concat([local.service_retry], local.task_retry)
    Catch      = local.failure_catch
    Next       = "Gate"
  })

  # The same step as an AWS Batch job (Favorita-size history: see the README, "Retraining"): the
  # job writes the manifest, then ReadDecision hands its outcome to the Gate.
  train_on_batch = {
    Type     = "Task"
    Resource = "arn:${local.partition}:states:::batch:submitJob.sync"
    Parameters = {
      "JobName.$"   = "States.Format('retrain-{}', $.run_id)"
      JobQueue      = var.batch_job_queue_arn
      JobDefinition = var.batch_job_definition_arn
      ContainerOverrides = {
        Environment = [
          { Name = "RUN_ID", "Value.$" = "$.run_id" },
          { Name = "TOTAL_SEGMENTS", "Value.$" = "States.Format('{}', $.total_segments)" },
          { Name = "TRIGGER", "Value.$" = "$.trigger" },
        ]
      }
    }
    ResultPath = null
    Retry      = local.task_retry
    Catch      = local.failure_catch
    Next       = "ReadDecision"
  }

  read_decision = merge(local.invoke, {
    Parameters = {
      FunctionName = var.function_arn
      Payload      = { task = "decision", "run_id.$" = "$.run_id" }
    }
    ResultSelector = {
      "version.$" = "$.Payload.version"
      "promote.$" = "$.Payload.promote"
      "reason.$"  = "$.Payload.reason"
    }
    ResultPath = "$.challenger"
    Retry      = concat([local.service_retry], local.task_retry)
    Catch      = local.failure_catch
    Next       = "Gate"
  })

  # The two shapes differ, so the choice goes through JSON (a conditional needs one type).
  train_state = jsondecode(var.train_runner == "batch" ? jsonencode(local.train_on_batch) : jsonencode(local.train_on_lambda))

  definition = {
    Comment = "Retraining: parallel Scan of the history -> train the challenger -> backtest it against the model in service -> promote or reject -> record."
    StartAt = "Plan"
    States = merge({ for name, state in { ReadDecision = local.read_decision } : name => state if var.train_runner == "batch" }, {
      # The run id is the execution's name, so the manifest of an execution is found from either.
      Plan = {
        Type = "Pass"
        Parameters = {
          "run_id.$"     = "$$.Execution.Name"
          "trigger.$"    = "$.trigger"
          total_segments = var.scan_segments
          segments       = range(var.scan_segments)
        }
        Next = "ScanHistory"
      }
      ScanHistory = {
        Type      = "Map"
        ItemsPath = "$.segments"
        ItemSelector = {
          "segment.$"        = "$$.Map.Item.Value"
          "run_id.$"         = "$.run_id"
          "total_segments.$" = "$.total_segments"
        }
        ItemProcessor = {
          ProcessorConfig = { Mode = "INLINE" }
          StartAt         = "Scan"
          States = {
            Scan = merge(local.invoke, {
              Parameters = {
                FunctionName = var.function_arn
                Payload = {
                  task               = "scan"
                  "run_id.$"         = "$.run_id"
                  "segment.$"        = "$.segment"
                  "total_segments.$" = "$.total_segments"
                }
              }
              ResultSelector = { "segment.$" = "$.Payload.segment", "buckets.$" = "$.Payload.buckets" }
              Retry          = concat([local.service_retry], local.task_retry)
              End            = true
            })
          }
        }
        MaxConcurrency = var.scan_max_concurrency
        ResultPath     = null
        Catch          = local.failure_catch
        Next           = "Train"
      }
      Train = local.train_state
      Gate = {
        Type    = "Choice"
        Choices = [{ Variable = "$.challenger.promote", BooleanEquals = true, Next = "Promote" }]
        Default = "Reject"
      }
      Promote = merge(local.invoke, {
        Parameters = {
          FunctionName = var.function_arn
          Payload      = { task = "promote", "run_id.$" = "$.run_id", "version.$" = "$.challenger.version" }
        }
        ResultSelector = { "status.$" = "$.Payload.status", "version.$" = "$.Payload.version" }
        ResultPath     = "$.outcome"
        Retry          = concat([local.service_retry], local.task_retry)
        Catch          = local.failure_catch
        End            = true
      })
      Reject = merge(local.invoke, {
        Parameters = {
          FunctionName = var.function_arn
          Payload      = { task = "reject", "run_id.$" = "$.run_id" }
        }
        ResultSelector = { "status.$" = "$.Payload.status", "version.$" = "$.Payload.version" }
        ResultPath     = "$.outcome"
        Retry          = concat([local.service_retry], local.task_retry)
        Catch          = local.failure_catch
        End            = true
      })
      RecordFailure = merge(local.invoke, {
        Parameters = {
          FunctionName = var.function_arn
          Payload      = { task = "fail", "run_id.$" = "$.run_id", "error.$" = "$.error" }
        }
        ResultPath = null
        Retry      = [local.service_retry]
        Next       = "Failed"
      })
      Failed = {
        Type  = "Fail"
        Error = "RetrainingFailed"
        Cause = "A step of the retraining failed after its retries; the training manifest (models/_training/runs/<run>.json) has the error. The model in service is unchanged."
      }
    })
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
    include_execution_data = true # task inputs and outputs are run ids, versions, scores and reasons: no data
    level                  = var.log_level
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.train_runner != "batch" || (var.batch_job_queue_arn != null && var.batch_job_definition_arn != null)
      error_message = "train_runner = \"batch\" needs batch_job_queue_arn and batch_job_definition_arn."
    }
  }

  depends_on = [aws_iam_role_policy.this]
}

################################################################################
# Schedule: EventBridge starts a run with {"trigger": "schedule"}
################################################################################

resource "aws_cloudwatch_event_rule" "schedule" {
  count = var.create_schedule ? 1 : 0

  name                = var.name
  description         = "Starts the ${var.name} retraining workflow on ${var.schedule_expression}."
  schedule_expression = var.schedule_expression
  state               = var.schedule_enabled ? "ENABLED" : "DISABLED"

  tags = var.tags
}

resource "aws_cloudwatch_event_target" "schedule" {
  count = var.create_schedule ? 1 : 0

  rule     = aws_cloudwatch_event_rule.schedule[0].name
  arn      = aws_sfn_state_machine.this.arn
  role_arn = aws_iam_role.schedule[0].arn
  input    = local.schedule_input
}

################################################################################
# Alarm: a retraining run that failed (the model in service stays, but goes stale)
################################################################################

resource "aws_cloudwatch_metric_alarm" "failed" {
  count = var.create_failed_alarm ? 1 : 0

  alarm_name        = "${var.name}-failed"
  alarm_description = "A retraining run of ${var.name} failed: the model in service is unchanged and ages. Read the training manifest (grocery-forecast models runs / models/_training/runs/<run>.json), fix the cause, then grocery-forecast train --remote."

  namespace   = "AWS/States"
  metric_name = "ExecutionsFailed"
  dimensions  = { StateMachineArn = aws_sfn_state_machine.this.arn }
  statistic   = "Sum"
  period      = var.failed_alarm_period_seconds

  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching" # no run in the period (most of a week) is not a failure

  alarm_actions = var.alarm_actions
  ok_actions    = var.alarm_actions

  tags = var.tags
}
