data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name
  account   = data.aws_caller_identity.current.account_id
}

################################################################################
# Logging
################################################################################

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/batch/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.cloudwatch_logs_kms_key_arn

  tags = var.tags
}

################################################################################
# Compute: Fargate, scaled to zero between runs
################################################################################

resource "aws_batch_compute_environment" "this" {
  compute_environment_name = var.name
  type                     = "MANAGED"
  state                    = "ENABLED"

  compute_resources {
    type               = var.use_spot ? "FARGATE_SPOT" : "FARGATE"
    max_vcpus          = var.vcpu * var.max_parallel_jobs
    subnets            = var.subnet_ids
    security_group_ids = var.security_group_ids
  }

  tags = var.tags
}

resource "aws_batch_job_queue" "this" {
  name     = var.name
  state    = "ENABLED"
  priority = 1

  compute_environment_order {
    order               = 1
    compute_environment = aws_batch_compute_environment.this.arn
  }

  tags = var.tags
}

################################################################################
# Job definition: the training image running training/batch_job.py
################################################################################

resource "aws_batch_job_definition" "this" {
  name                  = var.name
  type                  = "container"
  platform_capabilities = ["FARGATE"]
  propagate_tags        = true

  timeout {
    attempt_duration_seconds = var.timeout_seconds
  }

  container_properties = jsonencode({
    image            = var.image
    jobRoleArn       = aws_iam_role.job.arn
    executionRoleArn = aws_iam_role.execution.arn
    resourceRequirements = [
      { type = "VCPU", value = tostring(var.vcpu) },
      { type = "MEMORY", value = tostring(var.memory_mb) },
    ]
    environment                  = [for k in sort(keys(var.environment_variables)) : { name = k, value = var.environment_variables[k] }]
    networkConfiguration         = { assignPublicIp = var.assign_public_ip ? "ENABLED" : "DISABLED" }
    fargatePlatformConfiguration = { platformVersion = "LATEST" }
    runtimePlatform              = { operatingSystemFamily = "LINUX", cpuArchitecture = "X86_64" }
    ephemeralStorage             = { sizeInGiB = var.ephemeral_storage_gib }
    readonlyRootFilesystem       = false
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        "awslogs-group"         = aws_cloudwatch_log_group.this.name
        "awslogs-region"        = local.region
        "awslogs-stream-prefix" = var.name
      }
    }
  })

  tags = var.tags
}
