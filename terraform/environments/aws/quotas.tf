# The account's Lambda concurrency quota, read on every plan. A new AWS account often starts with a quota of 10,
# far below what one sharded run takes at once: its throttled tasks are retried for about a minute and then the
# run fails, long after a clean apply. A check block warns at plan time instead: it never blocks an apply, and a
# caller without servicequotas:GetServiceQuota and servicequotas:GetAWSDefaultServiceQuota gets a warning that
# the quota could not be read. (The provider falls back to the AWS default, 1,000, for a quota never changed;
# `aws lambda get-account-settings` gives the limit Lambda applies, which Terraform cannot read.)

check "lambda_concurrency_quota" {
  data "aws_servicequotas_service_quota" "lambda_concurrency" {
    service_code = "lambda"
    quota_code   = "L-B99A9384" # Concurrent executions
  }

  assert {
    condition     = data.aws_servicequotas_service_quota.lambda_concurrency.value >= module.forecasting_stack.peak_lambda_concurrency
    error_message = "This account's Lambda concurrency quota (L-B99A9384) is ${data.aws_servicequotas_service_quota.lambda_concurrency.value}, but the stack runs up to ${module.forecasting_stack.peak_lambda_concurrency} executions at once (forecast_max_concurrency + ingest_max_concurrency + the training scan's segments + 3; overlapping uploads add their widths): request an increase in Service Quotas, or lower forecast_max_concurrency and ingest_max_concurrency."
  }
}
