locals {
  common_environment = {
    HISTORY_TABLE    = module.history_table.dynamodb_table_name
    OUTPUT_BUCKET    = module.bucket["output"].s3_bucket_id
    PROCESSED_BUCKET = module.bucket["processed"].s3_bucket_id
    FORECAST_HORIZON = tostring(var.forecast_horizon)
    LOG_LEVEL        = var.log_level
    # How many times Lambda retries a failed event: a run's manifest says "retrying" until the last attempt.
    MAX_RETRY_ATTEMPTS = tostring(var.maximum_retry_attempts)
  }

  # s3:ListBucket on each bucket a function reads makes a missing object a 404 on AWS instead of a 403
  # AccessDenied, so "not uploaded yet", "no manifest yet" and "no model published" read as such. It is granted
  # on the whole bucket, not under an s3:prefix condition: S3 decides 404 or 403 by evaluating ListBucket in
  # the GetObject request's own context, which has no s3:prefix key, so a prefix-conditioned grant never
  # applies there and every missing object would be a 403. ListBucket reveals key names, never contents:
  # what a function may read or write stays scoped to its prefixes by GetObject/PutObject.
  list_grants = {
    etl     = { ListRaw = local.raw_bucket_arn, ListProcessed = local.processed_bucket_arn, ListOutput = local.output_bucket_arn }
    predict = { ListProcessed = local.processed_bucket_arn, ListModels = local.models_bucket_arn, ListOutput = local.output_bucket_arn }
  }

  list_statements = {
    for function, grants in local.list_grants : function => [
      for sid, bucket in grants : { sid = sid, actions = ["s3:ListBucket"], resources = [bucket], conditions = [] }
    ]
  }

  send_to_dlq_statement = {
    sid       = "SendFailedEventsToDlq"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dlq.arn]
  }

  # The ETL merges year buckets (BatchGet + BatchWrite), takes and releases the writer lease
  # (conditional PutItem / DeleteItem), extends the stored date range (conditional UpdateItem) and
  # changes the recorded partition count only while no lease is held (TransactWriteItems: an
  # UpdateItem and a ConditionCheckItem per lease).
  etl_table_actions = [
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
  ]

  # Reading the history of given series: one BatchGetItem key per series and year, GetItem for
  # the date range (the monitor).
  read_series_actions = [
    "dynamodb:BatchGetItem",
    "dynamodb:GetItem",
  ]

  # Predict only reads: the series it forecasts and, with forecast_pool_over_history, every series the
  # history's series index names (BatchGetItem), so the pooled item/store/class/family features are
  # training's. The index is one partition ("__index__"): predict may Query that partition and no other.
  predict_index_statements = var.forecast_pool_over_history ? [
    {
      sid        = "QuerySeriesIndex"
      actions    = ["dynamodb:Query"]
      resources  = [module.history_table.dynamodb_table_arn]
      conditions = [{ test = "ForAllValues:StringEquals", variable = "dynamodb:LeadingKeys", values = ["__index__"] }]
    },
  ] : []
}

################################################################################
# ETL: raw upload -> validated, cleaned history + processed copy
################################################################################

module "etl" {
  source = "../lambda-function"

  function_name = local.etl_function_name
  description   = "Validates and cleans uploaded sales CSVs, upserts them into the history table and hands them to predict."
  handler       = "handler.lambda_handler"
  runtime       = var.lambda_runtime
  memory_size   = var.etl_memory_mb
  timeout       = var.etl_timeout_seconds

  package_path     = var.etl_package_path
  artifacts_bucket = module.bucket["artifacts"].s3_bucket_id

  environment_variables = merge(
    local.common_environment,
    {
      POWERTOOLS_SERVICE_NAME  = "etl"
      INGEST_SHARD_BYTES       = tostring(var.ingest_shard_bytes)
      INGEST_PARTITIONS        = tostring(var.ingest_partitions)
      INGEST_STATE_MACHINE_ARN = module.ingest_workflow.state_machine_arn
      # A sharded ingest failing after its retries dead-letters its upload here (SendFailedEventsToDlq),
      # as Lambda does for a failed invocation, so `grocery-forecast replay` redrives it.
      DEAD_LETTER_QUEUE_URL = aws_sqs_queue.dlq.url
    },
    # Unset: the library derives it from the function's memory size (AWS_LAMBDA_FUNCTION_MEMORY_SIZE).
    var.ingest_bucket_rows == 0 ? {} : { INGEST_BUCKET_ROWS = tostring(var.ingest_bucket_rows) },
    # Test-only fault injection (pipeline/faults.py): set by the local root, never by the AWS one.
    var.etl_fault_marker == "" ? {} : { ETL_FAULT_MARKER = var.etl_fault_marker },
  )

