################################################################################
# Monitor: the stack watching itself. One small function, fed by EventBridge:
# * processed actuals arrived -> score the forecasts served for their days (realized accuracy),
#   stored under accuracy/ and published as CloudWatch metrics;
# * the forecast workflow's execution failed, timed out or was aborted -> its run ends failed.
################################################################################

locals {
  monitor_function_name = "${var.name_prefix}-monitor"

  # The metric the "model worse than baseline" alarm watches, and its dimensions (Powertools adds
  # `service` from POWERTOOLS_SERVICE_NAME; the handler adds `stack`, so two stacks in one account
  # do not mix).
  accuracy_metric_dimensions = { service = "monitor", stack = var.name_prefix }

  # Step Functions publishes these per state machine; each one means runs that ended without a forecast.
  workflow_failure_metrics = {
    failed    = "ExecutionsFailed"
    timed-out = "ExecutionsTimedOut"
    aborted   = "ExecutionsAborted"
  }
}

module "monitor" {
  source = "../lambda-function"

  function_name = local.monitor_function_name
  description   = "Scores served forecasts once their actuals arrive (realized accuracy) and ends runs whose forecast workflow ended without a forecast."
  handler       = "handler.lambda_handler"
  runtime       = var.lambda_runtime
  memory_size   = var.monitor_memory_mb
  timeout       = var.monitor_timeout_seconds

  package_path     = var.monitor_package_path
  artifacts_bucket = module.bucket["artifacts"].s3_bucket_id

  environment_variables = {
    HISTORY_TABLE                 = module.history_table.dynamodb_table_name
    OUTPUT_BUCKET                 = module.bucket["output"].s3_bucket_id
    PROCESSED_BUCKET              = module.bucket["processed"].s3_bucket_id
    LOG_LEVEL                     = var.log_level
    POWERTOOLS_SERVICE_NAME       = local.accuracy_metric_dimensions.service
    POWERTOOLS_METRICS_NAMESPACE  = var.metrics_namespace
    STACK_NAME                    = var.name_prefix
    METRICS_DESTINATION           = var.metrics_destination
    ACCURACY_STREAK_LOOKBACK_DAYS = tostring(max(31, var.accuracy_alarm_days))
  }

  policy_statements = [
    {
      # Whole buckets, so a missing object is a 404 (why not under an s3:prefix condition: lambdas.tf).
      sid       = "ListOutputAndProcessed"
      actions   = ["s3:ListBucket"]
      resources = [local.output_bucket_arn, local.processed_bucket_arn]
    },
    {
      # The arrived file's hand-off (HeadObject) and, without a manifest, its dates; items.csv for the weights.
      sid     = "ReadActualsAndReference"
      actions = ["s3:GetObject"]
      resources = [
        "${local.processed_bucket_arn}/actuals/*",
        "${local.processed_bucket_arn}/reference/*",
      ]
    },
    {
      # Manifests (which forecasts cover the arrived days), the forecasts, earlier accuracy records.
      sid     = "ReadRunsForecastsAccuracy"
      actions = ["s3:GetObject"]
      resources = [
        "${local.output_bucket_arn}/runs/*",
        "${local.output_bucket_arn}/forecasts/*",
        "${local.output_bucket_arn}/accuracy/*",
      ]
    },
    {
      # accuracy/: the scores; runs/: a run whose workflow ended without a forecast ends failed.
      sid     = "WriteAccuracyAndRunFailures"
      actions = ["s3:PutObject"]
      resources = [
        "${local.output_bucket_arn}/accuracy/*",
        "${local.output_bucket_arn}/runs/*",
      ]
    },
    {
      # The history of the forecast series (actuals and the baselines' lookback): read only.
      sid       = "ReadHistory"
      actions   = local.read_series_actions
      resources = [module.history_table.dynamodb_table_arn]
    },
    local.send_to_dlq_statement,
  ]

  log_retention_days           = var.log_retention_days
  cloudwatch_logs_kms_key_arn  = local.cloudwatch_logs_kms_key_arn
  maximum_retry_attempts       = var.maximum_retry_attempts
  maximum_event_age_in_seconds = var.maximum_event_age_in_seconds
  destination_on_failure       = aws_sqs_queue.dlq.arn

