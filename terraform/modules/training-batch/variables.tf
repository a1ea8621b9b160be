################################################################################
# Naming
################################################################################

variable "name" {
  description = "Name of the compute environment, job queue and job definition (1..50 characters: letters, digits, hyphen, underscore); the roles are <name>-job and <name>-execution."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,50}$", var.name))
    error_message = "name must be 1..50 characters of letters, digits, \"-\" or \"_\"."
  }
}

variable "tags" {
  description = "Tags applied to every resource that supports them."
  type        = map(string)
  default     = {}
}

################################################################################
# Image and code
################################################################################

variable "image" {
  description = "URI of the training image (built from training/Dockerfile and pushed to ECR), e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/grocery-forecast-train:1.0."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/[a-z0-9._/-]+(:[A-Za-z0-9._-]+|@sha256:[0-9a-f]{64})$", var.image))
    error_message = "image must be an ECR image URI with a tag or digest (<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>)."
  }
}

variable "image_repository_arn" {
  description = "ARN of the ECR repository holding the image (the execution role may pull from it only)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:ecr:[a-z0-9-]+:[0-9]{12}:repository/", var.image_repository_arn))
    error_message = "image_repository_arn must be an ECR repository ARN."
  }
}

variable "environment_variables" {
  description = "Environment of the job (the training Lambda's settings: HISTORY_TABLE, MODELS_BUCKET, PROCESSED_BUCKET, TRAINING_*). The run itself (RUN_ID, TOTAL_SEGMENTS, TRIGGER) comes from the workflow."
  type        = map(string)
  default     = {}
}

variable "job_policy_statements" {
  description = "IAM statements of the job role (the same as the training Lambda's: read the history and the reference tables, write under models/)."
  type = list(object({
    sid       = string
    actions   = list(string)
    resources = list(string)
    conditions = optional(list(object({
      test     = string
      variable = string
      values   = list(string)
    })), [])
  }))
}

################################################################################
# Size
################################################################################

variable "vcpu" {
  description = "vCPUs of the job: a Fargate size, 1, 2, 4, 8 or 16."
  type        = number
  default     = 4

  validation {
    condition     = contains([1, 2, 4, 8, 16], var.vcpu)
    error_message = "vcpu must be one of 1, 2, 4, 8, 16."
  }
}

variable "memory_mb" {
  description = "Memory of the job in MiB, 2048..122880, within what Fargate allows for vcpu (4 vCPU: 8192..30720 in steps of 1024). Training a year of Favorita-size history peaks near 7 GB: 16384 leaves room for growth."
  type        = number
  default     = 16384

  validation {
    condition     = var.memory_mb >= 2048 && var.memory_mb <= 122880 && var.memory_mb % 1024 == 0
    error_message = "memory_mb must be a multiple of 1024 between 2048 and 122880."
  }
}

variable "ephemeral_storage_gib" {
  description = "Task storage in GiB, 21..200."
  type        = number
  default     = 21

  validation {
    condition     = var.ephemeral_storage_gib >= 21 && var.ephemeral_storage_gib <= 200 && floor(var.ephemeral_storage_gib) == var.ephemeral_storage_gib
    error_message = "ephemeral_storage_gib must be a whole number between 21 and 200."
  }
}

variable "timeout_seconds" {
  description = "Longest a job may run before Batch stops it, 60..86400 seconds."
  type        = number
  default     = 7200

  validation {
    condition     = var.timeout_seconds >= 60 && var.timeout_seconds <= 86400 && floor(var.timeout_seconds) == var.timeout_seconds
    error_message = "timeout_seconds must be a whole number between 60 and 86400."
  }
}

variable "max_parallel_jobs" {
  description = "Jobs that may run at once (the compute environment's max vCPUs is this times vcpu), 1..10."
  type        = number
  default     = 1

  validation {
    condition     = var.max_parallel_jobs >= 1 && var.max_parallel_jobs <= 10 && floor(var.max_parallel_jobs) == var.max_parallel_jobs
    error_message = "max_parallel_jobs must be a whole number between 1 and 10."
  }
}

variable "use_spot" {
  description = "Run on FARGATE_SPOT (cheaper; a reclaimed job fails the run, which the workflow retries or the alarm reports)."
  type        = bool
  default     = false
}

################################################################################
# Network
################################################################################

variable "subnet_ids" {
  description = "Subnets of the job's task. It needs a route to S3, DynamoDB and ECR: a NAT gateway, VPC endpoints, or a public subnet with assign_public_ip."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) > 0 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "subnet_ids must be one or more subnet IDs (subnet-...)."
  }
}

variable "security_group_ids" {
  description = "Security groups of the job's task (outbound HTTPS is all it needs)."
  type        = list(string)

  validation {
    condition     = length(var.security_group_ids) > 0 && alltrue([for s in var.security_group_ids : can(regex("^sg-[0-9a-f]+$", s))])
    error_message = "security_group_ids must be one or more security group IDs (sg-...)."
  }
}

variable "assign_public_ip" {
  description = "Give the task a public IP (for a public subnet without NAT)."
  type        = bool
  default     = false
}

################################################################################
# Logging
################################################################################

variable "log_retention_days" {
  description = "Retention of the job's log group in days (a value CloudWatch Logs accepts; 0 means never expire)."
  type        = number
  default     = 365

  validation {
    condition     = contains([0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts."
  }
}

variable "cloudwatch_logs_kms_key_arn" {
  description = "ARN of a customer managed KMS key for the log group; null leaves it on CloudWatch Logs' own encryption."
  type        = string
  default     = null

  validation {
    condition     = var.cloudwatch_logs_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.cloudwatch_logs_kms_key_arn))
    error_message = "cloudwatch_logs_kms_key_arn must be null or a KMS key ARN."
  }
}
