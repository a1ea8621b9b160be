# The shared Lambda workflow: policy applied to the states, least-privilege role, logging, validation,
# checked on a plan against a mocked AWS provider.
# Run from terraform/modules/lambda-workflow:  terraform init -backend=false && terraform test

mock_provider "aws" {
  override_during = plan
  source          = "../../tests/mocks" # terraform/tests/mocks: account, region and partition
}

override_resource {
  target          = aws_cloudwatch_log_group.this
  override_during = plan
  values          = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/vendedlogs/states/test-flow" }
}

# A small workflow with every kind of state the policy treats: a Distributed Map over an S3 list, an
# inline Map, Lambda tasks, a task of another service, a Choice, the failure task and a Fail.
variables {
  name = "test-flow"
  function_arns = [
    "arn:aws:lambda:eu-west-1:123456789012:function:test-work",
    "arn:aws:lambda:eu-west-1:123456789012:function:test-record",
  ]
  item_reader            = { bucket_arn = "arn:aws:s3:::test-processed", key_prefix = "lists/" }
  max_concurrency        = 4
  task_retries           = 2
  retry_interval_seconds = 5

  comment       = "A test workflow."
  start_at      = "Items"
  failure_state = "RecordFailure"
  states = {
    Items = {
      Type = "Map"
      ItemReader = {
        Resource     = "arn:aws:states:::s3:getObject"
        ReaderConfig = { InputType = "JSON" }
        Parameters   = { "Bucket.$" = "$.bucket", "Key.$" = "$.list_key" }
      }
      ItemProcessor = {
        ProcessorConfig = { Mode = "DISTRIBUTED", ExecutionType = "STANDARD" }
        StartAt         = "Work"
        States = {
          Work = {
            Type       = "Task"
            Parameters = { FunctionName = "arn:aws:lambda:eu-west-1:123456789012:function:test-work", Payload = { task = "work" } }
            End        = true
          }
        }
      }
      ResultPath = null
      Next       = "Segments"
    }
    Segments = {
      Type      = "Map"
      ItemsPath = "$.segments"
      ItemProcessor = {
        ProcessorConfig = { Mode = "INLINE" }
        StartAt         = "Segment"
        States = {
          Segment = {
            Type       = "Task"
            Parameters = { FunctionName = "arn:aws:lambda:eu-west-1:123456789012:function:test-work", Payload = { task = "segment" } }
            End        = true
          }
        }
      }
      MaxConcurrency = 2
      Next           = "Job"
    }
    Job = {
      Type       = "Task"
      Resource   = "arn:aws:states:::batch:submitJob.sync"
      Parameters = { JobName = "test" }
      Next       = "Decide"
    }
    Decide = {
      Type    = "Choice"
      Choices = [{ Variable = "$.ok", BooleanEquals = true, Next = "Finish" }]
      Default = "RecordFailure"
    }
    Finish = {
      Type       = "Task"
      Parameters = { FunctionName = "arn:aws:lambda:eu-west-1:123456789012:function:test-work", Payload = { task = "finish" } }
      Retry      = []
      End        = true
    }
    RecordFailure = {
      Type       = "Task"
      Parameters = { FunctionName = "arn:aws:lambda:eu-west-1:123456789012:function:test-record", Payload = { task = "fail", "error.$" = "$.error" } }
      ResultPath = null
      Next       = "Failed"
    }
    Failed = { Type = "Fail", Error = "TestFailed" }
  }
}