  create_errors_alarm               = var.create_alarms
  create_throttles_alarm            = var.create_alarms
  create_duration_alarm             = var.create_alarms
  duration_alarm_percent_of_timeout = var.duration_alarm_percent_of_timeout
  alarm_actions                     = var.alarm_actions

  tags = var.tags
}

# Only where EMF log lines are not turned into metrics (the local emulator). PutMetricData has no
# resource-level permissions, so the resource is "*" (which the lambda-function module refuses in its
# statements) and the namespace condition is what scopes it.
resource "aws_iam_role_policy" "monitor_put_metrics" {
  count = var.metrics_destination == "api" ? 1 : 0

  name = "put-accuracy-metrics"
  role = module.monitor.lambda_role_name

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "PutAccuracyMetrics"
      Effect    = "Allow"
      Action    = "cloudwatch:PutMetricData"
      Resource  = "*"
      Condition = { StringEquals = { "cloudwatch:namespace" = var.metrics_namespace } }
    }]
  })
}

################################################################################
# EventBridge: what invokes the monitor
################################################################################

# The processed bucket sends its events to EventBridge too (notifications.tf: eventbridge = true): S3
# refuses two notification configurations on overlapping prefixes, and actuals/ already goes to predict.
resource "aws_cloudwatch_event_rule" "actuals_arrived" {
  name        = "${var.name_prefix}-actuals-arrived"
  description = "Cleaned actuals in the processed bucket: score the forecasts served for their days."

  event_pattern = jsonencode({
    source        = ["aws.s3"]
    "detail-type" = ["Object Created"]
    detail = {
      bucket = { name = [module.bucket["processed"].s3_bucket_id] }
      object = { key = [{ prefix = "actuals/" }] }
    }
  })

  tags = var.tags
}

# Step Functions sends every status change of a Standard execution to the default bus. A Catch in
# the state machine (RecordFailure) sees task errors only; this sees timeouts, aborts and a failing
# RecordFailure too.
resource "aws_cloudwatch_event_rule" "workflow_ended" {
  name        = "${var.name_prefix}-forecast-workflow-ended"
  description = "The sharded forecast's or ingest's execution failed, timed out or was aborted: its run ends failed."

  event_pattern = jsonencode({
    source        = ["aws.states"]
    "detail-type" = ["Step Functions Execution Status Change"]
    detail = {
      status          = ["FAILED", "TIMED_OUT", "ABORTED"]
      stateMachineArn = [module.forecast_workflow.state_machine_arn, module.ingest_workflow.state_machine_arn]
    }
  })

  tags = var.tags
}

resource "aws_cloudwatch_event_target" "monitor" {
  for_each = {
    actuals_arrived = aws_cloudwatch_event_rule.actuals_arrived.name
    workflow_ended  = aws_cloudwatch_event_rule.workflow_ended.name
  }

  rule      = each.value
  target_id = "monitor"
  arn       = module.monitor.lambda_function_arn
}

resource "aws_lambda_permission" "allow_eventbridge" {
  for_each = {
    actuals_arrived = aws_cloudwatch_event_rule.actuals_arrived.arn
    workflow_ended  = aws_cloudwatch_event_rule.workflow_ended.arn
  }

  statement_id  = "AllowInvokeFromEventBridge-${replace(each.key, "_", "-")}"
  action        = "lambda:InvokeFunction"
  function_name = module.monitor.lambda_function_name
  principal     = "events.amazonaws.com"
  source_arn    = each.value
}

################################################################################
# Alarms: the forecast workflow's failed executions, and the model doing worse than the baseline
################################################################################

