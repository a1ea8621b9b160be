# The sharded-ingest workflow, checked on a plan against a mocked AWS provider.
# Run from terraform/modules/ingest-workflow:  terraform init -backend=false && terraform test

mock_provider "aws" {
  override_during = plan

  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }

  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }

  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
}

override_resource {
  target          = aws_cloudwatch_log_group.this
  override_during = plan
  values          = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/vendedlogs/states/test-ingest" }
}

variables {
  name            = "test-ingest"
  function_arn    = "arn:aws:lambda:eu-west-1:123456789012:function:test-etl"
  list_bucket_arn = "arn:aws:s3:::test-processed"
  max_concurrency = 4
  task_retries    = 2
}

run "validate_check_verdict_then_merge_or_reject" {
  command = plan

  assert {
    condition     = jsondecode(aws_sfn_state_machine.this.definition).StartAt == "ValidateShards"
    error_message = "The workflow starts by validating the shards."
  }

  assert {
    condition = [
      for name in ["ValidateShards", "CheckPartitions", "Verdict", "MergePartitions"] :
      jsondecode(aws_sfn_state_machine.this.definition).States[name].Next
      ] == ["CheckPartitions", "Verdict", "Accepted", "Finish"] && (
      jsondecode(aws_sfn_state_machine.this.definition).States.Finish.End
    )
    error_message = "ValidateShards -> CheckPartitions -> Verdict -> Accepted? -> MergePartitions -> Finish (end)."
  }

  assert {
    condition = (
      jsondecode(aws_sfn_state_machine.this.definition).States.Accepted.Choices[0] == {
        Variable = "$.verdict.accepted", BooleanEquals = true, Next = "MergePartitions"
      } &&
      jsondecode(aws_sfn_state_machine.this.definition).States.Accepted.Default == "Rejected" &&
      jsondecode(aws_sfn_state_machine.this.definition).States.Rejected.Type == "Succeed"
    )
    error_message = "Only an accepted file reaches MergePartitions: a rejected one ends before any history write."
  }

  assert {
    condition = alltrue([
      for name, list in { ValidateShards = "$.shard_list_key", CheckPartitions = "$.partition_list_key", MergePartitions = "$.partition_list_key" } : (
        jsondecode(aws_sfn_state_machine.this.definition).States[name].Type == "Map" &&
        jsondecode(aws_sfn_state_machine.this.definition).States[name].ItemProcessor.ProcessorConfig.Mode == "DISTRIBUTED" &&
        jsondecode(aws_sfn_state_machine.this.definition).States[name].ItemReader.Resource == "arn:aws:states:::s3:getObject" &&
        jsondecode(aws_sfn_state_machine.this.definition).States[name].ItemReader.Parameters["Key.$"] == list &&
        jsondecode(aws_sfn_state_machine.this.definition).States[name].MaxConcurrency == 4 &&
        jsondecode(aws_sfn_state_machine.this.definition).States[name].ResultPath == null
      )
    ])
    error_message = "The three maps are Distributed Maps reading their list from S3, max_concurrency at a time, discarding their (S3-reported) results."
  }

  assert {
    condition = [
      for name in ["ValidateShards", "CheckPartitions", "MergePartitions"] :
      jsondecode(aws_sfn_state_machine.this.definition).States[name].ItemProcessor.States.Task.Parameters.Payload.task
    ] == ["validate_shard", "check_partition", "merge_partition"]
    error_message = "Each map runs its own task of the function."
  }

  assert {
    condition = alltrue([
      for name in ["ValidateShards", "CheckPartitions", "MergePartitions"] : (
        jsondecode(aws_sfn_state_machine.this.definition).States[name].ItemProcessor.States.Task.Parameters.FunctionName == var.function_arn &&
        jsondecode(aws_sfn_state_machine.this.definition).States[name].ItemProcessor.States.Task.Parameters.Payload["attempt.$"] == "$$.State.RetryCount" &&
        jsondecode(aws_sfn_state_machine.this.definition).States[name].ItemProcessor.States.Task.Retry[1] == {
          ErrorEquals = ["States.ALL"], IntervalSeconds = 5, MaxAttempts = 2, BackoffRate = 2
        }
      )
    ])
    error_message = "A task invokes the function, tells it its attempt, and is retried task_retries times on any error."
  }

  assert {
    condition = [
      for name in ["Verdict", "Finish", "RecordFailure"] : [
        jsondecode(aws_sfn_state_machine.this.definition).States[name].Parameters.Payload.task,
        jsondecode(aws_sfn_state_machine.this.definition).States[name].Parameters.Payload["execution.$"],
      ]
    ] == [["verdict", "$$.Execution.Id"], ["finish", "$$.Execution.Id"], ["fail", "$$.Execution.Id"]]
    error_message = "The tasks that write the run's outcome name their execution, so a stale one cannot overwrite it."
  }

  assert {
    condition = alltrue([
      for name in ["ValidateShards", "CheckPartitions", "Verdict", "MergePartitions", "Finish"] :
      jsondecode(aws_sfn_state_machine.this.definition).States[name].Catch[0].Next == "RecordFailure"
    ]) && jsondecode(aws_sfn_state_machine.this.definition).States.RecordFailure.Next == "Failed" && jsondecode(aws_sfn_state_machine.this.definition).States.Failed.Type == "Fail"
    error_message = "Any step failing after its retries records the failure in the manifest, then fails the execution."
  }

  assert {
    condition     = output.state_machine_arn == "arn:aws:states:eu-west-1:123456789012:stateMachine:test-ingest"
    error_message = "The ARN is built from the name."
  }
}

