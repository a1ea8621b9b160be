# Wiring of the stack, checked on a plan against a mocked AWS provider: no credentials, no emulator, seconds.
# Run from terraform/modules/forecasting-stack:  terraform init -backend=false && terraform test

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
  monitor_package_path = "outputs.tf"
  train_package_path   = "outputs.tf"
}

################################################################################
# Names and outputs
################################################################################

run "outputs_name_every_resource_a_client_needs" {
  command = plan

  assert {
    condition = [
      output.raw_bucket_name, output.processed_bucket_name, output.output_bucket_name,
      output.models_bucket_name, output.artifacts_bucket_name,
      ] == [
      "test-stack-raw", "test-stack-processed", "test-stack-output",
      "test-stack-models", "test-stack-artifacts",
    ]
    error_message = "Bucket outputs must be <name_prefix>-raw/-processed/-output/-models/-artifacts."
  }

  assert {
    condition     = output.history_table_name == "test-stack-history"
    error_message = "history_table_name must be <name_prefix>-history."
  }

  assert {
    condition     = output.etl_function_name == "test-stack-etl" && output.predict_function_name == "test-stack-predict"
    error_message = "Function outputs must be <name_prefix>-etl and <name_prefix>-predict."
  }

  assert {
    condition     = output.dlq_queue_arn == "arn:aws:sqs:eu-west-1:123456789012:test-stack-dlq" && output.dlq_queue_url == "https://sqs.eu-west-1.amazonaws.com/123456789012/test-stack-dlq"
    error_message = "dlq_queue_arn / dlq_queue_url must come from the queue."
  }

  assert {
    condition     = output.region == "eu-west-1"
    error_message = "region must come from the provider's region."
  }

  assert {
    condition     = output.etl_log_group_name == "/aws/lambda/test-stack-etl" && output.predict_log_group_name == "/aws/lambda/test-stack-predict"
    error_message = "Log groups must be /aws/lambda/<function name>."
  }
}

################################################################################
# Storage
################################################################################

run "raw_and_models_buckets_are_versioned_and_all_are_encrypted" {
  command = plan

  assert {
    condition     = module.bucket["raw"].s3_bucket_versioning_status == "Enabled"
    error_message = "The raw bucket must be versioned."
  }

  assert {
    condition     = module.bucket["models"].s3_bucket_versioning_status == "Enabled"
    error_message = "The models bucket must be versioned (an overwritten artifact or current.json can be restored)."
  }

  assert {
    condition     = alltrue([for k in ["processed", "output", "artifacts"] : module.bucket[k].s3_bucket_versioning_status == null])
    error_message = "Only the raw and models buckets are versioned."
  }

  assert {
    condition     = alltrue([for k, b in module.bucket : b.s3_bucket_sse_algorithm == "AES256"])
    error_message = "Every bucket must have default encryption (SSE-S3)."
  }

  assert {
    condition     = aws_sqs_queue.dlq.name == "test-stack-dlq" && aws_sqs_queue.dlq.sqs_managed_sse_enabled && aws_sqs_queue.dlq.message_retention_seconds == 1209600
    error_message = "The DLQ must be <name_prefix>-dlq, encrypted, keeping messages 14 days."
  }

  assert {
    condition     = module.history_table.dynamodb_table_hash_key == "series" && module.history_table.dynamodb_table_range_key == "bucket"
    error_message = "The history table is keyed by series (hash) and bucket (range)."
  }

  assert {
    condition     = module.history_table.dynamodb_table_server_side_encryption_enabled
    error_message = "The history table must be encrypted."
  }

  assert {
    condition     = module.history_table.dynamodb_table_point_in_time_recovery_enabled
    error_message = "Point-in-time recovery is on by default."
  }
}

run "point_in_time_recovery_follows_the_variable" {
  command = plan

  variables {
    point_in_time_recovery = false
  }

  assert {
    condition     = module.history_table.dynamodb_table_point_in_time_recovery_enabled == false
    error_message = "point_in_time_recovery = false must disable PITR on the table."
  }
}

run "every_bucket_aborts_incomplete_multipart_uploads" {
  command = plan

  assert {
    condition     = alltrue([for k, b in module.bucket : contains(b.s3_bucket_lifecycle_rule_ids, "abort-incomplete-multipart-uploads")])
    error_message = "Every bucket must have the lifecycle rule that aborts incomplete multipart uploads."
  }
}

