# Retraining in the stack: the training function's least privilege, and that only it (and the operator,
# outside Terraform) can change which model is in service. Mocked AWS provider, plan only.

mock_provider "aws" {
  # Make the mocked and overridden values known at plan time, so the assertions can read them.
  override_during = plan
  source          = "./tests/mocks"
}

override_resource {
  target          = module.etl.aws_cloudwatch_log_group.lambda
  override_during = plan
  values          = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/test-stack-etl" }
}

override_resource {
  target          = module.train.aws_lambda_function.this
  override_during = plan
  values          = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:test-stack-train" }
}

override_resource {
  target          = module.train.aws_cloudwatch_log_group.lambda
  override_during = plan
  values          = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/test-stack-train" }
}

override_resource {
  target          = module.predict.aws_cloudwatch_log_group.lambda
  override_during = plan
  values          = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/test-stack-predict" }
}

variables {
  name_prefix = "test-stack"
  # Any existing file will do as a "package": the module only hashes and uploads it.
  etl_package_path     = "README.md"
  predict_package_path = "variables.tf"
  train_package_path   = "outputs.tf"
  monitor_package_path = "outputs.tf"
}

run "training_function_reads_the_history_and_writes_only_under_models" {
  command = plan

  assert {
    condition = toset(flatten([
      for s in jsondecode(module.train.lambda_role_policy_json).Statement : [
        for a in flatten([s.Action]) : [for r in flatten([s.Resource]) : "${a} ${r}"]
      ]
      ])) == toset([
      "logs:CreateLogStream arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/test-stack-train:*",
      "logs:PutLogEvents arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/test-stack-train:*",
      "s3:ListBucket arn:aws:s3:::test-stack-models",
      "s3:ListBucket arn:aws:s3:::test-stack-processed",
      "s3:GetObject arn:aws:s3:::test-stack-processed/reference/*",
      "s3:GetObject arn:aws:s3:::test-stack-models/models/*",
      "s3:PutObject arn:aws:s3:::test-stack-models/models/*",
      "dynamodb:GetItem arn:aws:dynamodb:eu-west-1:123456789012:table/test-stack-history",
      "dynamodb:Scan arn:aws:dynamodb:eu-west-1:123456789012:table/test-stack-history",
    ])
    error_message = "The training policy grants something other than what retraining needs: ${module.train.lambda_role_policy_json}"
  }

  assert {
    condition = sort(flatten([
      for st in jsondecode(module.train.lambda_role_policy_json).Statement : st.Resource if contains(flatten([st.Action]), "s3:ListBucket")
    ])) == sort(["arn:aws:s3:::test-stack-models", "arn:aws:s3:::test-stack-processed"])
    error_message = "train may list the two buckets it reads (so a missing object is a 404), and no other."
  }
}

run "no_other_function_can_change_the_model_in_service" {
  command = plan

  # models/current.json is the model in service: whoever may PutObject (or DeleteObject) there
  # may change it. Only the training function's role may; the operator does it with their own
  # credentials (grocery-forecast models use / rollback), outside the stack's roles.
  assert {
    condition = [
      for policy in [module.etl.lambda_role_policy_json, module.predict.lambda_role_policy_json] : length([
        for s in jsondecode(policy).Statement : s
        if length(setintersection(toset(flatten([s.Action])), toset(["s3:PutObject", "s3:DeleteObject", "s3:*", "*"]))) > 0 &&
        anytrue([for r in flatten([s.Resource]) : startswith(r, "arn:aws:s3:::test-stack-models") || r == "*"])
      ])
    ] == [0, 0]
    error_message = "Only the training function may write to the models bucket (etl and predict must not)."
  }

  assert {
    condition = alltrue([
      for policy in [module.forecast_workflow.definition, module.training_workflow.definition] : !strcontains(policy, "current.json")
    ])
    error_message = "Neither workflow touches models/current.json directly: only the training function's promote task does."
  }
}

