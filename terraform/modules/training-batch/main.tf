data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  # The memory Fargate allows for each vCPU count (MiB): from, to, in steps of.
  fargate_memory = {
    1  = { min = 2048, max = 8192, step = 1024 }
    2  = { min = 4096, max = 16384, step = 1024 }
    4  = { min = 8192, max = 30720, step = 1024 }
    8  = { min = 16384, max = 61440, step = 4096 }
    16 = { min = 32768, max = 122880, step = 8192 }
  }

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

  lifecycle {
    # Fargate takes only certain memory sizes for each vCPU count; Batch refuses others when the job is
    # registered, which the emulator does not check.
    precondition {
      condition = (
        var.memory_mb >= local.fargate_memory[var.vcpu].min &&
        var.memory_mb <= local.fargate_memory[var.vcpu].max &&
        var.memory_mb % local.fargate_memory[var.vcpu].step == 0
      )
      error_message = "memory_mb ${var.memory_mb} is not a Fargate size for ${var.vcpu} vCPU: ${local.fargate_memory[var.vcpu].min}..${local.fargate_memory[var.vcpu].max} MiB in steps of ${local.fargate_memory[var.vcpu].step}."
    }
  }

  tags = var.tags
}
