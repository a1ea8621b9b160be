################################################################################
# raw bucket -> ETL (every upload)
################################################################################

resource "aws_lambda_permission" "allow_s3_raw" {
  statement_id   = "AllowInvokeFromRawBucket"
  action         = "lambda:InvokeFunction"
  function_name  = module.etl.lambda_function_name
  principal      = "s3.amazonaws.com"
  source_arn     = local.raw_bucket_arn
  source_account = data.aws_caller_identity.current.account_id
}

resource "aws_s3_bucket_notification" "raw" {
  bucket = module.bucket["raw"].s3_bucket_id

  # No suffix filter: S3 filters are case-sensitive, so ".csv" would silently ignore SALES.CSV. Every
  # upload reaches the ETL, which processes .csv/.csv.gz in any case and answers any other name with a
  # rejection report: every object put here ends in a visible state.
  lambda_function {
    id                  = "etl-every-upload"
    lambda_function_arn = module.etl.lambda_function_arn
    events              = ["s3:ObjectCreated:*"]
  }

  # S3 test-invokes the destination when the configuration is written: the permission must exist first.
  depends_on = [aws_lambda_permission.allow_s3_raw]
}

################################################################################
# processed bucket -> predict (actuals and forecast requests; reference tables trigger nothing)
################################################################################

resource "aws_lambda_permission" "allow_s3_processed" {
  statement_id   = "AllowInvokeFromProcessedBucket"
  action         = "lambda:InvokeFunction"
  function_name  = module.predict.lambda_function_name
  principal      = "s3.amazonaws.com"
  source_arn     = local.processed_bucket_arn
  source_account = data.aws_caller_identity.current.account_id
}

resource "aws_s3_bucket_notification" "processed" {
  bucket = module.bucket["processed"].s3_bucket_id

  # Also to EventBridge: the monitor's rule on actuals/ (monitor.tf). S3 refuses a second notification
  # configuration on the prefix predict already has.
  eventbridge = true

  lambda_function {
    id                  = "predict-actuals"
    lambda_function_arn = module.predict.lambda_function_arn
    events              = ["s3:ObjectCreated:*"]
    filter_prefix       = "actuals/"
    filter_suffix       = ".csv"
  }

  lambda_function {
    id                  = "predict-requests"
    lambda_function_arn = module.predict.lambda_function_arn
    events              = ["s3:ObjectCreated:*"]
    filter_prefix       = "requests/"
    filter_suffix       = ".csv"
  }

  depends_on = [aws_lambda_permission.allow_s3_processed]
}
