# The monitor (realized accuracy, runs whose workflow ended), its EventBridge rules, the alarms and the
# dashboard, checked on a plan against a mocked AWS provider.
# Run from terraform/modules/forecasting-stack:  terraform init -backend=false && terraform test

mock_provider "aws" {
  # Make the mocked and overridden values known at plan time, so the assertions can read them.
  override_during = plan
  source          = "./tests/mocks"
}

override_resource {
  target          = module.monitor.aws_lambda_function.this
  override_during = plan
  values          = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:test-stack-monitor" }
}

override_resource {
  target          = module.monitor.aws_cloudwatch_log_group.lambda
  override_during = plan
  values          = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/test-stack-monitor" }
}

override_resource {
  target          = aws_cloudwatch_event_rule.actuals_arrived
  override_during = plan
  values          = { arn = "arn:aws:events:eu-west-1:123456789012:rule/test-stack-actuals-arrived" }
}

override_resource {
  target          = aws_cloudwatch_event_rule.workflow_ended
  override_during = plan
  values          = { arn = "arn:aws:events:eu-west-1:123456789012:rule/test-stack-forecast-workflow-ended" }
}

override_resource {
  target          = module.etl.aws_cloudwatch_log_group.lambda
  override_during = plan
  values          = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/test-stack-etl" }
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
  monitor_package_path = "outputs.tf"
  train_package_path   = "outputs.tf"
}


################################################################################
# Realized accuracy and runs whose workflow ended: what invokes the monitor
################################################################################

run "processed_actuals_reach_the_monitor_through_eventbridge" {
  command = plan

  assert {
    condition     = aws_s3_bucket_notification.processed.eventbridge == true
    error_message = "The processed bucket must send its events to EventBridge (S3 refuses a second notification on actuals/)."
  }

  assert {
    condition = jsondecode(aws_cloudwatch_event_rule.actuals_arrived.event_pattern) == {
      source        = ["aws.s3"]
      "detail-type" = ["Object Created"]
      detail        = { bucket = { name = ["test-stack-processed"] }, object = { key = [{ prefix = "actuals/" }] } }
    }
    error_message = "The rule must match objects created under actuals/ in the processed bucket, and nothing else."
  }

  assert {
    condition     = aws_cloudwatch_event_target.monitor["actuals_arrived"].arn == "arn:aws:lambda:eu-west-1:123456789012:function:test-stack-monitor" && aws_lambda_permission.allow_eventbridge["actuals_arrived"].principal == "events.amazonaws.com" && aws_lambda_permission.allow_eventbridge["actuals_arrived"].source_arn == "arn:aws:events:eu-west-1:123456789012:rule/test-stack-actuals-arrived"
    error_message = "The rule must invoke the monitor, which only that rule may invoke for it."
  }
}

run "workflow_executions_ending_without_a_forecast_reach_the_monitor" {
  command = plan

  assert {
    condition = jsondecode(aws_cloudwatch_event_rule.workflow_ended.event_pattern) == {
      source        = ["aws.states"]
      "detail-type" = ["Step Functions Execution Status Change"]
      detail        = { status = ["FAILED", "TIMED_OUT", "ABORTED"], stateMachineArn = ["arn:aws:states:eu-west-1:123456789012:stateMachine:test-stack-forecast-shards", "arn:aws:states:eu-west-1:123456789012:stateMachine:test-stack-ingest-shards"] }
    }
    error_message = "The rule must match the forecast workflow's failed, timed-out and aborted executions only."
  }

  assert {
    condition     = aws_cloudwatch_event_target.monitor["workflow_ended"].arn == "arn:aws:lambda:eu-west-1:123456789012:function:test-stack-monitor"
    error_message = "The workflow rule must invoke the monitor."
  }
}

