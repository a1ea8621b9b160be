locals {
  # Hex SHA-256 of the package: part of the S3 key, so a new build is a new object and a new deployment.
  package_sha256 = filesha256(var.package_path)
  package_key    = "${var.artifacts_key_prefix}${var.function_name}/${local.package_sha256}.zip"
}

################################################################################
# Package
################################################################################

# Lambda refuses direct uploads above 50 MB (the predict bundle with LightGBM and pandas is larger),
# so the package always goes through S3.
resource "aws_s3_object" "package" {
  bucket = var.artifacts_bucket
  key    = local.package_key
  source = var.package_path

  content_type = "application/zip"

  tags = var.tags

  # Upload the new package (and point the function at it) before deleting the old one.
  # Tags are not compared after creation: the key is the content hash, so tags only describe an
  # immutable artifact, and MiniStack drops the x-amz-tagging header of multipart uploads (every
  # real bundle is one), which otherwise shows a tag diff on the plan after each redeploy.
  lifecycle {
    create_before_destroy = true
    ignore_changes        = [tags, tags_all]
  }
}

################################################################################
# Logging
################################################################################

# Created by Terraform (not lazily by Lambda) so retention and tags are managed and destroy removes it.
resource "aws_cloudwatch_log_group" "lambda" {
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.cloudwatch_logs_kms_key_arn

  tags = var.tags
}

################################################################################
# Function
################################################################################

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_50:Active X-Ray tracing needs xray:PutTraceSegments on Resource "*" (X-Ray has no resource-level permissions), which the no-wildcard policy refuses
  #checkov:skip=CKV_AWS_116:Failed asynchronous invocations go to the on-failure destination (event invoke config below); a dead_letter_config too would deliver every failure twice
  #checkov:skip=CKV_AWS_117:The function only calls S3, DynamoDB, SQS and CloudWatch Logs over TLS; a VPC would need NAT or endpoints and guards no private resource
  #checkov:skip=CKV_AWS_173:The environment holds resource names and settings, never secrets (see environment_variables); Lambda encrypts it at rest with the AWS managed key
  #checkov:skip=CKV_AWS_272:Packages are built by the project and deployed by SHA-256 (S3 key and source_code_hash); signing would add an AWS Signer profile and a job per build
  function_name = var.function_name
  description   = var.description
  role          = aws_iam_role.lambda.arn

  handler       = var.handler
  runtime       = var.runtime
  architectures = var.architectures
  memory_size   = var.memory_size
  timeout       = var.timeout

  ephemeral_storage {
    size = var.ephemeral_storage_size
  }

  s3_bucket        = aws_s3_object.package.bucket
  s3_key           = aws_s3_object.package.key
  source_code_hash = filebase64sha256(var.package_path)

  reserved_concurrent_executions = var.reserved_concurrent_executions

  # An empty environment block is a perpetual diff: only declare it when there is something in it.
  dynamic "environment" {
    for_each = length(var.environment_variables) > 0 ? [var.environment_variables] : []

    content {
      variables = environment.value
    }
  }

  tags = var.tags

  # The log group and the role's permissions must exist before the first invocation.
  depends_on = [
    aws_cloudwatch_log_group.lambda,
    aws_iam_role_policy.lambda,
  ]
}

################################################################################
# Asynchronous invocation
################################################################################

resource "aws_lambda_function_event_invoke_config" "this" {
  function_name = aws_lambda_function.this.function_name

  maximum_retry_attempts       = var.maximum_retry_attempts
  maximum_event_age_in_seconds = var.maximum_event_age_in_seconds

  dynamic "destination_config" {
    for_each = var.destination_on_failure == null ? [] : [var.destination_on_failure]

    content {
      on_failure {
        destination = destination_config.value
      }
    }
  }
}

################################################################################
# Alarm: any failed attempt (a retry that later succeeds included) is worth a look
################################################################################

resource "aws_cloudwatch_metric_alarm" "errors" {
  count = var.create_errors_alarm ? 1 : 0

  alarm_name        = "${var.function_name}-errors"
  alarm_description = "The ${var.function_name} Lambda function failed at least ${var.errors_alarm_threshold} time(s) in ${var.errors_alarm_period_seconds} s: see its log group and the run manifests (grocery-forecast status)."

  namespace   = "AWS/Lambda"
  metric_name = "Errors"
  dimensions  = { FunctionName = aws_lambda_function.this.function_name }
  statistic   = "Sum"
  period      = var.errors_alarm_period_seconds

  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = var.errors_alarm_threshold
  treat_missing_data  = "notBreaching"

  alarm_actions = var.alarm_actions
  ok_actions    = var.alarm_actions

  tags = var.tags
}

################################################################################
# Alarms: throttled invocations (lost concurrency) and durations close to the timeout (a killed
# invocation is next)
################################################################################

resource "aws_cloudwatch_metric_alarm" "throttles" {
  count = var.create_throttles_alarm ? 1 : 0

  alarm_name        = "${var.function_name}-throttles"
  alarm_description = "The ${var.function_name} Lambda function was throttled in ${var.errors_alarm_period_seconds} s: asynchronous events wait and retry (up to their maximum age), then go to the dead-letter queue. Raise its reserved concurrency or the account's limit."

  namespace   = "AWS/Lambda"
  metric_name = "Throttles"
  dimensions  = { FunctionName = aws_lambda_function.this.function_name }
  statistic   = "Sum"
  period      = var.errors_alarm_period_seconds

  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"

  alarm_actions = var.alarm_actions
  ok_actions    = var.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "duration" {
  count = var.create_duration_alarm ? 1 : 0

  alarm_name        = "${var.function_name}-duration-near-timeout"
  alarm_description = "An invocation of ${var.function_name} ran over ${var.duration_alarm_percent_of_timeout}% of its ${var.timeout} s timeout: the next larger input may be killed. Split the input, or raise timeout (and memory, which brings CPU)."

  namespace   = "AWS/Lambda"
  metric_name = "Duration"
  dimensions  = { FunctionName = aws_lambda_function.this.function_name }
  statistic   = "Maximum"
  period      = var.errors_alarm_period_seconds

  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = floor(var.timeout * 1000 * var.duration_alarm_percent_of_timeout / 100) # milliseconds
  treat_missing_data  = "notBreaching"

  alarm_actions = var.alarm_actions
  ok_actions    = var.alarm_actions

  tags = var.tags
}