run "shard_working_files_expire_and_nothing_else_does" {
  command = plan

  variables {
    shard_files_retention_days = 3
  }

  assert {
    condition     = contains(module.bucket["processed"].s3_bucket_lifecycle_rule_ids, "expire-shards")
    error_message = "The processed bucket must expire the sharded forecast's working files."
  }

  assert {
    condition     = module.bucket["processed"].s3_bucket_expiring_prefixes == { "shards/" = 3, "ingest/" = 3 }
    error_message = "Only the sharded forecast's and the sharded ingest's working files (shards/, ingest/) expire, after shard_files_retention_days."
  }

  assert {
    condition     = alltrue([for k, b in module.bucket : !contains(b.s3_bucket_lifecycle_rule_ids, "expire-shards") if k != "processed"])
    error_message = "No other bucket expires anything: uploads, forecasts, manifests and models are kept."
  }
}

# The models bucket is versioned: expiring the Scan parts only adds delete markers, so the same rule must
# delete their noncurrent versions too, or they are billed forever. Nothing else in that bucket loses a version.
run "training_parts_are_deleted_for_good_and_models_keep_their_versions" {
  command = plan

  variables {
    training_parts_retention_days = 5
  }

  assert {
    condition     = module.bucket["models"].s3_bucket_expiring_prefixes == { "models/_training/parts/" = 5 }
    error_message = "The retraining's Scan parts (and nothing else in the models bucket) expire after training_parts_retention_days."
  }

  assert {
    condition     = module.bucket["models"].s3_bucket_noncurrent_expiring_prefixes == { "models/_training/parts/" = 1 }
    error_message = "The Scan parts' noncurrent versions (what expiring leaves behind in a versioned bucket) must be deleted 1 day after they became noncurrent."
  }

  assert {
    condition     = !contains(module.bucket["models"].s3_bucket_lifecycle_rule_ids, "expire-noncurrent-versions")
    error_message = "No bucket-wide noncurrent-version expiry on the models bucket: an overwritten model or current.json must stay restorable."
  }

  assert {
    condition     = module.bucket["raw"].s3_bucket_noncurrent_expiring_prefixes == {} && !contains(module.bucket["raw"].s3_bucket_lifecycle_rule_ids, "expire-noncurrent-versions")
    error_message = "The raw bucket keeps every version of every upload."
  }
}

################################################################################
# Logs
################################################################################

run "log_groups_keep_a_year_encrypted_with_the_stack_key" {
  command = plan

  assert {
    condition     = module.etl.lambda_cloudwatch_log_group_retention_in_days == 365 && module.predict.lambda_cloudwatch_log_group_retention_in_days == 365
    error_message = "Both log groups keep their logs one year by default."
  }

  assert {
    condition = (
      module.etl.lambda_cloudwatch_log_group_kms_key_arn == "arn:aws:kms:eu-west-1:123456789012:key/0b1c2d3e-0000-4000-8000-000000000001" &&
      module.predict.lambda_cloudwatch_log_group_kms_key_arn == "arn:aws:kms:eu-west-1:123456789012:key/0b1c2d3e-0000-4000-8000-000000000001" &&
      output.cloudwatch_logs_kms_key_arn == "arn:aws:kms:eu-west-1:123456789012:key/0b1c2d3e-0000-4000-8000-000000000001"
    )
    error_message = "Both log groups must be encrypted with the stack's key, and the output must name it."
  }

  assert {
    condition     = length(aws_kms_key.logs) == 1 && aws_kms_key.logs[0].enable_key_rotation && aws_kms_key.logs[0].deletion_window_in_days == 30
    error_message = "The stack's log key is rotated and waits 30 days before deletion."
  }

  assert {
    condition     = aws_kms_alias.logs[0].name == "alias/test-stack-logs" && aws_kms_alias.logs[0].target_key_id == "0b1c2d3e-0000-4000-8000-000000000001"
    error_message = "The key is aliased alias/<name_prefix>-logs."
  }

  assert {
    condition = jsondecode(aws_kms_key.logs[0].policy).Statement == [
      {
        Sid       = "EnableIamPolicies"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::123456789012:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "AllowCloudWatchLogsForTheStackLogGroups"
        Effect    = "Allow"
        Principal = { Service = "logs.eu-west-1.amazonaws.com" }
        Action = [
          "kms:Decrypt",
          "kms:DescribeKey",
          "kms:Encrypt",
          "kms:GenerateDataKey",
          "kms:GenerateDataKeyPair",
          "kms:GenerateDataKeyPairWithoutPlaintext",
          "kms:GenerateDataKeyWithoutPlaintext",
          "kms:ReEncryptFrom",
          "kms:ReEncryptTo",
        ]
        Resource = "*"
        Condition = {
          ArnEquals = {
            "kms:EncryptionContext:aws:logs:arn" = [
              "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/test-stack-etl",
              "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/test-stack-predict",
              "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/test-stack-monitor",
              "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/test-stack-train",
              "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/vendedlogs/states/test-stack-forecast-shards",
              "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/vendedlogs/states/test-stack-ingest-shards",
              "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/vendedlogs/states/test-stack-retraining",
            ]
          }
        }
      },
    ]
    error_message = "The key policy must delegate to the account's IAM and let CloudWatch Logs use the key for the stack's log groups only: ${aws_kms_key.logs[0].policy}"
  }
}