run "lambda_tasks_are_invoked_retried_and_caught" {
  command = plan

  assert {
    condition = (
      jsondecode(output.definition).Comment == "A test workflow." &&
      jsondecode(output.definition).StartAt == "Items" &&
      toset(keys(jsondecode(output.definition).States)) == toset(["Items", "Segments", "Job", "Decide", "Finish", "RecordFailure", "Failed"])
    )
    error_message = "The definition is the given states, comment and start."
  }

  assert {
    condition = alltrue([
      for t in [
        jsondecode(output.definition).States.Items.ItemProcessor.States.Work,
        jsondecode(output.definition).States.Segments.ItemProcessor.States.Segment,
        ] : t.Resource == "arn:aws:states:::lambda:invoke" && t.Retry == [
        {
          ErrorEquals     = ["Lambda.ClientExecutionTimeoutException", "Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException", "Lambda.TooManyRequestsException"]
          IntervalSeconds = 2, MaxAttempts = 6, BackoffRate = 2, JitterStrategy = "FULL"
        },
        { ErrorEquals = ["States.ALL"], IntervalSeconds = 5, MaxAttempts = 2, BackoffRate = 2 },
      ] && !can(t.Catch)
    ])
    error_message = "A Lambda task in a Map's processor is a lambda:invoke retried on service errors, then task_retries times on any error; the Map, not the task, is caught."
  }

  assert {
    condition = alltrue([
      for name in ["Items", "Segments", "Job", "Finish"] :
      jsondecode(output.definition).States[name].Catch == [{ ErrorEquals = ["States.ALL"], ResultPath = "$.error", Next = "RecordFailure" }]
    ]) && !can(jsondecode(output.definition).States.Decide.Catch) && !can(jsondecode(output.definition).States.RecordFailure.Catch)
    error_message = "Every top-level Task and Map but the failure state is caught into it, the error at $.error; a Choice is not."
  }

  assert {
    condition = (
      jsondecode(output.definition).States.RecordFailure.Resource == "arn:aws:states:::lambda:invoke" &&
      length(jsondecode(output.definition).States.RecordFailure.Retry) == 1 &&
      jsondecode(output.definition).States.RecordFailure.Retry[0].ErrorEquals[0] == "Lambda.ClientExecutionTimeoutException"
    )
    error_message = "The failure state's own task is retried on Lambda service errors only, so a failing record cannot loop."
  }

  assert {
    condition = (
      jsondecode(output.definition).States.Job.Resource == "arn:aws:states:::batch:submitJob.sync" &&
      jsondecode(output.definition).States.Job.Retry == [{ ErrorEquals = ["States.ALL"], IntervalSeconds = 5, MaxAttempts = 2, BackoffRate = 2 }]
    )
    error_message = "A task of another service keeps its Resource and is retried task_retries times (no Lambda service-error retrier)."
  }

  assert {
    condition     = jsondecode(output.definition).States.Items.MaxConcurrency == 4 && jsondecode(output.definition).States.Segments.MaxConcurrency == 2
    error_message = "A Map runs max_concurrency items at once unless it sets its own."
  }

  assert {
    condition     = jsondecode(output.definition).States.Finish.Retry == [] && jsondecode(output.definition).States.Items.ResultPath == null
    error_message = "Keys a state sets itself (here Retry, and a null ResultPath) win over the policy."
  }

  assert {
    condition     = output.state_machine_arn == "arn:aws:states:eu-west-1:123456789012:stateMachine:test-flow" && output.execution_arns == "arn:aws:states:eu-west-1:123456789012:execution:test-flow:*"
    error_message = "The ARNs are built from the name."
  }

  assert {
    condition     = output.log_group_arn == "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/vendedlogs/states/test-flow" && aws_cloudwatch_log_group.this.name == "/aws/vendedlogs/states/test-flow"
    error_message = "The log group's ARN (for a KMS key policy) is the one of the group created."
  }
}

run "no_retries_means_no_task_retrier" {
  command = plan

  variables {
    task_retries = 0
  }

  assert {
    condition = (
      length(jsondecode(output.definition).States.Items.ItemProcessor.States.Work.Retry) == 1 &&
      !can(jsondecode(output.definition).States.Job.Retry)
    )
    error_message = "task_retries = 0 keeps only the Lambda service-error retrier, and gives another service's task no (empty) Retry."
  }
}

run "no_failure_state_means_no_catch" {
  command = plan

  variables {
    failure_state = null
  }

  assert {
    condition     = alltrue([for s in values(jsondecode(output.definition).States) : !can(s.Catch)])
    error_message = "Without a failure state nothing is caught."
  }
}

