################################################################################
# Function
################################################################################

variable "function_name" {
  description = "Name of the function (1..64 characters: letters, digits, hyphen, underscore). Also names its IAM role and its log group /aws/lambda/<function_name>."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.function_name))
    error_message = "function_name must be 1..64 characters of letters, digits, \"-\" or \"_\"."
  }
}

variable "description" {
  description = "Description of the function."
  type        = string
  default     = ""
}

variable "handler" {
  description = "Entry point, as <module>.<function> (e.g. handler.lambda_handler)."
  type        = string
  default     = "handler.lambda_handler"

  validation {
    condition     = can(regex("^[A-Za-z0-9_./-]+\\.[A-Za-z0-9_]+$", var.handler))
    error_message = "handler must look like <module>.<function>, e.g. handler.lambda_handler."
  }
}

variable "runtime" {
  description = "Lambda runtime identifier: python3.12, the only one the packages are built for (scripts/build_lambdas.py bundles CPython 3.12 wheels of numpy, pandas and LightGBM)."
  type        = string
  default     = "python3.12"

  # The emulator ignores the runtime; on AWS another Python could not import the bundled native wheels.
  validation {
    condition     = var.runtime == "python3.12"
    error_message = "runtime must be python3.12: scripts/build_lambdas.py builds the bundles (numpy, pandas, LightGBM wheels) for CPython 3.12 only, and another Python runtime could not import them on AWS."
  }
}

variable "architectures" {
  description = "Instruction set: [\"x86_64\"] or [\"arm64\"]. Must match the platform the package's native wheels were built for."
  type        = list(string)
  default     = ["x86_64"]

  validation {
    condition     = length(var.architectures) == 1 && contains(["x86_64", "arm64"], var.architectures[0])
    error_message = "architectures must be [\"x86_64\"] or [\"arm64\"]."
  }
}

variable "memory_size" {
  description = "Memory in MB, 128..10240 (CPU scales with it; 1769 MB is one full vCPU)."
  type        = number
  default     = 128

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240 && floor(var.memory_size) == var.memory_size
    error_message = "memory_size must be a whole number of MB between 128 and 10240."
  }
}

variable "timeout" {
  description = "Timeout in seconds, 1..900."
  type        = number
  default     = 3

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900 && floor(var.timeout) == var.timeout
    error_message = "timeout must be a whole number of seconds between 1 and 900."
  }
}

variable "ephemeral_storage_size" {
  description = "Size of /tmp in MB, 512..10240."
  type        = number
  default     = 512

  validation {
    condition     = var.ephemeral_storage_size >= 512 && var.ephemeral_storage_size <= 10240 && floor(var.ephemeral_storage_size) == var.ephemeral_storage_size
    error_message = "ephemeral_storage_size must be a whole number of MB between 512 and 10240."
  }
}

variable "environment_variables" {
  description = "Environment variables of the function. Do not put secrets here: they are stored in plain text in the state."
  type        = map(string)
  default     = {}
}

variable "reserved_concurrent_executions" {
  description = "Reserved concurrency. null (the default) leaves the function unreserved; 0 stops every invocation."
  type        = number
  default     = null

  validation {
    condition     = var.reserved_concurrent_executions == null || try(var.reserved_concurrent_executions >= 0 && floor(var.reserved_concurrent_executions) == var.reserved_concurrent_executions, false)
    error_message = "reserved_concurrent_executions must be null or a whole number >= 0."
  }
}

################################################################################
# Package
################################################################################

variable "package_path" {
  description = "Path of the deployment package (a zip built outside Terraform). It is uploaded to the artifacts bucket under a key containing its SHA-256, so any change to the file redeploys the function. Packages above 50 MB cannot be uploaded directly to Lambda; through S3 the limit is 250 MB unzipped."
  type        = string

  validation {
    condition     = fileexists(var.package_path)
    error_message = "package_path does not point to an existing file. Build the Lambda packages first: `make bundle` (local) or `make bundle-aws` (scripts/build_lambdas.py)."
  }
}

variable "artifacts_bucket" {
  description = "Name of the (existing) bucket the package is uploaded to."
  type        = string
}

variable "artifacts_key_prefix" {
  description = "Key prefix of the uploaded package; the key is <prefix><function_name>/<sha256 of the zip>.zip."
  type        = string
  default     = "lambda/"

  validation {
    condition     = var.artifacts_key_prefix == "" || endswith(var.artifacts_key_prefix, "/")
    error_message = "artifacts_key_prefix must be empty or end with \"/\"."
  }
}

################################################################################
# Permissions
################################################################################