run "training_is_wired_to_its_workflow_and_schedule" {
  command = plan

  assert {
    condition = (
      output.training_state_machine_arn == "arn:aws:states:eu-west-1:123456789012:stateMachine:test-stack-retraining" &&
      jsondecode(module.training_workflow.definition).States.Train.Parameters.FunctionName == module.train.lambda_function_arn &&
      jsondecode(output.training_schedule_input) == { trigger = "schedule" }
    )
    error_message = "The retraining workflow runs the training function; the schedule's input is exported for the CLI and tests."
  }

  assert {
    condition = (
      module.train.lambda_function_environment_variables.HISTORY_TABLE == "test-stack-history" &&
      module.train.lambda_function_environment_variables.MODELS_BUCKET == "test-stack-models" &&
      module.train.lambda_function_environment_variables.PROMOTION_MIN_IMPROVEMENT == "0.01" &&
      module.train.lambda_function_environment_variables.TRAINING_HISTORY_DAYS == "365"
    )
    error_message = "The training function gets its table, bucket, margin and window."
  }

  assert {
    condition     = module.training_workflow.failed_alarm_name == "test-stack-retraining-failed"
    error_message = "create_alarms (default true) creates the failed-retraining alarm."
  }
}

run "promotion_margin_is_validated" {
  command = plan

  variables {
    promotion_min_improvement = 0.9
  }

  expect_failures = [var.promotion_min_improvement]
}

run "training_schedule_is_validated" {
  command = plan

  variables {
    training_schedule_expression = "weekly"
  }

  expect_failures = [var.training_schedule_expression]
}

run "training_schedule_takes_the_unit_eventbridge_takes" {
  command = plan

  variables {
    training_schedule_expression = "rate(1 days)" # EventBridge: rate(1 day)
  }

  expect_failures = [var.training_schedule_expression]
}

run "training_schedule_accepts_a_single_day_and_cron" {
  command = plan

  variables {
    training_schedule_expression = "rate(1 day)"
  }

  assert {
    condition     = module.training_workflow.schedule_rule_name != null
    error_message = "rate(1 day) must be accepted."
  }
}

override_resource {
  target          = module.training_batch[0].aws_batch_job_queue.this
  override_during = plan
  values          = { arn = "arn:aws:batch:eu-west-1:123456789012:job-queue/test-stack-train" }
}

override_resource {
  target          = module.training_batch[0].aws_batch_job_definition.this
  override_during = plan
  values          = { arn = "arn:aws:batch:eu-west-1:123456789012:job-definition/test-stack-train:1" }
}

run "training_runner_batch_runs_the_same_code_with_the_same_permissions" {
  command = plan

  variables {
    training_runner               = "batch"
    training_image                = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/grocery-forecast-train:1.0"
    training_image_repository_arn = "arn:aws:ecr:eu-west-1:123456789012:repository/grocery-forecast-train"
    training_subnet_ids           = ["subnet-0123abcd"]
    training_security_group_ids   = ["sg-0123abcd"]
  }

  assert {
    condition = (
      jsondecode(module.training_workflow.definition).States.Train.Resource == "arn:aws:states:::batch:submitJob.sync" &&
      jsondecode(module.training_workflow.definition).States.Train.Parameters.JobQueue == "arn:aws:batch:eu-west-1:123456789012:job-queue/test-stack-train"
    )
    error_message = "training_runner = \"batch\" submits the train step to the stack's job queue."
  }

  assert {
    condition = [
      for s in jsondecode(module.training_batch[0].job_role_policy_json).Statement : s.Sid
      ] == [
      for s in jsondecode(module.train.lambda_role_policy_json).Statement : s.Sid if s.Sid != "WriteOwnLogGroup"
    ]
    error_message = "The Batch job's role has the training Lambda's statements (bar its own log writing)."
  }
}

run "training_runner_lambda_creates_no_batch" {
  command = plan

  assert {
    condition     = length(module.training_batch) == 0 && jsondecode(module.training_workflow.definition).States.Train.Resource == "arn:aws:states:::lambda:invoke"
    error_message = "The default runs the train step on the training Lambda, with no Batch resources."
  }
}
