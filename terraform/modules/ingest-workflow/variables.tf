# The names, ARNs, prefixes, concurrency, retries and log settings are validated by ../lambda-workflow,
# which this module passes them to.

################################################################################
# Naming
################################################################################

variable "name" {
  description = "Name of the state machine (1..64 characters: letters, digits, hyphen, underscore). Also names its IAM role and its log group /aws/vendedlogs/states/<name>."
  type        = string
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
}

variable "list_bucket_arn" {
  description = "ARN of the bucket holding the shard and partition lists (the processed bucket); the Distributed Maps' ItemReader reads <list_key_prefix>*/shards.json and partitions.json from it."
  type        = string
}

variable "list_key_prefix" {
  description = "Key prefix of the ingest files in that bucket, ending in \"/\". The state machine may read nothing else."
  type        = string
  default     = "ingest/"
}

################################################################################
# Concurrency and retries
################################################################################

variable "max_concurrency" {
  description = "Tasks (shards or partitions) run at the same time by each Distributed Map, 1..1000 (each one is a concurrent invocation of the function: keep it within the account's Lambda concurrency)."
  type        = number
  default     = 20
}

variable "task_retries" {
  description = "Retries of a failed task (a function error, a timeout, an out-of-memory kill) before the run fails, 0..5. Lambda service errors and throttles are always retried up to 6 times."
  type        = number
  default     = 2
}

variable "retry_interval_seconds" {
  description = "Seconds before the first retry of a failed task (doubled at each further retry), 1..300."
  type        = number
  default     = 5
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