run "a_given_log_key_replaces_the_stack_key" {
  command = plan

  variables {
    create_cloudwatch_logs_kms_key = false
    cloudwatch_logs_kms_key_arn    = "arn:aws:kms:eu-west-1:123456789012:key/99999999-0000-4000-8000-000000000009"
  }

  assert {
    condition     = length(aws_kms_key.logs) == 0 && length(aws_kms_alias.logs) == 0
    error_message = "No key is created when one is given."
  }

  assert {
    condition = (
      module.etl.lambda_cloudwatch_log_group_kms_key_arn == "arn:aws:kms:eu-west-1:123456789012:key/99999999-0000-4000-8000-000000000009" &&
      module.predict.lambda_cloudwatch_log_group_kms_key_arn == "arn:aws:kms:eu-west-1:123456789012:key/99999999-0000-4000-8000-000000000009" &&
      output.cloudwatch_logs_kms_key_arn == "arn:aws:kms:eu-west-1:123456789012:key/99999999-0000-4000-8000-000000000009"
    )
    error_message = "Both log groups must use the given key."
  }
}

run "log_groups_can_do_without_a_customer_key" {
  command = plan

  variables {
    create_cloudwatch_logs_kms_key = false
  }

  assert {
    condition = (
      length(aws_kms_key.logs) == 0 &&
      module.etl.lambda_cloudwatch_log_group_kms_key_arn == null &&
      module.predict.lambda_cloudwatch_log_group_kms_key_arn == null &&
      output.cloudwatch_logs_kms_key_arn == null
    )
    error_message = "Without a key to create or use, the log groups stay on CloudWatch Logs' own encryption."
  }
}

################################################################################
# Notifications
################################################################################

run "every_raw_upload_triggers_etl_whatever_its_name" {
  command = plan

  assert {
    condition     = aws_s3_bucket_notification.raw.bucket == "test-stack-raw"
    error_message = "The raw notification must be on the raw bucket."
  }

  assert {
    condition     = length(aws_s3_bucket_notification.raw.lambda_function) == 1 && alltrue([for f in aws_s3_bucket_notification.raw.lambda_function : f.filter_suffix == null || f.filter_suffix == ""])
    error_message = "The raw bucket must notify for every key (S3 suffix filters are case-sensitive: .csv would miss SALES.CSV)."
  }

  assert {
    condition     = alltrue([for f in aws_s3_bucket_notification.raw.lambda_function : f.filter_prefix == null || f.filter_prefix == ""])
    error_message = "Raw notifications must not filter on a prefix (uploads may go anywhere in the bucket)."
  }

  assert {
    condition     = alltrue([for f in aws_s3_bucket_notification.raw.lambda_function : f.lambda_function_arn == "arn:aws:lambda:eu-west-1:123456789012:function:test-stack-etl" && f.events == toset(["s3:ObjectCreated:*"])])
    error_message = "Raw uploads (ObjectCreated:*) must invoke the ETL function."
  }

  assert {
    condition = (
      aws_lambda_permission.allow_s3_raw.function_name == "test-stack-etl" &&
      aws_lambda_permission.allow_s3_raw.principal == "s3.amazonaws.com" &&
      aws_lambda_permission.allow_s3_raw.action == "lambda:InvokeFunction" &&
      aws_lambda_permission.allow_s3_raw.source_arn == "arn:aws:s3:::test-stack-raw" &&
      aws_lambda_permission.allow_s3_raw.source_account == "123456789012"
    )
    error_message = "The ETL function must let s3.amazonaws.com invoke it for the raw bucket of this account only."
  }
}

