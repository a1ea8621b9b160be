# The aws root's plan-time checks, on a mocked AWS provider: no credentials, seconds.
# Run from terraform/environments/aws:  terraform init -backend=false && terraform test

mock_provider "aws" {
  override_during = plan
  source          = "../../tests/mocks" # terraform/tests/mocks: account, region and partition
}

variables {
  name_prefix = "test-stack"
  # Any existing file will do as a "package": the stack only hashes and uploads it.
  etl_package_path     = "main.tf"
  predict_package_path = "main.tf"
  monitor_package_path = "main.tf"
  train_package_path   = "main.tf"
}

run "peak_concurrency_adds_up_the_widths" {
  command = plan

  variables {
    forecast_max_concurrency = 20
    ingest_max_concurrency   = 10
  }

  override_data {
    target = data.aws_servicequotas_service_quota.lambda_concurrency
    values = { value = 1000 }
  }

  assert {
    condition     = output.peak_lambda_concurrency == 20 + 10 + 8 + 3
    error_message = "peak_lambda_concurrency must be both workflows' widths + the training scan's 8 segments + 3."
  }
}

run "a_new_accounts_quota_of_10_is_flagged" {
  command = plan

  override_data {
    target = data.aws_servicequotas_service_quota.lambda_concurrency
    values = { value = 10 }
  }

  expect_failures = [check.lambda_concurrency_quota]
}

run "a_quota_at_the_peak_passes" {
  command = plan

  override_data {
    target = data.aws_servicequotas_service_quota.lambda_concurrency
    values = { value = 51 } # 20 + 20 + 8 + 3, the defaults
  }
}
