# The Batch-on-Fargate train job, checked on a plan against a mocked AWS provider. It cannot be run
# on the project's machine (no container engine to build the image, no AWS account): this is its check.
# Run from terraform/modules/training-batch:  terraform init -backend=false && terraform test

mock_provider "aws" {
  override_during = plan
  source          = "../../tests/mocks" # terraform/tests/mocks: account, region and partition
}

override_resource {
  target          = aws_cloudwatch_log_group.this
  override_during = plan
  values          = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/batch/test-train", name = "/aws/batch/test-train" }
}

override_resource {
  target          = aws_iam_role.job
  override_during = plan
  values          = { arn = "arn:aws:iam::123456789012:role/test-train-job" }
}

override_resource {
  target          = aws_iam_role.execution
  override_during = plan
  values          = { arn = "arn:aws:iam::123456789012:role/test-train-execution" }
}

variables {
  name                 = "test-train"
  image                = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/grocery-forecast-train:1.0"
  image_repository_arn = "arn:aws:ecr:eu-west-1:123456789012:repository/grocery-forecast-train"
  subnet_ids           = ["subnet-0123abcd"]
  security_group_ids   = ["sg-0123abcd"]
  environment_variables = {
    MODELS_BUCKET = "test-models"
    HISTORY_TABLE = "test-history"
  }
  job_policy_statements = [
    { sid = "ScanHistory", actions = ["dynamodb:Scan"], resources = ["arn:aws:dynamodb:eu-west-1:123456789012:table/test-history"] },
    { sid = "WriteModels", actions = ["s3:PutObject"], resources = ["arn:aws:s3:::test-models/models/*"] },
  ]
}

run "fargate_job_runs_the_training_image_with_its_settings" {
  command = plan

  assert {
    condition     = aws_batch_compute_environment.this.compute_resources[0].type == "FARGATE" && aws_batch_job_definition.this.platform_capabilities == toset(["FARGATE"])
    error_message = "The job runs on Fargate."
  }

  assert {
    condition = (
      jsondecode(aws_batch_job_definition.this.container_properties).image == var.image &&
      jsondecode(aws_batch_job_definition.this.container_properties).resourceRequirements == [
        { type = "VCPU", value = "4" }, { type = "MEMORY", value = "16384" },
      ] &&
      jsondecode(aws_batch_job_definition.this.container_properties).environment == [
        { name = "HISTORY_TABLE", value = "test-history" }, { name = "MODELS_BUCKET", value = "test-models" },
      ] &&
      jsondecode(aws_batch_job_definition.this.container_properties).jobRoleArn == "arn:aws:iam::123456789012:role/test-train-job"
    )
    error_message = "Image, size (4 vCPU, 16 GiB by default), environment and job role are in the job definition."
  }

  assert {
    condition = [for s in jsondecode(aws_iam_role_policy.job.policy).Statement : "${s.Sid} ${join(",", s.Action)} ${join(",", s.Resource)}"] == [
      "ScanHistory dynamodb:Scan arn:aws:dynamodb:eu-west-1:123456789012:table/test-history",
      "WriteModels s3:PutObject arn:aws:s3:::test-models/models/*",
    ]
    error_message = "The job role is exactly the statements it is given (the training Lambda's)."
  }

  assert {
    condition = [
      for s in jsondecode(aws_iam_role_policy.execution.policy).Statement : s.Resource if s.Sid == "PullTheImage"
    ] == [[var.image_repository_arn]]
    error_message = "The execution role pulls from the training repository only."
  }
}

run "memory_must_be_whole_gib" {
  command = plan

  variables {
    memory_mb = 10000
  }

  expect_failures = [var.memory_mb]
}

run "image_must_be_an_ecr_uri" {
  command = plan

  variables {
    image = "python:3.12"
  }

  expect_failures = [var.image]
}

run "memory_must_be_a_fargate_size_for_the_vcpus" {
  command = plan

  variables {
    vcpu      = 1
    memory_mb = 16384 # 1 vCPU takes 2048..8192
  }

  expect_failures = [aws_batch_job_definition.this]
}
