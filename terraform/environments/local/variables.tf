################################################################################
# Emulator
################################################################################

variable "endpoint" {
  description = "URL of the local AWS emulator (MiniStack or LocalStack) serving every service on one port."
  type        = string
  default     = "http://localhost:4566"

  validation {
    condition     = can(regex("^https?://[^/]+/?$", var.endpoint))
    error_message = "endpoint must be a URL like http://localhost:4566."
  }
}

variable "region" {
  description = "Region the emulator pretends to be in."
  type        = string
  default     = "us-east-1"
}

################################################################################
# Stack
################################################################################

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
  default     = "grocery-forecast-local"
}

variable "etl_package_path" {
  description = "Path of the ETL zip. null means <repo>/build/lambdas/etl.zip, where the bundling script writes the host-Python build."
  type        = string
  default     = null
}

variable "predict_package_path" {
  description = "Path of the predict zip. null means <repo>/build/lambdas/predict.zip, where the bundling script writes the host-Python build."
  type        = string
  default     = null
}

variable "monitor_package_path" {
  description = "Path of the monitor zip. null means <repo>/build/lambdas/monitor.zip, where the bundling script writes the host-Python build."
  type        = string
  default     = null
}

variable "train_package_path" {
  description = "Path of the training zip. null means <repo>/build/lambdas/train.zip, where the bundling script writes the host-Python build."
  type        = string
  default     = null
}

variable "lambda_runtime" {
  description = "Declared runtime of the functions (the emulator runs them with its own interpreter whatever this says)."
  type        = string
  default     = "python3.12"
}

variable "forecast_horizon" {
  description = "Number of days forecast after the last date of history, 1..16."
  type        = number
  default     = 16
}

variable "log_level" {
  description = "Log level of the functions: DEBUG, INFO, WARNING or ERROR."
  type        = string
  default     = "INFO"
}

variable "log_retention_days" {
  description = "Retention of the functions' log groups in days. One year, as in production: the emulator stores the setting but never expires log events."
  type        = number
  default     = 365
}

variable "maximum_retry_attempts" {
  description = "Retries of a failed S3-triggered invocation before it goes to the dead-letter queue, 0..2. The same default as the aws root, so the tests exercise the retries production applies (MiniStack spaces them 1 s and 2 s apart instead of AWS's minutes)."
  type        = number
  default     = 2
}

variable "maximum_event_age_in_seconds" {
  description = "How long a failed S3-triggered event keeps being retried, 60..21600 seconds. The same default as the aws root."
  type        = number
  default     = 21600
}

variable "create_alarms" {
  description = "Deploy the CloudWatch alarms (DLQ depth; function errors, throttles, duration; workflow executions; model worse than baseline) on the emulator. Off by default: MiniStack 1.5.x creates and evaluates them, but its DescribeAlarms over the query protocol Terraform uses omits period, dimensions, statistic, actions and treat_missing_data, so every plan after the apply shows a diff."
  type        = bool
  default     = false
}

variable "forecast_shard_rows" {
  description = "Target rows above which a forecast runs sharded. Small here (1,000: a 63-series upload already has several shards) so the e2e tests exercise the workflow; `make bench` deploys with production's 2,000,000."
  type        = number
  default     = 1000
}

variable "forecast_max_concurrency" {
  description = "Shards forecast at the same time. 2 on a laptop or CI runner (each shard is a Lambda process)."
  type        = number
  default     = 2
}

variable "forecast_shard_retries" {
  description = "Retries of a failed shard task before the run fails."
  type        = number
  default     = 2
}

variable "forecast_shard_fault_marker" {
  description = "Uploads whose key holds \"<marker>-<n>\" fail their first shard's forecast n times (the e2e fault tests). Local only: the AWS root has no such variable."
  type        = string
  default     = "inject-shard-fault"
}

variable "ingest_shard_bytes" {
  description = "Actuals uploads larger than this (bytes) are ingested sharded. Small here (1 MiB: a 4 MB upload has four shards) so the e2e tests exercise the ingest workflow; `make bench BENCH=year` deploys with production's 128 MiB."
  type        = number
  default     = 1048576
}

variable "ingest_partitions" {
  description = "Partitions of the series, one writer lease and one merge task each. 4 here: several partitions on a CI-sized upload, few lease round trips per small upload."
  type        = number
  default     = 4
}

variable "ingest_bucket_rows" {
  description = "Rows a partition's check or merge holds at once (ingest_bucket_rows of the forecasting-stack module; 0 derives it from the ETL's memory). 20,000 here: the e2e file (3.5 MB, counted at its most as 194,000 rows over 4 partitions) gets 4 sub-buckets a partition, so CI runs the sub-bucket loops; `make bench` deploys 0, the AWS root's value."
  type        = number
  default     = 20000
}

variable "ingest_max_concurrency" {
  description = "Shards or partitions processed at the same time. 2 on a laptop or CI runner (each task is a Lambda process)."
  type        = number
  default     = 2
}

variable "ingest_task_retries" {
  description = "Retries of a failed ingest task before the run fails."
  type        = number
  default     = 2
}

variable "etl_fault_marker" {
  description = "Uploads whose key holds \"<marker>-<kind>-<n>\" (kill, timeout, lostack) get that fault in the history merge of their first n ETL attempts (the e2e chaos test). Local only: the AWS root has no such variable."
  type        = string
  default     = "inject_etl_fault"
}

variable "point_in_time_recovery" {
  description = "Enable point-in-time recovery on the history table (the emulator accepts it; set false for an emulator that does not)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags applied to every resource."
  type        = map(string)
  default = {
    Project     = "grocery-forecast"
    Environment = "local"
    ManagedBy   = "terraform"
  }
}

variable "accuracy_alarm_days" {
  description = "Days in a row (days of data) the served forecasts may score worse than the best baseline before the model-worse-than-baseline alarm goes off: 1..30."
  type        = number
  default     = 3
}

################################################################################
# Retraining
################################################################################

variable "training_schedule_expression" {
  description = "When the retraining workflow runs (EventBridge rate() or cron()). Weekly, as on AWS; the e2e test starts the workflow with the schedule's own input instead of waiting a week."
  type        = string
  default     = "rate(7 days)"
}

variable "promotion_min_improvement" {
  description = "Relative NWRMSLE gain a challenger needs over the model in service to be promoted."
  type        = number
  default     = 0.01
}

variable "training_scan_segments" {
  description = "Parallel Scan segments of the history (small here: the emulator runs them as local processes)."
  type        = number
  default     = 2
}
