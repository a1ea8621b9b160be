################################################################################
# Naming
################################################################################

variable "name" {
  description = "Name of the state machine (1..64 characters: letters, digits, hyphen, underscore). Also names its IAM role and its log group /aws/vendedlogs/states/<name>."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.name))
    error_message = "name must be 1..64 characters of letters, digits, \"-\" or \"_\" (it also names the IAM role, at most 64)."
  }
}

variable "tags" {
  description = "Tags applied to every resource that supports them."
  type        = map(string)
  default     = {}
}

################################################################################
# What the workflow runs and reads
################################################################################

variable "function_arn" {
  description = "ARN of the function that runs every task of the workflow (the ETL function: validate_shard, check_partition, verdict, merge_partition, finish, fail)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]+$", var.function_arn))
    error_message = "function_arn must be an unqualified Lambda function ARN (arn:<partition>:lambda:<region>:<account>:function:<name>)."
  }
}

variable "list_bucket_arn" {
  description = "ARN of the bucket holding the shard and partition lists (the processed bucket); the Distributed Maps' ItemReader reads <list_key_prefix>*/shards.json and partitions.json from it."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.list_bucket_arn))
    error_message = "list_bucket_arn must be an S3 bucket ARN (arn:<partition>:s3:::<bucket>)."
  }
}

variable "list_key_prefix" {
  description = "Key prefix of the ingest files in that bucket, ending in \"/\". The state machine may read nothing else."
  type        = string
  default     = "ingest/"

  validation {
    condition     = can(regex("^[A-Za-z0-9!_.()-]+(/[A-Za-z0-9!_.()-]+)*/$", var.list_key_prefix))
    error_message = "list_key_prefix must be a non-empty key prefix ending in \"/\" with no wildcard."
  }
}

################################################################################
# Concurrency and retries
################################################################################

variable "max_concurrency" {
  description = "Tasks (shards or partitions) run at the same time by each Distributed Map, 1..1000 (each one is a concurrent invocation of the function: keep it within the account's Lambda concurrency)."
  type        = number
  default     = 20

  validation {
    condition     = var.max_concurrency >= 1 && var.max_concurrency <= 1000 && floor(var.max_concurrency) == var.max_concurrency
    error_message = "max_concurrency must be a whole number between 1 and 1000."
  }
}

variable "task_retries" {
  description = "Retries of a failed task (a function error, a timeout, an out-of-memory kill) before the run fails, 0..5. Lambda service errors and throttles are always retried up to 6 times."
  type        = number
  default     = 2

  validation {
    condition     = var.task_retries >= 0 && var.task_retries <= 5 && floor(var.task_retries) == var.task_retries
    error_message = "task_retries must be a whole number between 0 and 5."
  }
}

variable "retry_interval_seconds" {
  description = "Seconds before the first retry of a failed task (doubled at each further retry), 1..300."
  type        = number
  default     = 5

  validation {
    condition     = var.retry_interval_seconds >= 1 && var.retry_interval_seconds <= 300 && floor(var.retry_interval_seconds) == var.retry_interval_seconds
    error_message = "retry_interval_seconds must be a whole number between 1 and 300."
  }
}

################################################################################
# Logging
################################################################################

variable "log_level" {
  description = "Execution events sent to the log group: ALL, ERROR, FATAL or OFF (Step Functions keeps each execution's history for 90 days either way)."
  type        = string
  default     = "ERROR"

  validation {
    condition     = contains(["ALL", "ERROR", "FATAL", "OFF"], var.log_level)
    error_message = "log_level must be one of ALL, ERROR, FATAL, OFF."
  }
}

variable "log_retention_days" {
  description = "Retention of the log group in days (a value CloudWatch Logs accepts; 0 means never expire)."
  type        = number
  default     = 365

  validation {
    condition     = contains([0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts (0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653)."
  }
}

variable "cloudwatch_logs_kms_key_arn" {
  description = "ARN of a customer managed KMS key for the log group (its key policy must let CloudWatch Logs use it for this log group); null leaves it on CloudWatch Logs' own encryption."
  type        = string
  default     = null

  validation {
    condition     = var.cloudwatch_logs_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.cloudwatch_logs_kms_key_arn))
    error_message = "cloudwatch_logs_kms_key_arn must be null or a KMS key ARN (arn:<partition>:kms:...)."
  }
}
