# The sharded-ingest workflow, checked on a plan against a mocked AWS provider.
# Run from terraform/modules/ingest-workflow:  terraform init -backend=false && terraform test

mock_provider "aws" {
  override_during = plan
  source          = "../../tests/mocks" # terraform/tests/mocks: account, region and partition
}

override_resource {
  target          = module.workflow.aws_cloudwatch_log_group.this
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
    condition     = jsondecode(output.definition).StartAt == "ValidateShards"
    error_message = "The workflow starts by validating the shards."
  }

  assert {
    condition = [
      for name in ["ValidateShards", "CheckPartitions", "Verdict", "MergePartitions"] :
      jsondecode(output.definition).States[name].Next
      ] == ["CheckPartitions", "Verdict", "Accepted", "Finish"] && (
      jsondecode(output.definition).States.Finish.End
    )
    error_message = "ValidateShards -> CheckPartitions -> Verdict -> Accepted? -> MergePartitions -> Finish (end)."
  }

  assert {
    condition = (
      jsondecode(output.definition).States.Accepted.Choices[0] == {
        Variable = "$.verdict.accepted", BooleanEquals = true, Next = "MergePartitions"
      } &&
      jsondecode(output.definition).States.Accepted.Default == "Rejected" &&
      jsondecode(output.definition).States.Rejected.Type == "Succeed"
    )
    error_message = "Only an accepted file reaches MergePartitions: a rejected one ends before any history write."
  }

  assert {
    condition = alltrue([
      for name, list in { ValidateShards = "$.shard_list_key", CheckPartitions = "$.partition_list_key", MergePartitions = "$.partition_list_key" } : (
        jsondecode(output.definition).States[name].Type == "Map" &&
        jsondecode(output.definition).States[name].ItemProcessor.ProcessorConfig.Mode == "DISTRIBUTED" &&
        jsondecode(output.definition).States[name].ItemReader.Resource == "arn:aws:states:::s3:getObject" &&
        jsondecode(output.definition).States[name].ItemReader.Parameters["Key.$"] == list &&
        jsondecode(output.definition).States[name].MaxConcurrency == 4 &&
        jsondecode(output.definition).States[name].ResultPath == null
      )
    ])
    error_message = "The three maps are Distributed Maps reading their list from S3, max_concurrency at a time, discarding their (S3-reported) results."
  }

  assert {
    condition = [
      for name in ["ValidateShards", "CheckPartitions", "MergePartitions"] :
      jsondecode(output.definition).States[name].ItemProcessor.States.Task.Parameters.Payload.task
    ] == ["validate_shard", "check_partition", "merge_partition"]
    error_message = "Each map runs its own task of the function."
  }

  assert {
    condition = alltrue([
      for name in ["ValidateShards", "CheckPartitions", "MergePartitions"] : (
        jsondecode(output.definition).States[name].ItemProcessor.States.Task.Parameters.FunctionName == var.function_arn &&
        jsondecode(output.definition).States[name].ItemProcessor.States.Task.Parameters.Payload["attempt.$"] == "$$.State.RetryCount" &&
        jsondecode(output.definition).States[name].ItemProcessor.States.Task.Retry[1] == {
          ErrorEquals = ["States.ALL"], IntervalSeconds = 5, MaxAttempts = 2, BackoffRate = 2
        }
      )
    ])
    error_message = "A task invokes the function, tells it its attempt, and is retried task_retries times on any error."
  }

  assert {
    condition = [
      for name in ["Verdict", "Finish", "RecordFailure"] : [
        jsondecode(output.definition).States[name].Parameters.Payload.task,
        jsondecode(output.definition).States[name].Parameters.Payload["execution.$"],
      ]
    ] == [["verdict", "$$.Execution.Id"], ["finish", "$$.Execution.Id"], ["fail", "$$.Execution.Id"]]
    error_message = "The tasks that write the run's outcome name their execution, so a stale one cannot overwrite it."
  }

  assert {
    condition = alltrue([
      for name in ["ValidateShards", "CheckPartitions", "Verdict", "MergePartitions", "Finish"] :
      jsondecode(output.definition).States[name].Catch[0].Next == "RecordFailure"
    ]) && jsondecode(output.definition).States.RecordFailure.Next == "Failed" && jsondecode(output.definition).States.Failed.Type == "Fail"
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
    condition     = length(jsondecode(output.definition).States.ValidateShards.ItemProcessor.States.Task.Retry) == 1
    error_message = "task_retries = 0 keeps only the Lambda service-error retrier."
  }
}


# The role's shape and the variables' ranges are lambda-workflow's (its tests); here, what it is given.
run "the_role_invokes_the_etl_function_and_reads_the_ingest_lists" {
  command = plan

  assert {
    condition = toset(flatten([
      for s in jsondecode(output.state_machine_role_policy).Statement : [
        for a in flatten([s.Action]) : [for r in flatten([s.Resource]) : "${a} ${r}"]
      ] if s.Sid != "DeliverExecutionLogs"
      ])) == toset([
      "lambda:InvokeFunction arn:aws:lambda:eu-west-1:123456789012:function:test-etl",
      "s3:GetObject arn:aws:s3:::test-processed/ingest/*",
      "states:StartExecution arn:aws:states:eu-west-1:123456789012:stateMachine:test-ingest",
      "states:DescribeExecution arn:aws:states:eu-west-1:123456789012:execution:test-ingest/*",
      "states:StopExecution arn:aws:states:eu-west-1:123456789012:execution:test-ingest/*",
    ])
    error_message = "The role grants something other than invoking the ETL function, reading the ingest prefix and running its own child executions: ${output.state_machine_role_policy}"
  }

  assert {
    condition     = output.log_group_name == "/aws/vendedlogs/states/test-ingest" && output.log_group_arn == "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/vendedlogs/states/test-ingest"
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
      for name in ["ValidateShards", "CheckPartitions", "MergePartitions"] :
      jsondecode(output.definition).States[name].ItemReader.Resource == "arn:aws-cn:states:::s3:getObject"
    ])
    error_message = "The three maps must read their lists through arn:<partition>:states:::s3:getObject, not a hard-coded aws partition."
  }
}