run "no_retries_means_no_task_retrier" {
  command = plan

  variables {
    task_retries = 0
  }

  assert {
    condition     = length(jsondecode(aws_sfn_state_machine.this.definition).States.ValidateShards.ItemProcessor.States.Task.Retry) == 1
    error_message = "task_retries = 0 keeps only the Lambda service-error retrier."
  }
}

run "the_role_may_do_exactly_what_the_workflow_needs" {
  command = plan

  assert {
    condition     = jsondecode(aws_iam_role.this.assume_role_policy).Statement[0].Principal.Service == "states.amazonaws.com"
    error_message = "Only Step Functions assumes the role."
  }

  assert {
    condition = toset(flatten([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement : [
        for a in flatten([s.Action]) : [for r in flatten([s.Resource]) : "${a} ${r}"]
      ] if s.Sid != "DeliverExecutionLogs"
      ])) == toset([
      "lambda:InvokeFunction arn:aws:lambda:eu-west-1:123456789012:function:test-etl",
      "s3:GetObject arn:aws:s3:::test-processed/ingest/*",
      "states:StartExecution arn:aws:states:eu-west-1:123456789012:stateMachine:test-ingest",
      "states:DescribeExecution arn:aws:states:eu-west-1:123456789012:execution:test-ingest/*",
      "states:StopExecution arn:aws:states:eu-west-1:123456789012:execution:test-ingest/*",
    ])
    error_message = "The role grants something other than invoking the one function, reading the ingest prefix and running its own child executions: ${aws_iam_role_policy.this.policy}"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement :
      alltrue([for a in s.Action : startswith(a, "logs:") && !strcontains(a, "*")]) if contains(s.Resource, "*")
    ])
    error_message = "Only the log-delivery actions (which have no resource-level permissions) may use Resource \"*\"."
  }

  assert {
    condition     = aws_sfn_state_machine.this.logging_configuration[0].level == "ERROR" && aws_cloudwatch_log_group.this.retention_in_days == 365
    error_message = "Errors are logged to a log group kept a year."
  }
}

run "concurrency_must_be_1_to_1000" {
  command = plan

  variables {
    max_concurrency = 0
  }

  expect_failures = [var.max_concurrency]
}

run "function_arn_must_be_unqualified" {
  command = plan

  variables {
    function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:test-etl:live"
  }

  expect_failures = [var.function_arn]
}

run "list_prefix_must_end_in_a_slash" {
  command = plan

  variables {
    list_key_prefix = "ingest*"
  }

  expect_failures = [var.list_key_prefix]
}

run "retries_must_be_0_to_5" {
  command = plan

  variables {
    task_retries = 6
  }

  expect_failures = [var.task_retries]
}

run "log_level_is_an_enum" {
  command = plan

  variables {
    log_level = "DEBUG"
  }

  expect_failures = [var.log_level]
}
