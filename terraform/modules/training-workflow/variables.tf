# The function ARN, retries and log settings are validated by ../lambda-workflow, which this module passes
# them to; what only retraining has (its runner, Scan, schedule and alarm) is validated here.

################################################################################
# Naming
################################################################################

variable "name" {
  description = "Name of the state machine (1..55 characters: letters, digits, hyphen, underscore). Also names its IAM roles (<name>, <name>-schedule), its EventBridge rule, its alarm and its log group /aws/vendedlogs/states/<name>."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,55}$", var.name))
    error_message = "name must be 1..55 characters of letters, digits, \"-\" or \"_\" (the schedule role <name>-schedule must fit IAM's 64)."
  }
}

variable "tags" {
  description = "Tags applied to every resource that supports them."
  type        = map(string)
  default     = {}
}

################################################################################
# What the workflow runs
################################################################################

variable "function_arn" {
  description = "ARN of the training function, which runs every task of the workflow (scan, train, promote, reject, fail)."
  type        = string
}

variable "train_runner" {
  description = "Where the train step runs: \"lambda\" (the training function, up to 10,240 MB and 15 minutes) or \"batch\" (an AWS Batch job running the same code, for histories a Lambda cannot train: see the README, \"Retraining\")."
  type        = string
  default     = "lambda"

  validation {
    condition     = contains(["lambda", "batch"], var.train_runner)
    error_message = "train_runner must be \"lambda\" or \"batch\"."
  }
}

variable "batch_job_queue_arn" {
  description = "With train_runner = \"batch\": ARN of the AWS Batch job queue the train step is submitted to."
  type        = string
  default     = null

  validation {
    condition     = var.batch_job_queue_arn == null || can(regex("^arn:aws[a-z-]*:batch:[a-z0-9-]+:[0-9]{12}:job-queue/", var.batch_job_queue_arn))
    error_message = "batch_job_queue_arn must be null or a Batch job queue ARN."
  }
}

variable "batch_job_definition_arn" {
  description = "With train_runner = \"batch\": ARN of the job definition (training/batch_job.py in the training image)."
  type        = string
  default     = null

  validation {
    condition     = var.batch_job_definition_arn == null || can(regex("^arn:aws[a-z-]*:batch:[a-z0-9-]+:[0-9]{12}:job-definition/", var.batch_job_definition_arn))
    error_message = "batch_job_definition_arn must be null or a Batch job definition ARN."
  }
}

variable "batch_task_timeout_seconds" {
  description = "With train_runner = \"batch\": longest the Train step waits for its job, queueing included, 600..86400 seconds. Batch's own timeout counts only the time the job runs: a job stuck RUNNABLE (no Fargate capacity or vCPU quota, an invalid compute environment) would otherwise hold the execution open for up to a year without an alarm. The default is the job's 7,200 s plus an hour to start; on timeout Step Functions stops the job and the run fails into RecordFailure (and the failed-retraining alarm)."
  type        = number
  default     = 10800

  validation {
    condition     = var.batch_task_timeout_seconds >= 600 && var.batch_task_timeout_seconds <= 86400 && floor(var.batch_task_timeout_seconds) == var.batch_task_timeout_seconds
    error_message = "batch_task_timeout_seconds must be a whole number between 600 and 86400."
  }
}

variable "scan_segments" {
  description = "Parallel Scan segments the history table is read in, 1..64: each one is a task of the function writing one part. About one per 30,000 series keeps each task's read well inside a minute."
  type        = number
  default     = 8

  validation {
    condition     = var.scan_segments >= 1 && var.scan_segments <= 64 && floor(var.scan_segments) == var.scan_segments
    error_message = "scan_segments must be a whole number between 1 and 64."
  }
}

variable "scan_max_concurrency" {
  description = "Scan segments read at the same time, 1..64 (concurrent invocations of the function and the table's read capacity)."
  type        = number
  default     = 8

  validation {
    condition     = var.scan_max_concurrency >= 1 && var.scan_max_concurrency <= 64 && floor(var.scan_max_concurrency) == var.scan_max_concurrency
    error_message = "scan_max_concurrency must be a whole number between 1 and 64."
  }
}

variable "task_retries" {
  description = "Retries of a failed task (a function error or timeout) before the run fails, 0..5. Lambda service errors and throttles are always retried up to 6 times."
  type        = number
  default     = 1
}

variable "retry_interval_seconds" {
  description = "Seconds before the first retry of a failed task (doubled at each further retry), 1..300."
  type        = number
  default     = 10
}

################################################################################
# Schedule
################################################################################

variable "create_schedule" {
  description = "Create the EventBridge rule (and its role) that starts a retraining run on schedule_expression."
  type        = bool
  default     = true
}

variable "schedule_expression" {
  description = "When retraining runs: an EventBridge rate() or cron() expression. Weekly by default; new weeks of sales are what a retrained model can learn from."
  type        = string
  default     = "rate(7 days)"

  validation {
    # EventBridge wants the singular unit for 1 and the plural above: rate(1 days) and rate(7 day) fail at apply.
    condition     = can(regex("^(rate\\((1 (minute|hour|day)|([2-9]|[1-9][0-9]+) (minutes|hours|days))\\)|cron\\(\\S+( \\S+){5}\\))$", var.schedule_expression))
    error_message = "schedule_expression must be rate(1 minute|hour|day), rate(<n> minutes|hours|days) with n >= 2, or a six-field cron(...) expression."
  }
}

variable "schedule_enabled" {
  description = "Whether the rule is enabled (false keeps it, disabled: runs only on demand)."
  type        = bool
  default     = true
}

################################################################################
# Alarm
################################################################################

variable "create_failed_alarm" {
  description = "Create a CloudWatch alarm on the state machine's ExecutionsFailed metric (any failed retraining run)."
  type        = bool
  default     = true
}

variable "failed_alarm_period_seconds" {
  description = "Period over which failed runs are summed, in seconds: 60 or a multiple of 60, at most 86400."
  type        = number
  default     = 3600

  validation {
    condition     = var.failed_alarm_period_seconds >= 60 && var.failed_alarm_period_seconds <= 86400 && var.failed_alarm_period_seconds % 60 == 0
    error_message = "failed_alarm_period_seconds must be 60..86400 and a multiple of 60."
  }
}

variable "alarm_actions" {
  description = "ARNs notified when the alarm goes off or clears (typically one SNS topic). Empty: it only shows in the console and in DescribeAlarms."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.alarm_actions : can(regex("^arn:[^:]+:[a-z0-9-]+:", a))])
    error_message = "alarm_actions must be ARNs (arn:<partition>:<service>:...)."
  }
}

################################################################################
# Logging
################################################################################

variable "log_level" {
  description = "Execution events sent to the log group: ALL, ERROR, FATAL or OFF (Step Functions keeps each execution's history for 90 days either way)."
  type        = string
  default     = "ERROR"
}

variable "log_retention_days" {
  description = "Retention of the log group in days (a value CloudWatch Logs accepts; 0 means never expire)."
  type        = number
  default     = 365
}

variable "cloudwatch_logs_kms_key_arn" {
  description = "ARN of a customer managed KMS key for the log group (its key policy must let CloudWatch Logs use it for this log group); null leaves it on CloudWatch Logs' own encryption."
  type        = string
  default     = null
}
