# The sharded-forecast workflow, checked on a plan against a mocked AWS provider.
# Run from terraform/modules/forecast-workflow:  terraform init -backend=false && terraform test

mock_provider "aws" {
  override_during = plan
  source          = "../../tests/mocks" # terraform/tests/mocks: account, region and partition
}

override_resource {
  target          = module.workflow.aws_cloudwatch_log_group.this
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
    condition     = jsondecode(output.definition).StartAt == "ShardStats"
    error_message = "The workflow starts with the per-shard statistics."
  }

  assert {
    condition = [
      for name in ["ShardStats", "PoolStats", "ForecastShards", "Combine"] :
      lookup(jsondecode(output.definition).States[name], "Next", "END")
      ] == ["PoolStats", "ForecastShards", "Combine", "END"] && (
      jsondecode(output.definition).States.Combine.End
    )
    error_message = "ShardStats -> PoolStats -> ForecastShards -> Combine (end)."
  }

  assert {
    condition = alltrue([
      for name in ["ShardStats", "ForecastShards"] : (
        jsondecode(output.definition).States[name].Type == "Map" &&
        jsondecode(output.definition).States[name].ItemProcessor.ProcessorConfig.Mode == "DISTRIBUTED" &&
        jsondecode(output.definition).States[name].ItemReader.Resource == "arn:aws:states:::s3:getObject" &&
        jsondecode(output.definition).States[name].ItemReader.Parameters["Key.$"] == "$.shard_list_key" &&
        jsondecode(output.definition).States[name].MaxConcurrency == 4 &&
        jsondecode(output.definition).States[name].ResultPath == null
      )
    ])
    error_message = "Both maps are Distributed Maps reading the shard list from S3, max_concurrency at a time, discarding their (S3-reported) results."
  }

  assert {
    condition = [
      for name in ["ShardStats", "ForecastShards"] :
      jsondecode(output.definition).States[name].ItemProcessor.States.Shard.Parameters.Payload.task
    ] == ["shard_stats", "shard_forecast"]
    error_message = "Each map runs its own task of the function."
  }

  assert {
    condition = alltrue([
      for name in ["ShardStats", "ForecastShards"] : (
        jsondecode(output.definition).States[name].ItemProcessor.States.Shard.Parameters.FunctionName == var.function_arn &&
        jsondecode(output.definition).States[name].ItemProcessor.States.Shard.Parameters.Payload["attempt.$"] == "$$.State.RetryCount" &&
        jsondecode(output.definition).States[name].ItemProcessor.States.Shard.Retry[1] == {
          ErrorEquals = ["States.ALL"], IntervalSeconds = 5, MaxAttempts = 2, BackoffRate = 2
        }
      )
    ])
    error_message = "A shard task invokes the function, tells it its attempt, and is retried shard_retries times on any error."
  }

  assert {
    condition = alltrue([
      for name in ["ShardStats", "PoolStats", "ForecastShards", "Combine"] :
      jsondecode(output.definition).States[name].Catch[0].Next == "RecordFailure"
    ]) && jsondecode(output.definition).States.RecordFailure.Next == "Failed" && jsondecode(output.definition).States.Failed.Type == "Fail"
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
    condition     = length(jsondecode(output.definition).States.ForecastShards.ItemProcessor.States.Shard.Retry) == 1
    error_message = "shard_retries = 0 keeps only the Lambda service-error retrier."
  }
}


# The role's shape and the variables' ranges are lambda-workflow's (its tests); here, what it is given.
run "the_role_invokes_the_predict_function_and_reads_the_shard_lists" {
  command = plan

  assert {
    condition = toset(flatten([
      for s in jsondecode(output.state_machine_role_policy).Statement : [
        for a in flatten([s.Action]) : [for r in flatten([s.Resource]) : "${a} ${r}"]
      ] if s.Sid != "DeliverExecutionLogs"
      ])) == toset([
      "lambda:InvokeFunction arn:aws:lambda:eu-west-1:123456789012:function:test-predict",
      "s3:GetObject arn:aws:s3:::test-processed/shards/*",
      "states:StartExecution arn:aws:states:eu-west-1:123456789012:stateMachine:test-shards",
      "states:DescribeExecution arn:aws:states:eu-west-1:123456789012:execution:test-shards/*",
      "states:StopExecution arn:aws:states:eu-west-1:123456789012:execution:test-shards/*",
    ])
    error_message = "The role grants something other than invoking the predict function, reading the shard prefix and running its own child executions: ${output.state_machine_role_policy}"
  }

  assert {
    condition     = output.log_group_name == "/aws/vendedlogs/states/test-shards" && output.log_group_arn == "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/vendedlogs/states/test-shards"
    error_message = "The workflow logs to /aws/vendedlogs/states/<name>, whose ARN the stack's logs key names."
  }
}

# The S3 integration's ARN follows the partition, as every other ARN of the stack (aws-cn, aws-us-gov, ...).
run "item_readers_use_the_partition" {
  command = plan

  override_data {
    target = data.aws_partition.current
    values = { partition = "aws-cn" }
  }

  override_data {
    target = module.workflow.data.aws_partition.current
    values = { partition = "aws-cn" }
  }

  assert {
    condition = alltrue([
      for name in ["ShardStats", "ForecastShards"] :
      jsondecode(output.definition).States[name].ItemReader.Resource == "arn:aws-cn:states:::s3:getObject"
    ])
    error_message = "Both maps must read their lists through arn:<partition>:states:::s3:getObject, not a hard-coded aws partition."
  }
}
