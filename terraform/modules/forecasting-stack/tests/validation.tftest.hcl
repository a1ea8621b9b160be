# Input validation of the stack: bad values fail at plan time with a clear message, before any API call.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012" # aws_lambda_permission validates the format
    }
  }
}

variables {
  name_prefix          = "test-stack"
  etl_package_path     = "README.md"
  predict_package_path = "variables.tf"
  monitor_package_path = "outputs.tf"
  train_package_path   = "outputs.tf"
}

run "defaults_are_accepted" {
  command = plan
}

run "name_prefix_rejects_uppercase" {
  command = plan

  variables {
    name_prefix = "Grocery"
  }

  expect_failures = [var.name_prefix]
}

run "name_prefix_rejects_dots_and_underscores" {
  command = plan

  variables {
    name_prefix = "grocery.forecast_x"
  }

  expect_failures = [var.name_prefix]
}

run "name_prefix_rejects_too_short" {
  command = plan

  variables {
    name_prefix = "gf"
  }

  expect_failures = [var.name_prefix]
}

run "name_prefix_rejects_too_long" {
  command = plan

  variables {
    name_prefix = "a-name-prefix-that-is-far-too-long-for-s3"
  }

  expect_failures = [var.name_prefix]
}

run "name_prefix_rejects_trailing_hyphen" {
  command = plan

  variables {
    name_prefix = "grocery-"
  }

  expect_failures = [var.name_prefix]
}

run "forecast_horizon_above_16_is_refused" {
  command = plan

  variables {
    forecast_horizon = 17
  }

  expect_failures = [var.forecast_horizon]
}

run "forecast_horizon_zero_is_refused" {
  command = plan

  variables {
    forecast_horizon = 0
  }

  expect_failures = [var.forecast_horizon]
}

run "log_retention_must_be_a_cloudwatch_value" {
  command = plan

  variables {
    log_retention_days = 10
  }

  expect_failures = [var.log_retention_days]
}

run "runtime_must_be_a_supported_python" {
  command = plan

  variables {
    lambda_runtime = "python3.9"
  }

  expect_failures = [var.lambda_runtime]
}

# The bundles carry CPython 3.12 wheels: a newer Python is refused too, not only an old one.
run "runtime_must_be_the_python_the_bundles_are_built_for" {
  command = plan

  variables {
    lambda_runtime = "python3.13"
  }

  expect_failures = [var.lambda_runtime]
}

run "memory_above_lambda_limit_is_refused" {
  command = plan

  variables {
    predict_memory_mb = 20480
  }

  expect_failures = [var.predict_memory_mb]
}

run "timeout_above_15_minutes_is_refused" {
  command = plan

  variables {
    etl_timeout_seconds = 901
  }

  expect_failures = [var.etl_timeout_seconds]
}

run "log_key_arn_must_be_an_arn" {
  command = plan

  variables {
    create_cloudwatch_logs_kms_key = false
    cloudwatch_logs_kms_key_arn    = "alias/my-logs-key"
  }

  expect_failures = [var.cloudwatch_logs_kms_key_arn]
}

run "log_key_arn_and_create_are_exclusive" {
  command = plan

  variables {
    cloudwatch_logs_kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/99999999-0000-4000-8000-000000000009"
  }

  expect_failures = [output.cloudwatch_logs_kms_key_arn]
}

run "fractional_memory_is_refused" {
  command = plan

  variables {
    etl_memory_mb = 2048.5
  }

  expect_failures = [var.etl_memory_mb]
}

run "shard_rows_below_100_are_refused" {
  command = plan

  variables {
    forecast_shard_rows = 10
  }

  expect_failures = [var.forecast_shard_rows]
}

run "shard_rows_above_5_million_are_refused" {
  command = plan

  variables {
    forecast_shard_rows = 10000000
  }

  expect_failures = [var.forecast_shard_rows]
}

run "max_concurrency_zero_is_refused" {
  command = plan

  variables {
    forecast_max_concurrency = 0
  }

  expect_failures = [var.forecast_max_concurrency]
}

run "max_concurrency_above_1000_is_refused" {
  command = plan

  variables {
    forecast_max_concurrency = 1001
  }

  expect_failures = [var.forecast_max_concurrency]
}

run "shard_retries_above_5_are_refused" {
  command = plan

  variables {
    forecast_shard_retries = 6
  }

  expect_failures = [var.forecast_shard_retries]
}

run "fault_marker_must_be_a_plain_word" {
  command = plan

  variables {
    forecast_shard_fault_marker = "a marker with spaces"
  }

  expect_failures = [var.forecast_shard_fault_marker]
}

run "etl_fault_marker_must_be_a_plain_word" {
  command = plan

  variables {
    etl_fault_marker = "kill-1"
  }

  expect_failures = [var.etl_fault_marker]
}

run "ingest_shard_bytes_below_1024_are_refused" {
  command = plan

  variables {
    ingest_shard_bytes = 100
  }

  expect_failures = [var.ingest_shard_bytes]
}

run "ingest_shard_bytes_above_256_mib_are_refused" {
  command = plan

  variables {
    ingest_shard_bytes = 536870912
  }

  expect_failures = [var.ingest_shard_bytes]
}

run "ingest_partitions_must_be_1_to_1024" {
  command = plan

  variables {
    ingest_partitions = 0
  }

  expect_failures = [var.ingest_partitions]
}

run "ingest_bucket_rows_must_be_0_or_1000_to_100000000" {
  command = plan

  variables {
    ingest_bucket_rows = 999
  }

  expect_failures = [var.ingest_bucket_rows]
}

run "ingest_concurrency_must_be_1_to_1000" {
  command = plan

  variables {
    ingest_max_concurrency = 1001
  }

  expect_failures = [var.ingest_max_concurrency]
}

run "ingest_task_retries_must_be_0_to_5" {
  command = plan

  variables {
    ingest_task_retries = 6
  }

  expect_failures = [var.ingest_task_retries]
}
