# Shared by the stack's tests through mock_provider "aws" { source = ... }: the account, region and partition
# the ARNs are built from, and realistic ARNs for what the wiring points at (a mocked provider would otherwise
# invent random strings).

mock_data "aws_caller_identity" {
  defaults = {
    account_id = "123456789012"
  }
}

mock_data "aws_region" {
  defaults = {
    name = "eu-west-1"
  }
}

mock_data "aws_partition" {
  defaults = {
    partition = "aws"
  }
}

# Realistic ARNs for what the wiring points at (a mocked provider would otherwise invent random strings).
override_resource {
  target          = module.bucket["raw"].aws_s3_bucket.this
  override_during = plan
  values          = { arn = "arn:aws:s3:::test-stack-raw" }
}

override_resource {
  target          = module.bucket["processed"].aws_s3_bucket.this
  override_during = plan
  values          = { arn = "arn:aws:s3:::test-stack-processed" }
}

override_resource {
  target          = module.bucket["output"].aws_s3_bucket.this
  override_during = plan
  values          = { arn = "arn:aws:s3:::test-stack-output" }
}

override_resource {
  target          = module.bucket["models"].aws_s3_bucket.this
  override_during = plan
  values          = { arn = "arn:aws:s3:::test-stack-models" }
}

override_resource {
  target          = module.bucket["artifacts"].aws_s3_bucket.this
  override_during = plan
  values          = { arn = "arn:aws:s3:::test-stack-artifacts" }
}

override_resource {
  target          = module.history_table.aws_dynamodb_table.this
  override_during = plan
  values          = { arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/test-stack-history" }
}

override_resource {
  target          = aws_sqs_queue.dlq
  override_during = plan
  values = {
    arn = "arn:aws:sqs:eu-west-1:123456789012:test-stack-dlq"
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/test-stack-dlq"
  }
}

override_resource {
  target          = aws_kms_key.logs
  override_during = plan
  values = {
    arn    = "arn:aws:kms:eu-west-1:123456789012:key/0b1c2d3e-0000-4000-8000-000000000001"
    key_id = "0b1c2d3e-0000-4000-8000-000000000001"
  }
}

override_resource {
  target          = module.etl.aws_lambda_function.this
  override_during = plan
  values          = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:test-stack-etl" }
}

override_resource {
  target          = module.predict.aws_lambda_function.this
  override_during = plan
  values          = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:test-stack-predict" }
}