run "processed_actuals_and_requests_trigger_predict_but_not_reference" {
  command = plan

  assert {
    condition     = aws_s3_bucket_notification.processed.bucket == "test-stack-processed"
    error_message = "The processed notification must be on the processed bucket."
  }

  assert {
    condition     = sort([for f in aws_s3_bucket_notification.processed.lambda_function : "${f.filter_prefix}*${f.filter_suffix}"]) == tolist(["actuals/*.csv", "requests/*.csv"])
    error_message = "The processed bucket must notify for actuals/*.csv and requests/*.csv only (never reference/)."
  }

  assert {
    condition     = alltrue([for f in aws_s3_bucket_notification.processed.lambda_function : f.lambda_function_arn == "arn:aws:lambda:eu-west-1:123456789012:function:test-stack-predict" && f.events == toset(["s3:ObjectCreated:*"])])
    error_message = "Processed files (ObjectCreated:*) must invoke the predict function."
  }

  assert {
    condition = (
      aws_lambda_permission.allow_s3_processed.function_name == "test-stack-predict" &&
      aws_lambda_permission.allow_s3_processed.principal == "s3.amazonaws.com" &&
      aws_lambda_permission.allow_s3_processed.source_arn == "arn:aws:s3:::test-stack-processed" &&
      aws_lambda_permission.allow_s3_processed.source_account == "123456789012"
    )
    error_message = "The predict function must let s3.amazonaws.com invoke it for the processed bucket of this account only."
  }

  assert {
    condition     = length(aws_s3_bucket_notification.processed.queue) == 0 && length(aws_s3_bucket_notification.processed.topic) == 0
    error_message = "Nothing but the predict function listens to the processed bucket."
  }
}

################################################################################
# Functions
################################################################################

run "functions_get_their_settings_and_environment" {
  command = plan

  assert {
    condition = module.etl.lambda_function_environment_variables == tomap({
      HISTORY_TABLE           = "test-stack-history"
      PROCESSED_BUCKET        = "test-stack-processed"
      OUTPUT_BUCKET           = "test-stack-output"
      FORECAST_HORIZON        = "16"
      POWERTOOLS_SERVICE_NAME = "etl"
      LOG_LEVEL               = "INFO"
      MAX_RETRY_ATTEMPTS      = "2"
      # the sharded ingest, with the defaults: 128 MiB shards, 16 partitions
      INGEST_SHARD_BYTES       = "134217728"
      INGEST_PARTITIONS        = "16"
      INGEST_STATE_MACHINE_ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:test-stack-ingest-shards"
      # a failed sharded ingest dead-letters its upload here, for `grocery-forecast replay`
      DEAD_LETTER_QUEUE_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/test-stack-dlq"
    })
    error_message = "Unexpected ETL environment: ${jsonencode(module.etl.lambda_function_environment_variables)}"
  }

  assert {
    condition = module.predict.lambda_function_environment_variables == tomap({
      HISTORY_TABLE           = "test-stack-history"
      PROCESSED_BUCKET        = "test-stack-processed"
      MODELS_BUCKET           = "test-stack-models"
      OUTPUT_BUCKET           = "test-stack-output"
      FORECAST_HORIZON        = "16"
      POWERTOOLS_SERVICE_NAME = "predict"
      LOG_LEVEL               = "INFO"
      MAX_RETRY_ATTEMPTS      = "2"

      FORECAST_SHARD_ROWS        = "2000000"
      FORECAST_STATE_MACHINE_ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:test-stack-forecast-shards"
      FORECAST_POOL_OVER_HISTORY = "true"
    })
    error_message = "Unexpected predict environment: ${jsonencode(module.predict.lambda_function_environment_variables)}"
  }

  assert {
    condition = (
      module.etl.lambda_destination_on_failure == "arn:aws:sqs:eu-west-1:123456789012:test-stack-dlq" &&
      module.predict.lambda_destination_on_failure == "arn:aws:sqs:eu-west-1:123456789012:test-stack-dlq"
    )
    error_message = "Both functions must send failed asynchronous invocations to the DLQ."
  }

  assert {
    condition     = module.etl.lambda_maximum_retry_attempts == 2 && module.predict.lambda_maximum_retry_attempts == 2
    error_message = "Failed asynchronous invocations are retried twice by default."
  }

  assert {
    condition     = startswith(module.etl.lambda_function_s3_key, "lambda/test-stack-etl/") && module.etl.lambda_function_s3_key != module.predict.lambda_function_s3_key
    error_message = "Each package is uploaded under its own key in the artifacts bucket."
  }
}