run "monitor_policy_reads_what_it_scores_and_writes_only_accuracy_and_run_failures" {
  command = plan

  assert {
    condition = toset(flatten([
      for s in jsondecode(module.monitor.lambda_role_policy_json).Statement : [
        for a in flatten([s.Action]) : [for r in flatten([s.Resource]) : "${a} ${r}"]
      ]
      ])) == toset([
      "logs:CreateLogStream arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/test-stack-monitor:*",
      "logs:PutLogEvents arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/test-stack-monitor:*",
      "s3:ListBucket arn:aws:s3:::test-stack-output",
      "s3:ListBucket arn:aws:s3:::test-stack-processed",
      "s3:GetObject arn:aws:s3:::test-stack-processed/actuals/*",
      "s3:GetObject arn:aws:s3:::test-stack-processed/reference/*",
      "s3:GetObject arn:aws:s3:::test-stack-output/runs/*",
      "s3:GetObject arn:aws:s3:::test-stack-output/forecasts/*",
      "s3:GetObject arn:aws:s3:::test-stack-output/accuracy/*",
      "s3:PutObject arn:aws:s3:::test-stack-output/accuracy/*",
      "s3:PutObject arn:aws:s3:::test-stack-output/runs/*",
      "dynamodb:BatchGetItem arn:aws:dynamodb:eu-west-1:123456789012:table/test-stack-history",
      "dynamodb:GetItem arn:aws:dynamodb:eu-west-1:123456789012:table/test-stack-history",
      "sqs:SendMessage arn:aws:sqs:eu-west-1:123456789012:test-stack-dlq",
    ])
    error_message = "The monitor reads what it scores, writes only accuracy/ and runs/, and only reads the history table: ${module.monitor.lambda_role_policy_json}"
  }

  assert {
    condition = alltrue([
      for st in jsondecode(module.monitor.lambda_role_policy_json).Statement : !can(st.Condition) if contains(flatten([st.Action]), "s3:ListBucket")
    ])
    error_message = "The monitor's s3:ListBucket must carry no s3:prefix condition (on AWS every missing object would be a 403)."
  }

  assert {
    condition     = length(aws_iam_role_policy.monitor_put_metrics) == 0 && module.monitor.lambda_function_environment_variables["METRICS_DESTINATION"] == "emf"
    error_message = "By default (AWS) metrics go out as EMF log lines: no PutMetricData permission."
  }

  assert {
    condition     = module.monitor.lambda_function_environment_variables["POWERTOOLS_METRICS_NAMESPACE"] == "GroceryForecast" && module.monitor.lambda_function_environment_variables["STACK_NAME"] == "test-stack"
    error_message = "The monitor publishes to the metrics namespace with the stack as a dimension."
  }
}

run "put_metric_data_only_for_an_emulator_without_emf_and_only_its_namespace" {
  command = plan

  variables {
    metrics_destination = "api"
  }

  assert {
    condition = jsondecode(aws_iam_role_policy.monitor_put_metrics[0].policy).Statement[0].Condition == {
      StringEquals = { "cloudwatch:namespace" = "GroceryForecast" }
    } && jsondecode(aws_iam_role_policy.monitor_put_metrics[0].policy).Statement[0].Action == "cloudwatch:PutMetricData"
    error_message = "PutMetricData must be limited to the accuracy namespace."
  }
}

################################################################################
# Alarms and dashboard
################################################################################

run "every_function_has_errors_throttles_and_duration_alarms" {
  command = plan

  variables {
    alarm_actions                     = ["arn:aws:sns:eu-west-1:123456789012:ops"]
    duration_alarm_percent_of_timeout = 75
  }

  assert {
    condition     = alltrue([for m in [module.etl, module.predict, module.monitor] : m.cloudwatch_errors_alarm_name != null && m.cloudwatch_throttles_alarm_name != null && m.cloudwatch_duration_alarm_name != null])
    error_message = "Each function needs its errors, throttles and duration alarms."
  }

  assert {
    condition     = module.predict.cloudwatch_duration_alarm_threshold_ms == 225000 && module.etl.cloudwatch_duration_alarm_threshold_ms == 225000
    error_message = "Duration alarms fire above 75% of each function's 300 s timeout (225,000 ms)."
  }

  assert {
    condition     = length(output.alarm_names) == 18
    error_message = "DLQ + 4 functions x 3 + 3 forecast workflow + model-worse-than-baseline + failed retraining = 18 alarms."
  }
}

