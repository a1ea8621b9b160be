# The lambda-function module on a mocked provider: package upload, function settings, role policy,
# asynchronous invocation settings and input validation.
# Run from terraform/modules/lambda-function:  terraform init -backend=false && terraform test

mock_provider "aws" {
  override_during = plan
}

override_resource {
  target          = aws_cloudwatch_log_group.lambda
  override_during = plan
  values = {
    arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/test-fn"
  }
}

override_resource {
  target          = aws_iam_role.lambda
  override_during = plan
  values = {
    arn = "arn:aws:iam::123456789012:role/test-fn"
  }
}

variables {
  function_name    = "test-fn"
  handler          = "handler.lambda_handler"
  runtime          = "python3.12"
  memory_size      = 1024
  timeout          = 60
  package_path     = "README.md" # any existing file: the module hashes and uploads it
  artifacts_bucket = "test-artifacts"

  environment_variables = {
    FOO = "bar"
  }

  policy_statements = [
    {
      sid       = "ReadInput"
      actions   = ["s3:GetObject"]
      resources = ["arn:aws:s3:::test-input/*"]
    },
    {
      sid       = "ListModels"
      actions   = ["s3:ListBucket"]
      resources = ["arn:aws:s3:::test-models"]
      conditions = [
        { test = "StringLike", variable = "s3:prefix", values = ["models/*"] },
      ]
    },
  ]

  destination_on_failure = "arn:aws:sqs:us-east-1:123456789012:test-dlq"
}

run "package_goes_through_s3_under_a_content_addressed_key" {
  command = plan

  assert {
    condition     = aws_s3_object.package.bucket == "test-artifacts" && aws_s3_object.package.key == "lambda/test-fn/${filesha256("README.md")}.zip" && aws_s3_object.package.source == "README.md"
    error_message = "The package must be uploaded to the artifacts bucket under lambda/<function>/<sha256>.zip."
  }

  assert {
    condition     = aws_lambda_function.this.s3_bucket == "test-artifacts" && aws_lambda_function.this.s3_key == aws_s3_object.package.key
    error_message = "The function must be deployed from the uploaded object."
  }

  assert {
    condition     = aws_lambda_function.this.source_code_hash == filebase64sha256("README.md")
    error_message = "source_code_hash must be the base64 SHA-256 of the package, so a rebuilt zip redeploys."
  }

  assert {
    condition     = aws_lambda_function.this.filename == null
    error_message = "The function must not upload the zip directly (50 MB limit)."
  }
}

run "function_settings_are_passed_through" {
  command = plan

  assert {
    condition = (
      aws_lambda_function.this.function_name == "test-fn" &&
      aws_lambda_function.this.handler == "handler.lambda_handler" &&
      aws_lambda_function.this.runtime == "python3.12" &&
      aws_lambda_function.this.memory_size == 1024 &&
      aws_lambda_function.this.timeout == 60 &&
      aws_lambda_function.this.ephemeral_storage[0].size == 512 &&
      aws_lambda_function.this.role == "arn:aws:iam::123456789012:role/test-fn"
    )
    error_message = "Function settings must come from the variables and the role from the module's role."
  }

  assert {
    condition     = output.lambda_function_environment_variables == tomap({ FOO = "bar" })
    error_message = "Environment variables must be passed through."
  }

  assert {
    condition     = aws_cloudwatch_log_group.lambda.name == "/aws/lambda/test-fn" && aws_cloudwatch_log_group.lambda.retention_in_days == 365
    error_message = "The log group must be /aws/lambda/<function_name>, keeping logs one year by default."
  }

  assert {
    condition     = aws_cloudwatch_log_group.lambda.kms_key_id == null && output.lambda_cloudwatch_log_group_kms_key_arn == null
    error_message = "Without cloudwatch_logs_kms_key_arn the log group stays on CloudWatch Logs' own encryption."
  }

  assert {
    condition     = aws_lambda_function.this.reserved_concurrent_executions == -1 || aws_lambda_function.this.reserved_concurrent_executions == null
    error_message = "Concurrency is unreserved by default."
  }
}

run "log_group_is_encrypted_with_the_given_key" {
  command = plan

  variables {
    cloudwatch_logs_kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    log_retention_days          = 731
  }

  assert {
    condition     = aws_cloudwatch_log_group.lambda.kms_key_id == "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    error_message = "cloudwatch_logs_kms_key_arn must encrypt the log group."
  }

  assert {
    condition     = output.lambda_cloudwatch_log_group_kms_key_arn == "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    error_message = "lambda_cloudwatch_log_group_kms_key_arn must report the key."
  }

  assert {
    condition     = aws_cloudwatch_log_group.lambda.retention_in_days == 731
    error_message = "log_retention_days must be passed through."
  }
}

