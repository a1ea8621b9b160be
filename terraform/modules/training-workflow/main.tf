data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name
  account   = data.aws_caller_identity.current.account_id

  # What the schedule sends, and what `grocery-forecast train --remote` sends with its own trigger.
  schedule_input = jsonencode({ trigger = "schedule" })

  decision = {
    "version.$" = "$.Payload.version"
    "promote.$" = "$.Payload.promote"
    "reason.$"  = "$.Payload.reason"
  }

  train_on_lambda = {
    Type = "Task"
    Parameters = {
      FunctionName = var.function_arn
      Payload = {
        task               = "train"
        "run_id.$"         = "$.run_id"
        "total_segments.$" = "$.total_segments"
        "trigger.$"        = "$.trigger"
      }
    }
    ResultSelector = local.decision
    ResultPath     = "$.challenger"
    Next           = "Gate"
  }

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
    # Batch's timeout counts only RUNNING time: this one bounds the wait for capacity too.
    TimeoutSeconds = var.batch_task_timeout_seconds
    ResultPath     = null
    Next           = "ReadDecision"
  }

  read_decision = {
    Type = "Task"
    Parameters = {
      FunctionName = var.function_arn
      Payload      = { task = "decision", "run_id.$" = "$.run_id" }
    }
    ResultSelector = local.decision
    ResultPath     = "$.challenger"
    Next           = "Gate"
  }

  # The two shapes differ, so the choice goes through JSON (a conditional needs one type).
  train_state = jsondecode(var.train_runner == "batch" ? jsonencode(local.train_on_batch) : jsonencode(local.train_on_lambda))

  # Promote or reject: the outcome the run records.
  outcome_task = {
    for task, payload in {
      promote = { "version.$" = "$.challenger.version" }
      reject  = {}
      } : task => {
      Type = "Task"
      Parameters = {
        FunctionName = var.function_arn
        Payload      = merge({ task = task, "run_id.$" = "$.run_id" }, payload)
      }
      ResultSelector = { "status.$" = "$.Payload.status", "version.$" = "$.Payload.version" }
      ResultPath     = "$.outcome"
      End            = true
    }
  }

  # With train_runner = "batch": submit the train job and follow it (.sync uses a managed EventBridge rule).
  batch_statements = var.train_runner != "batch" || var.batch_job_queue_arn == null || var.batch_job_definition_arn == null ? [] : [
    {
      Sid      = "SubmitTheTrainJob"
      Effect   = "Allow"
      Action   = ["batch:SubmitJob"]
      Resource = [var.batch_job_queue_arn, "${var.batch_job_definition_arn}*"]
    },
    {
      # DescribeJobs and TerminateJob have no resource-level permissions.
      Sid      = "FollowTheTrainJob"
      Effect   = "Allow"
      Action   = ["batch:DescribeJobs", "batch:TerminateJob"]
      Resource = ["*"]
    },
    {
      Sid      = "SyncRuleForBatchJobs"
      Effect   = "Allow"
      Action   = ["events:PutTargets", "events:PutRule", "events:DescribeRule"]
      Resource = ["arn:${local.partition}:events:${local.region}:${local.account}:rule/StepFunctionsGetEventsForBatchJobsRule"]
    },
  ]
}

# Lambda tasks, retries, the catch into RecordFailure, the role and the log group: ../lambda-workflow.
# The role invokes the training function only (the function does the reading and writing, under its own
# role), plus, on Batch, the train job.
module "workflow" {
  source = "../lambda-workflow"

  name              = var.name
  function_arns     = [var.function_arn]
  policy_statements = local.batch_statements

  comment       = "Retraining: parallel Scan of the history -> train the challenger -> backtest it against the model in service -> promote or reject -> record."
  start_at      = "Plan"
  failure_state = "RecordFailure"
  states = merge({ for name, state in { ReadDecision = local.read_decision } : name => state if var.train_runner == "batch" }, {
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
          Scan = {
            Type = "Task"
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
            End            = true
          }
        }
      }
      MaxConcurrency = var.scan_max_concurrency
      ResultPath     = null
      Next           = "Train"
    }
    Train = local.train_state
    Gate = {
      Type    = "Choice"
      Choices = [{ Variable = "$.challenger.promote", BooleanEquals = true, Next = "Promote" }]
      Default = "Reject"
    }
    Promote = local.outcome_task["promote"]
    Reject  = local.outcome_task["reject"]
    RecordFailure = {
      Type = "Task"
      Parameters = {
        FunctionName = var.function_arn
        Payload      = { task = "fail", "run_id.$" = "$.run_id", "error.$" = "$.error" }
      }
      ResultPath = null
      Next       = "Failed"
    }
    Failed = {
      Type  = "Fail"
      Error = "RetrainingFailed"
      Cause = "A step of the retraining failed after its retries; the training manifest (models/_training/runs/<run>.json) has the error. The model in service is unchanged."
    }
  })

  task_retries           = var.task_retries
  retry_interval_seconds = var.retry_interval_seconds

  # Execution data is logged: task inputs and outputs are run ids, versions, scores and reasons, no data.
  log_level                   = var.log_level
  log_retention_days          = var.log_retention_days
  cloudwatch_logs_kms_key_arn = var.cloudwatch_logs_kms_key_arn

  tags = var.tags
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
  arn      = module.workflow.state_machine_id
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
  dimensions  = { StateMachineArn = module.workflow.state_machine_id }
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
