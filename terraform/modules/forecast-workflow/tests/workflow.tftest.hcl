# The sharded-forecast workflow, checked on a plan against a mocked AWS provider.
# Run from terraform/modules/forecast-workflow:  terraform init -backend=false && terraform test

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
  values          = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/vendedlogs/states/test-shards" }
}

variables {
  name             = "test-shards"
  function_arn     = "arn:aws:lambda:eu-west-1:123456789012:function:test-predict"
  shard_bucket_arn = "arn:aws:s3:::test-processed"
  max_concurrency  = 4
  shard_retries    = 2
}

run "two_distributed_maps_over_the_shard_list_then_combine" {
  command = plan

  assert {
    condition     = jsondecode(aws_sfn_state_machine.this.definition).StartAt == "ShardStats"
    error_message = "The workflow starts with the per-shard statistics."
  }

  assert {
    condition = [
      for name in ["ShardStats", "PoolStats", "ForecastShards", "Combine"] :
      lookup(jsondecode(aws_sfn_state_machine.this.definition).States[name], "Next", "END")
      ] == ["PoolStats", "ForecastShards", "Combine", "END"] && (
      jsondecode(aws_sfn_state_machine.this.definition).States.Combine.End
    )
    error_message = "ShardStats -> PoolStats -> ForecastShards -> Combine (end)."
  }

  assert {
    condition = alltrue([
      for name in ["ShardStats", "ForecastShards"] : (
        jsondecode(aws_sfn_state_machine.this.definition).States[name].Type == "Map" &&
        jsondecode(aws_sfn_state_machine.this.definition).States[name].ItemProcessor.ProcessorConfig.Mode == "DISTRIBUTED" &&
        jsondecode(aws_sfn_state_machine.this.definition).States[name].ItemReader.Resource == "arn:aws:states:::s3:getObject" &&
        jsondecode(aws_sfn_state_machine.this.definition).States[name].ItemReader.Parameters["Key.$"] == "$.shard_list_key" &&
        jsondecode(aws_sfn_state_machine.this.definition).States[name].MaxConcurrency == 4 &&
        jsondecode(aws_sfn_state_machine.this.definition).States[name].ResultPath == null
      )
    ])
    error_message = "Both maps are Distributed Maps reading the shard list from S3, max_concurrency at a time, discarding their (S3-reported) results."
  }

  assert {
    condition = [
      for name in ["ShardStats", "ForecastShards"] :
      jsondecode(aws_sfn_state_machine.this.definition).States[name].ItemProcessor.States.Shard.Parameters.Payload.task
    ] == ["shard_stats", "shard_forecast"]
    error_message = "Each map runs its own task of the function."
  }

  assert {
    condition = alltrue([
      for name in ["ShardStats", "ForecastShards"] : (
        jsondecode(aws_sfn_state_machine.this.definition).States[name].ItemProcessor.States.Shard.Parameters.FunctionName == var.function_arn &&
        jsondecode(aws_sfn_state_machine.this.definition).States[name].ItemProcessor.States.Shard.Parameters.Payload["attempt.$"] == "$$.State.RetryCount" &&
        jsondecode(aws_sfn_state_machine.this.definition).States[name].ItemProcessor.States.Shard.Retry[1] == {
          ErrorEquals = ["States.ALL"], IntervalSeconds = 5, MaxAttempts = 2, BackoffRate = 2
        }
      )
    ])
    error_message = "A shard task invokes the function, tells it its attempt, and is retried shard_retries times on any error."
  }

  assert {
    condition = alltrue([
      for name in ["ShardStats", "PoolStats", "ForecastShards", "Combine"] :
      jsondecode(aws_sfn_state_machine.this.definition).States[name].Catch[0].Next == "RecordFailure"
    ]) && jsondecode(aws_sfn_state_machine.this.definition).States.RecordFailure.Next == "Failed" && jsondecode(aws_sfn_state_machine.this.definition).States.Failed.Type == "Fail"
    error_message = "Any step failing after its retries records the failure in the manifest, then fails the execution."
  }

  assert {
    condition     = output.state_machine_arn == "arn:aws:states:eu-west-1:123456789012:stateMachine:test-shards"
    error_message = "The ARN is built from the name."
  }
}

run "no_retries_means_no_task_retrier" {
  command = plan

  variables {
    shard_retries = 0
  }

  assert {
    condition     = length(jsondecode(aws_sfn_state_machine.this.definition).States.ForecastShards.ItemProcessor.States.Shard.Retry) == 1
    error_message = "shard_retries = 0 keeps only the Lambda service-error retrier."
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
      "lambda:InvokeFunction arn:aws:lambda:eu-west-1:123456789012:function:test-predict",
      "s3:GetObject arn:aws:s3:::test-processed/shards/*",
      "states:StartExecution arn:aws:states:eu-west-1:123456789012:stateMachine:test-shards",
      "states:DescribeExecution arn:aws:states:eu-west-1:123456789012:execution:test-shards/*",
      "states:StopExecution arn:aws:states:eu-west-1:123456789012:execution:test-shards/*",
    ])
    error_message = "The role grants something other than invoking the one function, reading the shard prefix and running its own child executions: ${aws_iam_role_policy.this.policy}"
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
    function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:test-predict:live"
  }

  expect_failures = [var.function_arn]
}

run "shard_prefix_must_end_in_a_slash" {
  command = plan

  variables {
    shard_key_prefix = "shards*"
  }

  expect_failures = [var.shard_key_prefix]
}

run "log_level_is_an_enum" {
  command = plan

  variables {
    log_level = "DEBUG"
  }

  expect_failures = [var.log_level]
}