resource "aws_cloudwatch_metric_alarm" "workflow" {
  for_each = var.create_alarms ? local.workflow_failure_metrics : {}

  alarm_name        = "${local.workflow_name}-executions-${each.key}"
  alarm_description = "A sharded forecast's workflow execution ${each.key == "failed" ? "failed" : each.key == "timed-out" ? "timed out" : "was aborted"}: its run ended failed (grocery-forecast status names the shard and the error)."

  namespace   = "AWS/States"
  metric_name = each.value
  dimensions  = { StateMachineArn = module.forecast_workflow.state_machine_arn }
  statistic   = "Sum"
  period      = 300

  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"

  alarm_actions = var.alarm_actions
  ok_actions    = var.alarm_actions

  tags = var.tags
}

# The monitor publishes, with each arrival of actuals, how many days in a row (days of data, up to the
# newest scored) the served forecasts scored worse than the best baseline. Counted on the data's days,
# so a backfill of a month counts a month, and CloudWatch's evaluation window does not limit N.
resource "aws_cloudwatch_metric_alarm" "model_worse_than_baseline" {
  count = var.create_alarms ? 1 : 0

  alarm_name        = "${var.name_prefix}-model-worse-than-baseline"
  alarm_description = "For ${var.accuracy_alarm_days} day(s) in a row the served forecasts scored worse (NWRMSLE) than the best baseline: see grocery-forecast accuracy, then retrain or roll back (grocery-forecast models rollback)."

  namespace   = var.metrics_namespace
  metric_name = "DaysWorseThanBaseline"
  dimensions  = local.accuracy_metric_dimensions
  statistic   = "Maximum"
  period      = 86400

  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = var.accuracy_alarm_days
  treat_missing_data  = "missing"

  alarm_actions = var.alarm_actions
  ok_actions    = var.alarm_actions

  tags = var.tags
}

################################################################################
# Dashboard
################################################################################

locals {
  functions = [local.etl_function_name, local.predict_function_name, local.monitor_function_name]

  dashboard_widgets = [
    {
      type = "metric", x = 0, y = 0, width = 12, height = 6
      properties = {
        title   = "Realized accuracy (NWRMSLE, lower is better)"
        region  = local.region
        stat    = "Average"
        period  = 86400
        metrics = [for m in ["model", "moving_median", "dow_mean"] : [var.metrics_namespace, "RealizedNWRMSLE_${m}", "service", "monitor", "stack", var.name_prefix, { label = m }]]
      }
    },
    {
      type = "metric", x = 12, y = 0, width = 12, height = 6
      properties = {
        title  = "Model / best baseline, and days in a row worse"
        region = local.region
        period = 86400
        metrics = [
          [var.metrics_namespace, "ModelToBestBaselineRatio", "service", "monitor", "stack", var.name_prefix, { stat = "Average" }],
          [var.metrics_namespace, "DaysWorseThanBaseline", "service", "monitor", "stack", var.name_prefix, { stat = "Maximum", yAxis = "right" }],
        ]
        annotations = { horizontal = [{ value = 1, label = "baseline" }] }
      }
    },
    {
      type = "metric", x = 0, y = 6, width = 8, height = 6
      properties = {
        title   = "Lambda errors and throttles"
        region  = local.region
        stat    = "Sum"
        period  = 300
        metrics = concat([for f in local.functions : ["AWS/Lambda", "Errors", "FunctionName", f]], [for f in local.functions : ["AWS/Lambda", "Throttles", "FunctionName", f]])
      }
    },
    {
      type = "metric", x = 8, y = 6, width = 8, height = 6
      properties = {
        title   = "Lambda duration (maximum, ms)"
        region  = local.region
        stat    = "Maximum"
        period  = 300
        metrics = [for f in local.functions : ["AWS/Lambda", "Duration", "FunctionName", f]]
      }
    },
    {
      type = "metric", x = 16, y = 6, width = 8, height = 6
      properties = {
        title  = "Dead-letter queue and forecast workflow"
        region = local.region
        period = 300
        metrics = concat(
          [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.dlq.name, { stat = "Maximum" }]],
          [for m in values(local.workflow_failure_metrics) : ["AWS/States", m, "StateMachineArn", module.forecast_workflow.state_machine_arn, { stat = "Sum" }]],
        )
      }
    },
  ]
}

resource "aws_cloudwatch_dashboard" "this" {
  count = var.create_dashboard ? 1 : 0

  dashboard_name = var.name_prefix
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