run "no_environment_block_without_variables" {
  command = plan

  variables {
    environment_variables = {}
  }

  assert {
    condition     = length(aws_lambda_function.this.environment) == 0
    error_message = "An empty environment block would be a perpetual diff."
  }
}

run "role_is_assumable_by_lambda_only" {
  command = plan

  assert {
    condition = jsondecode(aws_iam_role.lambda.assume_role_policy).Statement == [{
      Sid       = "LambdaAssumeRole"
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
    error_message = "Only lambda.amazonaws.com may assume the role."
  }
}

run "policy_is_the_statements_plus_own_log_group" {
  command = plan

  assert {
    condition = jsondecode(aws_iam_role_policy.lambda.policy).Statement == [
      {
        Sid      = "WriteOwnLogGroup"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = ["arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/test-fn:*"]
      },
      {
        Sid      = "ReadInput"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = ["arn:aws:s3:::test-input/*"]
      },
      {
        Sid       = "ListModels"
        Effect    = "Allow"
        Action    = ["s3:ListBucket"]
        Resource  = ["arn:aws:s3:::test-models"]
        Condition = { StringLike = { "s3:prefix" = ["models/*"] } }
      },
    ]
    error_message = "Unexpected policy: ${aws_iam_role_policy.lambda.policy}"
  }

  assert {
    condition     = output.lambda_role_policy_json == aws_iam_role_policy.lambda.policy
    error_message = "lambda_role_policy_json must be the attached document."
  }
}

run "failed_async_invocations_go_to_the_destination" {
  command = plan

  assert {
    condition     = aws_lambda_function_event_invoke_config.this.destination_config[0].on_failure[0].destination == "arn:aws:sqs:us-east-1:123456789012:test-dlq"
    error_message = "The on-failure destination must be wired."
  }

  assert {
    condition     = aws_lambda_function_event_invoke_config.this.maximum_retry_attempts == 2
    error_message = "Two retries by default, as Lambda does."
  }
}

run "no_destination_when_none_given" {
  command = plan

  variables {
    destination_on_failure = null
    maximum_retry_attempts = 0
  }

  assert {
    condition     = length(aws_lambda_function_event_invoke_config.this.destination_config) == 0
    error_message = "No destination block without a destination."
  }

  assert {
    condition     = aws_lambda_function_event_invoke_config.this.maximum_retry_attempts == 0
    error_message = "maximum_retry_attempts must be passed through."
  }
}

run "reserved_concurrency_is_optional" {
  command = plan

  variables {
    reserved_concurrent_executions = 5
  }

  assert {
    condition     = aws_lambda_function.this.reserved_concurrent_executions == 5
    error_message = "reserved_concurrent_executions must be passed through."
  }
}

run "errors_alarm_watches_the_function_and_notifies_the_actions" {
  command = plan

  variables {
    alarm_actions = ["arn:aws:sns:us-east-1:123456789012:ops"]
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.errors[0].dimensions["FunctionName"] == "test-fn" && aws_cloudwatch_metric_alarm.errors[0].metric_name == "Errors" && aws_cloudwatch_metric_alarm.errors[0].namespace == "AWS/Lambda"
    error_message = "The alarm must watch this function's Errors metric."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.errors[0].threshold == 1 && aws_cloudwatch_metric_alarm.errors[0].comparison_operator == "GreaterThanOrEqualToThreshold"
    error_message = "One error must set the alarm off by default."
  }

  assert {
    condition     = contains(aws_cloudwatch_metric_alarm.errors[0].alarm_actions, "arn:aws:sns:us-east-1:123456789012:ops") && length(aws_cloudwatch_metric_alarm.errors[0].alarm_actions) == 1
    error_message = "alarm_actions must be passed through."
  }
}

run "errors_alarm_is_optional" {
  command = plan

  variables {
    create_errors_alarm = false
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.errors) == 0
    error_message = "No alarm when create_errors_alarm is false."
  }
}

run "throttles_and_duration_alarms_watch_the_function" {
  command = plan

  variables {
    alarm_actions = ["arn:aws:sns:us-east-1:123456789012:ops"]
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.throttles[0].metric_name == "Throttles" && aws_cloudwatch_metric_alarm.throttles[0].dimensions["FunctionName"] == "test-fn" && aws_cloudwatch_metric_alarm.throttles[0].threshold == 0 && aws_cloudwatch_metric_alarm.throttles[0].comparison_operator == "GreaterThanThreshold"
    error_message = "Any throttled invocation of the function must set the throttles alarm off."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.duration[0].metric_name == "Duration" && aws_cloudwatch_metric_alarm.duration[0].statistic == "Maximum" && aws_cloudwatch_metric_alarm.duration[0].threshold == 48000
    error_message = "The duration alarm must fire on a Maximum Duration over 80% of the 60 s timeout (48,000 ms)."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.duration[0].alarm_actions == toset(["arn:aws:sns:us-east-1:123456789012:ops"]) && aws_cloudwatch_metric_alarm.throttles[0].ok_actions == toset(["arn:aws:sns:us-east-1:123456789012:ops"])
    error_message = "Both alarms must notify the alarm actions."
  }
}

run "duration_alarm_follows_its_percentage_and_both_are_optional" {
  command = plan

  variables {
    duration_alarm_percent_of_timeout = 50
    create_throttles_alarm            = false
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.duration[0].threshold == 30000 && length(aws_cloudwatch_metric_alarm.throttles) == 0
    error_message = "50% of a 60 s timeout is 30,000 ms; no throttles alarm when create_throttles_alarm is false."
  }
}

run "duration_alarm_percentage_is_a_percentage" {
  command = plan

  variables {
    duration_alarm_percent_of_timeout = 120
  }

  expect_failures = [var.duration_alarm_percent_of_timeout]
}

################################################################################
# Validation
################################################################################

run "wildcard_action_is_refused" {
  command = plan

  variables {
    policy_statements = [{ sid = "All", actions = ["s3:*"], resources = ["arn:aws:s3:::b/*"] }]
  }

  expect_failures = [var.policy_statements]
}

run "wildcard_resource_is_refused" {
  command = plan

  variables {
    policy_statements = [{ sid = "All", actions = ["s3:GetObject"], resources = ["*"] }]
  }

  expect_failures = [var.policy_statements]
}

run "non_alphanumeric_sid_is_refused" {
  command = plan

  variables {
    policy_statements = [{ sid = "read-input", actions = ["s3:GetObject"], resources = ["arn:aws:s3:::b/*"] }]
  }

  expect_failures = [var.policy_statements]
}

run "missing_package_is_reported" {
  command = plan

  variables {
    package_path = "build/does-not-exist.zip"
  }

  expect_failures = [var.package_path]
}

run "runtime_must_be_python_3_12" {
  command = plan

  variables {
    runtime = "nodejs20.x"
  }

  expect_failures = [var.runtime]
}

# The bundles carry CPython 3.12 wheels: another Python would deploy (and pass on the emulator) but fail on AWS.
run "runtime_must_be_the_python_the_bundles_are_built_for" {
  command = plan

  variables {
    runtime = "python3.13"
  }

  expect_failures = [var.runtime]
}

run "memory_range" {
  command = plan

  variables {
    memory_size = 64
  }

  expect_failures = [var.memory_size]
}

run "timeout_range" {
  command = plan

  variables {
    timeout = 0
  }

  expect_failures = [var.timeout]
}

run "ephemeral_storage_range" {
  command = plan

  variables {
    ephemeral_storage_size = 20000
  }

  expect_failures = [var.ephemeral_storage_size]
}

run "retry_attempts_range" {
  command = plan

  variables {
    maximum_retry_attempts = 3
  }

  expect_failures = [var.maximum_retry_attempts]
}

run "log_retention_must_be_a_cloudwatch_value" {
  command = plan

  variables {
    log_retention_days = 2
  }

  expect_failures = [var.log_retention_days]
}

run "log_kms_key_must_be_an_arn" {
  command = plan

  variables {
    cloudwatch_logs_kms_key_arn = "alias/my-key"
  }

  expect_failures = [var.cloudwatch_logs_kms_key_arn]
}

run "alarm_actions_must_be_arns" {
  command = plan

  variables {
    alarm_actions = ["ops@example.com"]
  }

  expect_failures = [var.alarm_actions]
}

run "errors_alarm_period_is_whole_minutes" {
  command = plan

  variables {
    errors_alarm_period_seconds = 90
  }

  expect_failures = [var.errors_alarm_period_seconds]
}
