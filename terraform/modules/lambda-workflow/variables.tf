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
# The definition
################################################################################

variable "comment" {
  description = "The definition's Comment: what the workflow does, in one sentence (null for none)."
  type        = string
  default     = null
}

variable "start_at" {
  description = "Name of the first state; must be a key of states."
  type        = string
}

variable "states" {
  description = "The workflow's states (Amazon States Language, as Terraform objects), by name. A Task state with no Resource is a Lambda task (lambda:invoke of its Parameters.FunctionName, which must be one of function_arns). The module adds the retry and failure policy (see the README): Retry on every Task, top level or in a Map's ItemProcessor; Catch into failure_state on every top-level Task and Map; MaxConcurrency on every Map. Keys a state sets itself win."
  type        = any

  validation {
    condition     = can(keys(var.states)) && length(keys(var.states)) > 0 && alltrue([for s in values(var.states) : can(s.Type)])
    error_message = "states must be a non-empty object of states by name, each with a Type."
  }
}

variable "failure_state" {
  description = "Name of the state every top-level Task and Map is caught into after its retries (the error at $.error), typically a Lambda task recording the failure and then a Fail state. Its own Lambda task is retried on Lambda service errors only and not caught. Null: no Catch is added."
  type        = string
  default     = null
}

################################################################################
# What the workflow runs and reads
################################################################################

variable "function_arns" {
  description = "Unqualified ARNs of the Lambda functions the workflow's tasks invoke: the role may invoke exactly these, and every Lambda task must name one of them."
  type        = list(string)

  validation {
    condition = length(var.function_arns) > 0 && alltrue([
      for arn in var.function_arns : can(regex("^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]+$", arn))
    ])
    error_message = "function_arns must be one or more unqualified Lambda function ARNs (arn:<partition>:lambda:<region>:<account>:function:<name>)."
  }
}

variable "item_reader" {
  description = "Where the Distributed Maps' ItemReader reads its item lists: the bucket's ARN and a key prefix ending in \"/\"; the role may s3:GetObject under that prefix and nothing else. Null: no S3 read."
  type = object({
    bucket_arn = string
    key_prefix = string
  })
  default = null

  validation {
    condition     = var.item_reader == null || can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.item_reader.bucket_arn))
    error_message = "item_reader.bucket_arn must be an S3 bucket ARN (arn:<partition>:s3:::<bucket>)."
  }

  validation {
    condition     = var.item_reader == null || can(regex("^[A-Za-z0-9!_.()-]+(/[A-Za-z0-9!_.()-]+)*/$", var.item_reader.key_prefix))
    error_message = "item_reader.key_prefix must be a non-empty key prefix ending in \"/\" with no wildcard."
  }
}

variable "policy_statements" {
  description = "Further statements of the execution role (for tasks of other services, e.g. an AWS Batch job): each with Sid, Effect, Action and Resource, as in an IAM policy document. Empty by default: a workflow of Lambda tasks needs none."
  type        = any
  default     = []

  validation {
    condition = can(length(var.policy_statements)) && alltrue([
      for s in var.policy_statements : can(s.Sid) && can(s.Effect) && can(s.Action) && can(s.Resource)
    ])
    error_message = "policy_statements must be a list of IAM statements, each with Sid, Effect, Action and Resource."
  }
}

################################################################################
# Concurrency and retries
################################################################################

variable "max_concurrency" {
  description = "Items run at the same time by each Map state that sets no MaxConcurrency of its own, 1..1000 (each one is a concurrent invocation of a function: keep it within the account's Lambda concurrency)."
  type        = number
  default     = 20

  validation {
    condition     = var.max_concurrency >= 1 && var.max_concurrency <= 1000 && floor(var.max_concurrency) == var.max_concurrency
    error_message = "max_concurrency must be a whole number between 1 and 1000."
  }
}

variable "task_retries" {
  description = "Retries of a failed task (a function error, a timeout, an out-of-memory kill) before it is caught into failure_state, 0..5. Lambda service errors and throttles are always retried up to 6 times."
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
  description = "ARN of a customer managed KMS key for the log group (its key policy must let CloudWatch Logs use it for this log group: log_group_arn is known before the group exists); null leaves it on CloudWatch Logs' own encryption."
  type        = string
  default     = null

  validation {
    condition     = var.cloudwatch_logs_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.cloudwatch_logs_kms_key_arn))
    error_message = "cloudwatch_logs_kms_key_arn must be null or a KMS key ARN (arn:<partition>:kms:...)."
  }
}