run "environment_follows_the_variables" {
  command = plan

  variables {
    forecast_horizon       = 7
    log_level              = "DEBUG"
    maximum_retry_attempts = 0
  }

  assert {
    condition = (
      module.etl.lambda_function_environment_variables.FORECAST_HORIZON == "7" &&
      module.predict.lambda_function_environment_variables.FORECAST_HORIZON == "7" &&
      module.etl.lambda_function_environment_variables.LOG_LEVEL == "DEBUG" &&
      module.predict.lambda_function_environment_variables.LOG_LEVEL == "DEBUG"
    )
    error_message = "FORECAST_HORIZON and LOG_LEVEL must follow the variables."
  }

  assert {
    condition     = module.etl.lambda_maximum_retry_attempts == 0 && module.predict.lambda_maximum_retry_attempts == 0
    error_message = "maximum_retry_attempts must reach both functions."
  }

  assert {
    condition     = module.etl.lambda_function_environment_variables.MAX_RETRY_ATTEMPTS == "0" && module.predict.lambda_function_environment_variables.MAX_RETRY_ATTEMPTS == "0"
    error_message = "The functions must know how many retries follow a failure (MAX_RETRY_ATTEMPTS)."
  }
}

################################################################################
# Least privilege
################################################################################

run "etl_policy_is_exactly_what_etl_needs" {
  command = plan

  assert {
    condition = alltrue(flatten([
      for s in jsondecode(module.etl.lambda_role_policy_json).Statement : [
        [for a in flatten([s.Action]) : !strcontains(a, "*")],
        [for r in flatten([s.Resource]) : r != "*"],
        [s.Effect == "Allow"],
      ]
    ]))
    error_message = "The ETL policy must not use wildcard actions or the \"*\" resource."
  }

  assert {
    condition = toset(flatten([
      for s in jsondecode(module.etl.lambda_role_policy_json).Statement : [
        for a in flatten([s.Action]) : [for r in flatten([s.Resource]) : "${a} ${r}"]
      ]
      ])) == toset([
      "logs:CreateLogStream arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/test-stack-etl:*",
      "logs:PutLogEvents arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/test-stack-etl:*",
      "s3:GetObject arn:aws:s3:::test-stack-raw/*",
      "s3:GetObjectVersion arn:aws:s3:::test-stack-raw/*",
      "s3:PutObject arn:aws:s3:::test-stack-processed/actuals/*",
      "s3:PutObject arn:aws:s3:::test-stack-processed/requests/*",
      "s3:PutObject arn:aws:s3:::test-stack-processed/reference/*",
      "s3:PutObject arn:aws:s3:::test-stack-output/rejected/*",
      "s3:PutObject arn:aws:s3:::test-stack-output/runs/*",
      "s3:GetObject arn:aws:s3:::test-stack-processed/reference/*",
      "s3:GetObject arn:aws:s3:::test-stack-output/runs/*",
      "s3:ListBucket arn:aws:s3:::test-stack-raw",
      "s3:ListBucket arn:aws:s3:::test-stack-processed",
      "s3:ListBucket arn:aws:s3:::test-stack-output",
      "dynamodb:BatchGetItem arn:aws:dynamodb:eu-west-1:123456789012:table/test-stack-history",
      "dynamodb:BatchWriteItem arn:aws:dynamodb:eu-west-1:123456789012:table/test-stack-history",
      "dynamodb:ConditionCheckItem arn:aws:dynamodb:eu-west-1:123456789012:table/test-stack-history",
      "dynamodb:DeleteItem arn:aws:dynamodb:eu-west-1:123456789012:table/test-stack-history",
      "dynamodb:GetItem arn:aws:dynamodb:eu-west-1:123456789012:table/test-stack-history",
      "dynamodb:PutItem arn:aws:dynamodb:eu-west-1:123456789012:table/test-stack-history",
      "dynamodb:UpdateItem arn:aws:dynamodb:eu-west-1:123456789012:table/test-stack-history",
      "sqs:SendMessage arn:aws:sqs:eu-west-1:123456789012:test-stack-dlq",
      # the sharded ingest: its working files, starting its workflow and finding a running one again
      "s3:GetObject arn:aws:s3:::test-stack-processed/ingest/*",
      "s3:PutObject arn:aws:s3:::test-stack-processed/ingest/*",
      "states:StartExecution arn:aws:states:eu-west-1:123456789012:stateMachine:test-stack-ingest-shards",
      "states:DescribeExecution arn:aws:states:eu-west-1:123456789012:execution:test-stack-ingest-shards:*",
    ])
    error_message = "The ETL policy grants something other than (action, resource) pairs it needs: ${module.etl.lambda_role_policy_json}"
  }
}

