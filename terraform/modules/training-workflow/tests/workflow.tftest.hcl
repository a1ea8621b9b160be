# The retraining workflow, checked on a plan against a mocked AWS provider.
# Run from terraform/modules/training-workflow:  terraform init -backend=false && terraform test

mock_provider "aws" {
  override_during = plan
  source          = "../../tests/mocks" # terraform/tests/mocks: account, region and partition
}

override_resource {
  target          = module.workflow.aws_cloudwatch_log_group.this
  override_during = plan
  values          = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/vendedlogs/states/test-retraining" }
}

override_resource {
  target          = module.workflow.aws_sfn_state_machine.this
  override_during = plan
  values          = { arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:test-retraining", id = "arn:aws:states:eu-west-1:123456789012:stateMachine:test-retraining" }
}

variables {
  name          = "test-retraining"
  function_arn  = "arn:aws:lambda:eu-west-1:123456789012:function:test-train"
  scan_segments = 4
  task_retries  = 1
}

run "scan_train_gate_then_promote_or_reject" {
  command = plan

  assert {
    condition     = jsondecode(output.definition).StartAt == "Plan"
    error_message = "The workflow starts by naming the run and its Scan segments."
  }

  assert {
    condition = [
      for name in ["Plan", "ScanHistory", "Train", "Gate"] :
      lookup(jsondecode(output.definition).States[name], "Next", "CHOICE")
    ] == ["ScanHistory", "Train", "Gate", "CHOICE"]
    error_message = "Plan -> ScanHistory -> Train -> Gate."
  }

  assert {
    condition = (
      jsondecode(output.definition).States.Plan.Parameters.segments == [0, 1, 2, 3] &&
      jsondecode(output.definition).States.Plan.Parameters.total_segments == 4 &&
      jsondecode(output.definition).States.Plan.Parameters["run_id.$"] == "$$.Execution.Name"
    )
    error_message = "One Scan segment per index 0..scan_segments-1; the run id is the execution's name."
  }

  assert {
    condition = (
      jsondecode(output.definition).States.ScanHistory.Type == "Map" &&
      jsondecode(output.definition).States.ScanHistory.ItemsPath == "$.segments" &&
      jsondecode(output.definition).States.ScanHistory.ItemProcessor.States.Scan.Parameters.Payload.task == "scan" &&
      jsondecode(output.definition).States.ScanHistory.ItemProcessor.States.Scan.Parameters.FunctionName == var.function_arn &&
      jsondecode(output.definition).States.ScanHistory.ResultPath == null
    )
    error_message = "ScanHistory maps the scan task of the training function over the segments."
  }

  assert {
    condition = (
      jsondecode(output.definition).States.Gate.Type == "Choice" &&
      jsondecode(output.definition).States.Gate.Choices[0].Variable == "$.challenger.promote" &&
      jsondecode(output.definition).States.Gate.Choices[0].BooleanEquals == true &&
      jsondecode(output.definition).States.Gate.Choices[0].Next == "Promote" &&
      jsondecode(output.definition).States.Gate.Default == "Reject"
    )
    error_message = "The gate promotes only on the train step's decision; anything else is a rejection."
  }

  assert {
    condition = [
      for name in ["Train", "Promote", "Reject"] :
      jsondecode(output.definition).States[name].Parameters.Payload.task
    ] == ["train", "promote", "reject"]
    error_message = "Each step runs its own task of the training function."
  }

  assert {
    condition = alltrue([
      for name in ["ScanHistory", "Train", "Promote", "Reject"] :
      jsondecode(output.definition).States[name].Catch[0].Next == "RecordFailure"
    ]) && jsondecode(output.definition).States.RecordFailure.Next == "Failed" && jsondecode(output.definition).States.Failed.Type == "Fail"
    error_message = "Every step's failure is recorded, then the execution fails (ExecutionsFailed, the alarm's metric)."
  }

  assert {
    condition = jsondecode(output.definition).States.Train.Retry[1] == {
      ErrorEquals = ["States.ALL"], IntervalSeconds = 10, MaxAttempts = 1, BackoffRate = 2
    }
    error_message = "A failed task is retried task_retries times."
  }
}

run "schedule_starts_the_workflow_weekly_with_its_own_role" {
  command = plan

  assert {
    condition     = aws_cloudwatch_event_rule.schedule[0].schedule_expression == "rate(7 days)" && aws_cloudwatch_event_rule.schedule[0].state == "ENABLED"
    error_message = "Weekly by default, enabled."
  }

  assert {
    condition     = jsondecode(aws_cloudwatch_event_target.schedule[0].input) == { trigger = "schedule" } && output.schedule_input == aws_cloudwatch_event_target.schedule[0].input
    error_message = "The target sends {\"trigger\": \"schedule\"}, and the module says so (the CLI and the e2e test send the same)."
  }

  assert {
    condition = jsondecode(aws_iam_role_policy.schedule[0].policy).Statement == [{
      Sid      = "StartRetraining"
      Effect   = "Allow"
      Action   = ["states:StartExecution"]
      Resource = ["arn:aws:states:eu-west-1:123456789012:stateMachine:test-retraining"]
    }]
    error_message = "EventBridge may start this state machine and nothing else."
  }

  assert {
    condition     = jsondecode(aws_iam_role.schedule[0].assume_role_policy).Statement[0].Principal.Service == "events.amazonaws.com"
    error_message = "Only EventBridge assumes the schedule role."
  }
}

run "execution_role_only_invokes_the_training_function" {
  command = plan

  assert {
    condition = [
      for s in jsondecode(output.state_machine_role_policy).Statement : s.Resource if s.Sid != "DeliverExecutionLogs"
    ] == [[var.function_arn]]
    error_message = "Apart from log delivery (no resource-level permissions), the state machine may only invoke the training function."
  }
}

run "failed_retraining_alarm" {
  command = plan

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.failed[0].namespace == "AWS/States" &&
      aws_cloudwatch_metric_alarm.failed[0].metric_name == "ExecutionsFailed" &&
      aws_cloudwatch_metric_alarm.failed[0].dimensions.StateMachineArn == "arn:aws:states:eu-west-1:123456789012:stateMachine:test-retraining" &&
      aws_cloudwatch_metric_alarm.failed[0].threshold == 1 &&
      aws_cloudwatch_metric_alarm.failed[0].comparison_operator == "GreaterThanOrEqualToThreshold" &&
      aws_cloudwatch_metric_alarm.failed[0].treat_missing_data == "notBreaching"
    )
    error_message = "One failed execution of this state machine sets the alarm off; no run in a period is not a failure."
  }
}