  policy_statements = concat(local.list_statements.etl, [
    {
      # GetObjectVersion: the ETL reads the object version its event names (the raw bucket is
      # versioned), not whatever a later upload to the same key has put there since.
      sid       = "ReadRawUploads"
      actions   = ["s3:GetObject", "s3:GetObjectVersion"]
      resources = ["${local.raw_bucket_arn}/*"]
    },
    {
      sid     = "WriteProcessed"
      actions = ["s3:PutObject"]
      resources = [
        "${local.processed_bucket_arn}/actuals/*",
        "${local.processed_bucket_arn}/requests/*",
        "${local.processed_bucket_arn}/reference/*",
      ]
    },
    {
      sid     = "WriteRejectionsAndRuns"
      actions = ["s3:PutObject"]
      resources = [
        "${local.output_bucket_arn}/rejected/*",
        "${local.output_bucket_arn}/runs/*",
      ]
    },
    {
      sid       = "ReadReferenceIds"
      actions   = ["s3:GetObject"]
      resources = ["${local.processed_bucket_arn}/reference/*"]
    },
    {
      # The previous manifest of the same run: attempt numbers across Lambda's retries.
      sid       = "ReadRuns"
      actions   = ["s3:GetObject"]
      resources = ["${local.output_bucket_arn}/runs/*"]
    },
    {
      sid       = "ReadWriteHistory"
      actions   = local.etl_table_actions
      resources = [module.history_table.dynamodb_table_arn]
    },
    {
      # The sharded ingest: plan, split parts of a .csv.gz, rows by partition, task statuses.
      sid       = "ReadWriteIngest"
      actions   = ["s3:GetObject", "s3:PutObject"]
      resources = ["${local.processed_bucket_arn}/ingest/*"]
    },
    {
      sid       = "StartShardedIngests"
      actions   = ["states:StartExecution"]
      resources = [module.ingest_workflow.state_machine_arn]
    },
    {
      # A duplicate S3 event finds the upload's workflow still running and does not start another.
      sid       = "LookUpShardedIngests"
      actions   = ["states:DescribeExecution"]
      resources = [module.ingest_workflow.execution_arns]
    },
    local.send_to_dlq_statement,
  ])

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

################################################################################
# Predict: processed actuals / forecast request -> forecast CSV + run manifest
################################################################################

module "predict" {
  source = "../lambda-function"

  function_name = local.predict_function_name
  description   = "Forecasts the series of a processed actuals file or forecast request with the current model."
  handler       = "handler.lambda_handler"
  runtime       = var.lambda_runtime
  memory_size   = var.predict_memory_mb
  timeout       = var.predict_timeout_seconds

  package_path     = var.predict_package_path
  artifacts_bucket = module.bucket["artifacts"].s3_bucket_id

  environment_variables = merge(
    local.common_environment,
    {
      MODELS_BUCKET              = module.bucket["models"].s3_bucket_id
      POWERTOOLS_SERVICE_NAME    = "predict"
      FORECAST_SHARD_ROWS        = tostring(var.forecast_shard_rows)
      FORECAST_STATE_MACHINE_ARN = module.forecast_workflow.state_machine_arn
      FORECAST_POOL_OVER_HISTORY = tostring(var.forecast_pool_over_history)
    },
    # Test-only fault injection (pipeline/shards.py): set by the local root, never by the AWS one.
    var.forecast_shard_fault_marker == "" ? {} : { FORECAST_SHARD_FAULT = var.forecast_shard_fault_marker },
  )

  policy_statements = concat(local.list_statements.predict, [
    {
      sid     = "ReadProcessed"
      actions = ["s3:GetObject"]
      resources = [
        "${local.processed_bucket_arn}/actuals/*",
        "${local.processed_bucket_arn}/requests/*",
        "${local.processed_bucket_arn}/reference/*",
      ]
    },
    {
      sid       = "ReadModels"
      actions   = ["s3:GetObject"]
      resources = ["${local.models_bucket_arn}/models/*"]
    },
    {
      sid     = "WriteForecastsAndRuns"
      actions = ["s3:PutObject"]
      resources = [
        "${local.output_bucket_arn}/forecasts/*",
        "${local.output_bucket_arn}/runs/*",
      ]
    },
    {
      sid       = "ReadRuns"
      actions   = ["s3:GetObject"]
      resources = ["${local.output_bucket_arn}/runs/*"]
    },
    {
      sid       = "ReadHistory"
      actions   = local.read_series_actions
      resources = [module.history_table.dynamodb_table_arn]
    },
    {
      # The sharded forecast: plan, shard inputs, per-shard history, sums, forecasts and statuses.
      sid       = "ReadWriteShards"
      actions   = ["s3:GetObject", "s3:PutObject"]
      resources = ["${local.processed_bucket_arn}/shards/*"]
    },
    {
      sid       = "StartShardedForecasts"
      actions   = ["states:StartExecution"]
      resources = [module.forecast_workflow.state_machine_arn]
    },
    {
      # A duplicate S3 event finds the run's workflow still running and does not start another.
      sid       = "LookUpShardedForecasts"
      actions   = ["states:DescribeExecution"]
      resources = [module.forecast_workflow.execution_arns]
    },
    local.send_to_dlq_statement,
  ], local.predict_index_statements)

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