run "predict_policy_is_exactly_what_predict_needs" {
  command = plan

  assert {
    condition = alltrue(flatten([
      for s in jsondecode(module.predict.lambda_role_policy_json).Statement : [
        [for a in flatten([s.Action]) : !strcontains(a, "*")],
        [for r in flatten([s.Resource]) : r != "*"],
        [s.Effect == "Allow"],
      ]
    ]))
    error_message = "The predict policy must not use wildcard actions or the \"*\" resource."
  }

  assert {
    condition = toset(flatten([
      for s in jsondecode(module.predict.lambda_role_policy_json).Statement : [
        for a in flatten([s.Action]) : [for r in flatten([s.Resource]) : "${a} ${r}"]
      ]
      ])) == toset([
      "logs:CreateLogStream arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/test-stack-predict:*",
      "logs:PutLogEvents arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/test-stack-predict:*",
      "s3:GetObject arn:aws:s3:::test-stack-processed/actuals/*",
      "s3:GetObject arn:aws:s3:::test-stack-processed/requests/*",
      "s3:GetObject arn:aws:s3:::test-stack-processed/reference/*",
      "s3:GetObject arn:aws:s3:::test-stack-models/models/*",
      "s3:PutObject arn:aws:s3:::test-stack-output/forecasts/*",
      "s3:PutObject arn:aws:s3:::test-stack-output/runs/*",
      "s3:GetObject arn:aws:s3:::test-stack-output/runs/*",
      "s3:ListBucket arn:aws:s3:::test-stack-processed",
      "s3:ListBucket arn:aws:s3:::test-stack-models",
      "s3:ListBucket arn:aws:s3:::test-stack-output",
      "dynamodb:BatchGetItem arn:aws:dynamodb:eu-west-1:123456789012:table/test-stack-history",
      "dynamodb:GetItem arn:aws:dynamodb:eu-west-1:123456789012:table/test-stack-history",
      # the series index only (a condition on the leading key: see the pooling runs below)
      "dynamodb:Query arn:aws:dynamodb:eu-west-1:123456789012:table/test-stack-history",
      "s3:GetObject arn:aws:s3:::test-stack-processed/shards/*",
      "s3:PutObject arn:aws:s3:::test-stack-processed/shards/*",
      "states:StartExecution arn:aws:states:eu-west-1:123456789012:stateMachine:test-stack-forecast-shards",
      "states:DescribeExecution arn:aws:states:eu-west-1:123456789012:execution:test-stack-forecast-shards:*",
      "sqs:SendMessage arn:aws:sqs:eu-west-1:123456789012:test-stack-dlq",
    ])
    error_message = "The predict policy grants something other than (action, resource) pairs it needs: ${module.predict.lambda_role_policy_json}"
  }
}

run "list_bucket_covers_whole_buckets_so_a_missing_object_is_a_404" {
  command = plan

  # S3 answers a GetObject of a missing key with 404 only if ListBucket is allowed in that request's context,
  # which has no s3:prefix key: a prefix-conditioned grant would make every missing object a 403 on AWS.
  assert {
    condition = alltrue(flatten([
      for policy in [module.etl.lambda_role_policy_json, module.predict.lambda_role_policy_json, module.train.lambda_role_policy_json] : [
        for st in jsondecode(policy).Statement : !can(st.Condition) if contains(flatten([st.Action]), "s3:ListBucket")
      ]
    ]))
    error_message = "s3:ListBucket must not carry a condition (an s3:prefix one turns every missing object into a 403 on AWS)."
  }

  assert {
    condition = sort(flatten([
      for st in jsondecode(module.predict.lambda_role_policy_json).Statement : st.Resource if contains(flatten([st.Action]), "s3:ListBucket")
      ])) == sort([
      "arn:aws:s3:::test-stack-models", "arn:aws:s3:::test-stack-output", "arn:aws:s3:::test-stack-processed",
    ])
    error_message = "predict may list the buckets it reads, and no other."
  }

  assert {
    condition = sort(flatten([
      for st in jsondecode(module.etl.lambda_role_policy_json).Statement : st.Resource if contains(flatten([st.Action]), "s3:ListBucket")
      ])) == sort([
      "arn:aws:s3:::test-stack-output", "arn:aws:s3:::test-stack-processed", "arn:aws:s3:::test-stack-raw",
    ])
    error_message = "etl may list the buckets it reads, and no other."
  }
}