run "failed_timed_out_and_aborted_executions_of_the_workflow_alarm" {
  command = plan

  assert {
    condition = {
      for k, a in aws_cloudwatch_metric_alarm.workflow : a.metric_name => a.dimensions["StateMachineArn"]
      } == {
      ExecutionsFailed   = "arn:aws:states:eu-west-1:123456789012:stateMachine:test-stack-forecast-shards"
      ExecutionsTimedOut = "arn:aws:states:eu-west-1:123456789012:stateMachine:test-stack-forecast-shards"
      ExecutionsAborted  = "arn:aws:states:eu-west-1:123456789012:stateMachine:test-stack-forecast-shards"
    }
    error_message = "One alarm per way an execution ends without a forecast, on the forecast workflow."
  }

  assert {
    condition     = alltrue([for a in aws_cloudwatch_metric_alarm.workflow : a.namespace == "AWS/States" && a.threshold == 0 && a.comparison_operator == "GreaterThanThreshold"])
    error_message = "A single such execution must set the alarm off."
  }
}

run "model_worse_than_baseline_alarms_on_the_published_streak" {
  command = plan

  variables {
    accuracy_alarm_days = 5
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.model_worse_than_baseline[0].namespace == "GroceryForecast" &&
      aws_cloudwatch_metric_alarm.model_worse_than_baseline[0].metric_name == "DaysWorseThanBaseline" &&
      aws_cloudwatch_metric_alarm.model_worse_than_baseline[0].dimensions["service"] == "monitor" &&
      aws_cloudwatch_metric_alarm.model_worse_than_baseline[0].dimensions["stack"] == "test-stack" &&
      length(aws_cloudwatch_metric_alarm.model_worse_than_baseline[0].dimensions) == 2 &&
      aws_cloudwatch_metric_alarm.model_worse_than_baseline[0].threshold == 5 &&
      aws_cloudwatch_metric_alarm.model_worse_than_baseline[0].comparison_operator == "GreaterThanOrEqualToThreshold"
    )
    error_message = "The alarm must go off when the monitor's streak reaches accuracy_alarm_days, on the dimensions the handler publishes."
  }

  assert {
    condition     = module.monitor.lambda_function_environment_variables["ACCURACY_STREAK_LOOKBACK_DAYS"] == "31"
    error_message = "The monitor must count the streak back far enough for the alarm's N."
  }
}

run "no_alarm_when_alarms_are_off_but_the_dashboard_stays" {
  command = plan

  variables {
    create_alarms = false
  }

  assert {
    condition     = length(output.alarm_names) == 0 && length(aws_cloudwatch_metric_alarm.workflow) == 0 && length(aws_cloudwatch_metric_alarm.model_worse_than_baseline) == 0
    error_message = "create_alarms = false must create no alarm at all."
  }

  assert {
    condition     = output.dashboard_name == "test-stack"
    error_message = "The dashboard does not depend on the alarms."
  }
}

run "dashboard_shows_accuracy_functions_queue_and_workflow" {
  command = plan

  assert {
    condition = toset(flatten([
      for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : [for m in w.properties.metrics : m[1]]
    ])) == toset(["RealizedNWRMSLE_model", "RealizedNWRMSLE_moving_median", "RealizedNWRMSLE_dow_mean", "ModelToBestBaselineRatio", "DaysWorseThanBaseline", "Errors", "Throttles", "Duration", "ApproximateNumberOfMessagesVisible", "ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"])
    error_message = "The dashboard must show realized accuracy, the functions' errors, throttles and durations, the DLQ and the workflow's failures."
  }
}

run "monitor_settings_are_validated" {
  command = plan

  variables {
    accuracy_alarm_days = 0
    metrics_destination = "stdout"
    metrics_namespace   = "AWS/Lambda"
    monitor_memory_mb   = 64
  }

  expect_failures = [var.accuracy_alarm_days, var.metrics_destination, var.metrics_namespace, var.monitor_memory_mb]
}

run "duration_percentage_is_validated" {
  command = plan

  variables {
    duration_alarm_percent_of_timeout = 0
  }

  expect_failures = [var.duration_alarm_percent_of_timeout]
}