run "the_role_may_do_exactly_what_the_workflow_needs" {
  command = plan

  assert {
    condition     = jsondecode(aws_iam_role.this.assume_role_policy).Statement[0].Principal.Service == "states.amazonaws.com" && jsondecode(aws_iam_role.this.assume_role_policy).Statement[0].Condition.StringEquals["aws:SourceAccount"] == "123456789012"
    error_message = "Only Step Functions, for this account, assumes the role."
  }

  assert {
    condition = toset(flatten([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement : [
        for a in flatten([s.Action]) : [for r in flatten([s.Resource]) : "${a} ${r}"]
      ] if s.Sid != "DeliverExecutionLogs"
      ])) == toset([
      "lambda:InvokeFunction arn:aws:lambda:eu-west-1:123456789012:function:test-work",
      "lambda:InvokeFunction arn:aws:lambda:eu-west-1:123456789012:function:test-record",
      "s3:GetObject arn:aws:s3:::test-processed/lists/*",
      "states:StartExecution arn:aws:states:eu-west-1:123456789012:stateMachine:test-flow",
      "states:DescribeExecution arn:aws:states:eu-west-1:123456789012:execution:test-flow/*",
      "states:StopExecution arn:aws:states:eu-west-1:123456789012:execution:test-flow/*",
    ])
    error_message = "The role grants something other than invoking the given functions, reading the item lists and running its own child executions: ${aws_iam_role_policy.this.policy}"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.this.policy).Statement :
      alltrue([for a in s.Action : startswith(a, "logs:") && !strcontains(a, "*")]) if contains(s.Resource, "*")
    ])
    error_message = "Only the log-delivery actions (which have no resource-level permissions) may use Resource \"*\"."
  }

  assert {
    condition = (
      aws_sfn_state_machine.this.type == "STANDARD" &&
      aws_sfn_state_machine.this.logging_configuration[0].level == "ERROR" &&
      aws_sfn_state_machine.this.logging_configuration[0].include_execution_data &&
      aws_sfn_state_machine.this.logging_configuration[0].log_destination == "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/vendedlogs/states/test-flow:*" &&
      aws_cloudwatch_log_group.this.retention_in_days == 365
    )
    error_message = "Errors are logged to the workflow's own log group, kept a year."
  }
}

run "no_distributed_map_and_no_item_reader_means_no_s3_or_child_executions" {
  command = plan

  variables {
    item_reader = null
    start_at    = "Segments"
    states = {
      Segments = {
        Type      = "Map"
        ItemsPath = "$.segments"
        ItemProcessor = {
          ProcessorConfig = { Mode = "INLINE" }
          StartAt         = "Segment"
          States = {
            Segment = {
              Type       = "Task"
              Parameters = { FunctionName = "arn:aws:lambda:eu-west-1:123456789012:function:test-work", Payload = { task = "segment" } }
              End        = true
            }
          }
        }
        End = true
      }
      RecordFailure = {
        Type       = "Task"
        Parameters = { FunctionName = "arn:aws:lambda:eu-west-1:123456789012:function:test-record", Payload = { task = "fail" } }
        End        = true
      }
    }
    policy_statements = [{ Sid = "SubmitTheJob", Effect = "Allow", Action = ["batch:SubmitJob"], Resource = ["arn:aws:batch:eu-west-1:123456789012:job-queue/test"] }]
  }

  assert {
    condition = [for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Sid] == [
      "InvokeTheFunctions", "DeliverExecutionLogs", "SubmitTheJob",
    ]
    error_message = "An inline Map and no item reader: invoke and log delivery only, then the caller's own statements."
  }
}

run "a_lambda_task_must_name_one_of_the_functions" {
  command = plan

  variables {
    function_arns = ["arn:aws:lambda:eu-west-1:123456789012:function:test-work"]
  }

  expect_failures = [aws_sfn_state_machine.this]
}

run "start_at_must_be_a_state" {
  command = plan

  variables {
    start_at = "Nowhere"
  }

  expect_failures = [aws_sfn_state_machine.this]
}

run "concurrency_must_be_1_to_1000" {
  command = plan

  variables {
    max_concurrency = 0
  }

  expect_failures = [var.max_concurrency]
}

run "retries_must_be_0_to_5" {
  command = plan

  variables {
    task_retries = 6
  }

  expect_failures = [var.task_retries]
}

run "retry_interval_must_be_1_to_300" {
  command = plan

  variables {
    retry_interval_seconds = 0
  }

  expect_failures = [var.retry_interval_seconds]
}

run "function_arns_must_be_unqualified" {
  command = plan

  variables {
    function_arns = ["arn:aws:lambda:eu-west-1:123456789012:function:test-work:live"]
  }

  expect_failures = [var.function_arns]
}

run "item_prefix_must_end_in_a_slash" {
  command = plan

  variables {
    item_reader = { bucket_arn = "arn:aws:s3:::test-processed", key_prefix = "lists*" }
  }

  expect_failures = [var.item_reader]
}

run "name_fits_an_iam_role" {
  command = plan

  variables {
    name = "a-name-that-is-far-too-long-for-an-iam-role-because-it-has-more-than-64"
  }

  expect_failures = [var.name]
}

run "log_level_is_an_enum" {
  command = plan

  variables {
    log_level = "DEBUG"
  }

  expect_failures = [var.log_level]
}

run "log_retention_is_a_cloudwatch_value" {
  command = plan

  variables {
    log_retention_days = 10
  }

  expect_failures = [var.log_retention_days]
}