################################################################################
# Alarms and retries
################################################################################

run "alarms_watch_the_dead_letter_queue_and_both_functions" {
  command = plan

  variables {
    alarm_actions = ["arn:aws:sns:eu-west-1:123456789012:ops"]
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.dlq_depth[0].namespace == "AWS/SQS" &&
      aws_cloudwatch_metric_alarm.dlq_depth[0].metric_name == "ApproximateNumberOfMessagesVisible" &&
      aws_cloudwatch_metric_alarm.dlq_depth[0].dimensions["QueueName"] == "test-stack-dlq" &&
      aws_cloudwatch_metric_alarm.dlq_depth[0].threshold == 0 &&
      aws_cloudwatch_metric_alarm.dlq_depth[0].comparison_operator == "GreaterThanThreshold"
    )
    error_message = "One message in the DLQ must set the DLQ alarm off."
  }

  assert {
    condition     = contains(aws_cloudwatch_metric_alarm.dlq_depth[0].alarm_actions, "arn:aws:sns:eu-west-1:123456789012:ops")
    error_message = "alarm_actions must reach the DLQ alarm."
  }

  assert {
    condition     = module.etl.cloudwatch_errors_alarm_name == "test-stack-etl-errors" && module.predict.cloudwatch_errors_alarm_name == "test-stack-predict-errors"
    error_message = "Each function must have its errors alarm."
  }
}

run "alarms_are_optional" {
  command = plan

  variables {
    create_alarms = false
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.dlq_depth) == 0 && module.etl.cloudwatch_errors_alarm_name == null && module.predict.cloudwatch_errors_alarm_name == null
    error_message = "create_alarms = false must create no alarm."
  }
}

run "event_age_reaches_both_functions" {
  command = plan

  variables {
    maximum_event_age_in_seconds = 3600
  }

  assert {
    condition     = module.etl.lambda_maximum_event_age_in_seconds == 3600 && module.predict.lambda_maximum_event_age_in_seconds == 3600
    error_message = "maximum_event_age_in_seconds must reach both functions."
  }
}

################################################################################
# Sharded forecasts
################################################################################

run "the_forecast_workflow_runs_the_predict_function_on_the_processed_shards" {
  command = plan

  variables {
    forecast_shard_rows         = 5000
    forecast_max_concurrency    = 7
    forecast_shard_fault_marker = "inject-shard-fault"
  }

  assert {
    condition     = module.forecast_workflow.state_machine_arn == "arn:aws:states:eu-west-1:123456789012:stateMachine:test-stack-forecast-shards"
    error_message = "The workflow is <name_prefix>-forecast-shards."
  }

  assert {
    condition = (
      module.predict.lambda_function_environment_variables["FORECAST_SHARD_ROWS"] == "5000" &&
      module.predict.lambda_function_environment_variables["FORECAST_STATE_MACHINE_ARN"] == module.forecast_workflow.state_machine_arn &&
      module.predict.lambda_function_environment_variables["FORECAST_SHARD_FAULT"] == "inject-shard-fault"
    )
    error_message = "Predict must know the shard size, the workflow and (when set) the fault marker."
  }

  assert {
    condition = alltrue([
      for name in ["ShardStats", "ForecastShards"] :
      jsondecode(module.forecast_workflow.definition).States[name].MaxConcurrency == 7
    ])
    error_message = "Both Distributed Maps run forecast_max_concurrency shards at a time."
  }

  assert {
    condition     = output.forecast_state_machine_name == "test-stack-forecast-shards" && output.forecast_shard_rows == 5000
    error_message = "The outputs name the workflow and the shard size."
  }
}

