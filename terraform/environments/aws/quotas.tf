# The account's Lambda quotas, read on every plan. A new AWS account often starts with a concurrency quota of
# 10, far below what the sharded workflows run at once: their throttled tasks are retried for about a minute and
# then the run fails, long after a clean apply. A check block warns at plan time instead (it never blocks an
# apply, and a caller without servicequotas:GetServiceQuota gets a warning that the quota could not be read).

check "lambda_concurrency_quota" {
  data "aws_servicequotas_service_quota" "lambda_concurrency" {
    service_code = "lambda"
    quota_code   = "L-B99A9384" # Concurrent executions
  }

  assert {
    condition     = data.aws_servicequotas_service_quota.lambda_concurrency.value >= module.forecasting_stack.peak_lambda_concurrency
    error_message = "This account's Lambda concurrency quota (L-B99A9384) is ${data.aws_servicequotas_service_quota.lambda_concurrency.value}, but the stack runs up to ${module.forecasting_stack.peak_lambda_concurrency} executions at once (forecast_max_concurrency + ingest_max_concurrency + the training scan's segments + 4): request an increase in Service Quotas, or lower forecast_max_concurrency and ingest_max_concurrency."
  }
}