run "alarm_and_schedule_can_be_left_out" {
  command = plan

  variables {
    create_failed_alarm = false
    create_schedule     = false
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.failed) == 0 && length(aws_cloudwatch_event_rule.schedule) == 0 && length(aws_iam_role.schedule) == 0
    error_message = "create_failed_alarm = false and create_schedule = false create neither."
  }
}

run "schedule_expression_is_validated" {
  command = plan

  variables {
    schedule_expression = "every monday"
  }

  expect_failures = [var.schedule_expression]
}

run "scan_segments_is_validated" {
  command = plan

  variables {
    scan_segments = 0
  }

  expect_failures = [var.scan_segments]
}

run "train_step_on_aws_batch_then_read_the_decision" {
  command = plan

  variables {
    train_runner             = "batch"
    batch_job_queue_arn      = "arn:aws:batch:eu-west-1:123456789012:job-queue/test-train"
    batch_job_definition_arn = "arn:aws:batch:eu-west-1:123456789012:job-definition/test-train"
  }

  assert {
    condition = (
      jsondecode(output.definition).States.Train.Resource == "arn:aws:states:::batch:submitJob.sync" &&
      jsondecode(output.definition).States.Train.Parameters.JobQueue == var.batch_job_queue_arn &&
      jsondecode(output.definition).States.Train.Next == "ReadDecision" &&
      jsondecode(output.definition).States.ReadDecision.Parameters.Payload.task == "decision" &&
      jsondecode(output.definition).States.ReadDecision.Next == "Gate"
    )
    error_message = "On Batch the train step is a .sync job; the training function then reads its decision for the Gate."
  }

  assert {
    condition     = jsondecode(output.definition).States.Train.TimeoutSeconds == 10800
    error_message = "The Batch step must time out (Batch's own timeout does not count a job stuck RUNNABLE)."
  }

  assert {
    condition = [
      for e in jsondecode(output.definition).States.Train.Parameters.ContainerOverrides.Environment : e.Name
    ] == ["RUN_ID", "TOTAL_SEGMENTS", "TRIGGER"]
    error_message = "The job gets the run through its environment."
  }

  assert {
    condition = contains(
      [for s in jsondecode(output.state_machine_role_policy).Statement : s.Sid], "SubmitTheTrainJob"
    )
    error_message = "The execution role may submit the train job."
  }
}

run "lambda_runner_has_no_batch_state_or_permission" {
  command = plan

  assert {
    condition = (
      !contains(keys(jsondecode(output.definition).States), "ReadDecision") &&
      length([for s in jsondecode(output.state_machine_role_policy).Statement : s if startswith(s.Sid, "SubmitTheTrainJob")]) == 0
    )
    error_message = "The Lambda path has no unreachable ReadDecision state and no Batch permissions."
  }
}

run "batch_runner_needs_its_queue_and_definition" {
  command = plan

  variables {
    train_runner = "batch"
  }

  expect_failures = [output.state_machine_arn]
}