run "the_fault_marker_is_off_by_default" {
  command = plan

  assert {
    condition     = !contains(keys(module.predict.lambda_function_environment_variables), "FORECAST_SHARD_FAULT")
    error_message = "Without forecast_shard_fault_marker, predict has no FORECAST_SHARD_FAULT."
  }
}


################################################################################
# Sharded ingest
################################################################################

run "the_ingest_workflow_runs_the_etl_function_on_the_processed_ingest_files" {
  command = plan

  variables {
    ingest_shard_bytes     = 262144
    ingest_partitions      = 8
    ingest_bucket_rows     = 50000
    ingest_max_concurrency = 5
    ingest_task_retries    = 1
  }

  assert {
    condition     = module.ingest_workflow.state_machine_arn == "arn:aws:states:eu-west-1:123456789012:stateMachine:test-stack-ingest-shards"
    error_message = "The workflow is <name_prefix>-ingest-shards."
  }

  assert {
    condition = (
      module.etl.lambda_function_environment_variables["INGEST_SHARD_BYTES"] == "262144" &&
      module.etl.lambda_function_environment_variables["INGEST_PARTITIONS"] == "8" &&
      module.etl.lambda_function_environment_variables["INGEST_BUCKET_ROWS"] == "50000" &&
      module.etl.lambda_function_environment_variables["INGEST_STATE_MACHINE_ARN"] == module.ingest_workflow.state_machine_arn
    )
    error_message = "The ETL must know the shard size, the partitions, the rows per sub-bucket and the workflow."
  }

  assert {
    condition = alltrue([
      for name in ["ValidateShards", "CheckPartitions", "MergePartitions"] :
      jsondecode(module.ingest_workflow.definition).States[name].MaxConcurrency == 5 &&
      jsondecode(module.ingest_workflow.definition).States[name].ItemProcessor.States.Task.Parameters.FunctionName == module.etl.lambda_function_arn &&
      jsondecode(module.ingest_workflow.definition).States[name].ItemProcessor.States.Task.Retry[1].MaxAttempts == 1
    ])
    error_message = "The three Distributed Maps run the ETL function ingest_max_concurrency tasks at a time, retried ingest_task_retries times."
  }

  assert {
    condition     = module.bucket["processed"].s3_bucket_expiring_prefixes["ingest/"] == module.bucket["processed"].s3_bucket_expiring_prefixes["shards/"]
    error_message = "The ingest working files expire like the forecast shards'."
  }

  assert {
    condition     = output.ingest_state_machine_name == "test-stack-ingest-shards" && output.ingest_shard_bytes == 262144 && output.ingest_partitions == 8
    error_message = "The outputs name the workflow, the shard size and the partitions."
  }
}

run "predict_pools_over_the_history_by_its_series_index_and_may_query_nothing_else" {
  command = plan

  assert {
    condition     = module.predict.lambda_function_environment_variables["FORECAST_POOL_OVER_HISTORY"] == "true"
    error_message = "predict pools over the whole history by default."
  }

  assert {
    condition = length([
      for s in jsondecode(module.predict.lambda_role_policy_json).Statement : s
      if contains(flatten([s.Action]), "dynamodb:Query")
      && flatten([s.Resource]) == ["arn:aws:dynamodb:eu-west-1:123456789012:table/test-stack-history"]
      && try(s.Condition["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"], []) == ["__index__"]
    ]) == 1
    error_message = "predict may Query the history table's series index partition (__index__), and only it."
  }

  assert {
    condition = !contains(flatten([
      for s in jsondecode(module.predict.lambda_role_policy_json).Statement : flatten([s.Action])
    ]), "dynamodb:Scan")
    error_message = "Pooling over the history reads the series index, never the whole table: predict has no dynamodb:Scan."
  }
}

run "predict_pooling_over_the_upload_only_may_not_query" {
  command = plan

  variables {
    forecast_pool_over_history = false
  }

  assert {
    condition     = module.predict.lambda_function_environment_variables["FORECAST_POOL_OVER_HISTORY"] == "false"
    error_message = "predict must be told to pool over the upload only."
  }

  assert {
    condition = !contains(flatten([
      for s in jsondecode(module.predict.lambda_role_policy_json).Statement : flatten([s.Action])
    ]), "dynamodb:Query")
    error_message = "Without pooling over the history predict needs no Query."
  }
}