variable "policy_statements" {
  description = <<-EOT
    Allow statements of the function role's inline policy (the permission to write its own log group is added by the module).
    Each object: sid (alphanumeric), actions (list of "service:Action"), resources (list of ARNs),
    optional conditions (list of {test, variable, values}, e.g. ForAllValues:StringEquals dynamodb:LeadingKeys ["__index__"]).
    Least privilege is enforced: no action may end in "*" and no resource may be "*".
  EOT
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
  default = []

  validation {
    condition     = alltrue([for s in var.policy_statements : can(regex("^[A-Za-z0-9]+$", s.sid))])
    error_message = "Every policy statement sid must be alphanumeric (IAM rejects other characters)."
  }

  validation {
    condition     = alltrue([for s in var.policy_statements : length(s.actions) > 0 && alltrue([for a in s.actions : can(regex("^[a-z0-9-]+:[A-Za-z0-9]+$", a))])])
    error_message = "Every policy statement needs at least one action of the form service:Action, with no wildcard (\"*\", \"s3:*\", \"s3:Get*\" are refused)."
  }

  validation {
    condition     = alltrue([for s in var.policy_statements : length(s.resources) > 0 && alltrue([for r in s.resources : r != "*"])])
    error_message = "Every policy statement needs at least one resource, and \"*\" is refused: name the ARNs."
  }
}

################################################################################
# Logging
################################################################################

variable "log_retention_days" {
  description = "Retention of the function's log group, in days (one of the values CloudWatch Logs accepts; 0 means never expire). One year by default, the usual audit minimum."
  type        = number
  default     = 365

  validation {
    condition     = contains([0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of 0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "cloudwatch_logs_kms_key_arn" {
  description = "ARN of the customer managed KMS key encrypting the function's log group. Its key policy must let logs.<region>.amazonaws.com use it for this log group. null (the default) leaves the log group encrypted by CloudWatch Logs' own key."
  type        = string
  default     = null

  validation {
    condition     = var.cloudwatch_logs_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.cloudwatch_logs_kms_key_arn))
    error_message = "cloudwatch_logs_kms_key_arn must be null or a KMS key ARN (arn:<partition>:kms:...)."
  }
}

################################################################################
# Asynchronous invocation
################################################################################

variable "maximum_retry_attempts" {
  description = "How many times Lambda retries a failed asynchronous invocation (S3 notifications are asynchronous), 0..2."
  type        = number
  default     = 2

  validation {
    condition     = contains([0, 1, 2], var.maximum_retry_attempts)
    error_message = "maximum_retry_attempts must be 0, 1 or 2."
  }
}

variable "maximum_event_age_in_seconds" {
  description = "Maximum age of an asynchronous event before it is discarded (sent to the on-failure destination), 60..21600 seconds."
  type        = number
  default     = 21600

  validation {
    condition     = var.maximum_event_age_in_seconds >= 60 && var.maximum_event_age_in_seconds <= 21600
    error_message = "maximum_event_age_in_seconds must be between 60 and 21600."
  }
}

variable "destination_on_failure" {
  description = "ARN of the SQS queue (or SNS topic, Lambda function, EventBridge bus) receiving asynchronous invocations that failed every attempt. null for none. The role needs permission to send there: pass it in policy_statements."
  type        = string
  default     = null
}

################################################################################
# Alarm
################################################################################

variable "create_errors_alarm" {
  description = "Create a CloudWatch alarm on the function's Errors metric (every failed attempt, retries included)."
  type        = bool
  default     = true
}

variable "errors_alarm_threshold" {
  description = "Errors within one period that set the alarm off, at least 1."
  type        = number
  default     = 1

  validation {
    condition     = var.errors_alarm_threshold >= 1 && floor(var.errors_alarm_threshold) == var.errors_alarm_threshold
    error_message = "errors_alarm_threshold must be a whole number of at least 1."
  }
}

variable "errors_alarm_period_seconds" {
  description = "Period over which errors are summed, in seconds: 60 or a multiple of 60, at most 86400."
  type        = number
  default     = 300

  validation {
    condition     = var.errors_alarm_period_seconds >= 60 && var.errors_alarm_period_seconds <= 86400 && var.errors_alarm_period_seconds % 60 == 0
    error_message = "errors_alarm_period_seconds must be a multiple of 60 between 60 and 86400."
  }
}

variable "create_throttles_alarm" {
  description = "Create a CloudWatch alarm on the function's Throttles metric (any throttled invocation in a period)."
  type        = bool
  default     = true
}

variable "create_duration_alarm" {
  description = "Create a CloudWatch alarm on the function's Maximum Duration over duration_alarm_percent_of_timeout of its timeout."
  type        = bool
  default     = true
}

variable "duration_alarm_percent_of_timeout" {
  description = "The duration alarm goes off when an invocation runs longer than this percentage of the timeout: 1..100, default 80."
  type        = number
  default     = 80

  validation {
    condition     = var.duration_alarm_percent_of_timeout >= 1 && var.duration_alarm_percent_of_timeout <= 100
    error_message = "duration_alarm_percent_of_timeout must be between 1 and 100."
  }
}

variable "alarm_actions" {
  description = "ARNs notified when the errors alarm goes off or clears (typically one SNS topic). Empty: the alarm only shows in the console and in DescribeAlarms."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.alarm_actions : can(regex("^arn:[^:]+:[a-z0-9-]+:", a))])
    error_message = "alarm_actions must be ARNs (arn:<partition>:<service>:...)."
  }
}

################################################################################
# Tags
################################################################################

variable "tags" {
  description = "Tags applied to every resource of the module."
  type        = map(string)
  default     = {}
}
