################################################################################
# Account
################################################################################

variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "us-east-1"
}

################################################################################
# Stack
################################################################################

variable "name_prefix" {
  description = "Prefix of every resource name. S3 bucket names are global across all AWS accounts: change it to something unique to you (e.g. add your account id or organisation)."
  type        = string
  default     = "grocery-forecast"
}

variable "etl_package_path" {
  description = "Path of the ETL zip. null means <repo>/build/lambdas-aws/etl.zip, where the bundling script writes the build for the Lambda runtime (manylinux x86_64)."
  type        = string
  default     = null
}

variable "predict_package_path" {
  description = "Path of the predict zip. null means <repo>/build/lambdas-aws/predict.zip, where the bundling script writes the build for the Lambda runtime (manylinux x86_64)."
  type        = string
  default     = null
}

variable "monitor_package_path" {
  description = "Path of the monitor zip. null means <repo>/build/lambdas-aws/monitor.zip, where the bundling script writes the build for the Lambda runtime (manylinux x86_64)."
  type        = string
  default     = null
}

variable "train_package_path" {
  description = "Path of the training zip. null means <repo>/build/lambdas-aws/train.zip, where the bundling script writes the build for the Lambda runtime (manylinux x86_64)."
  type        = string
  default     = null
}

variable "lambda_runtime" {
  description = "Python runtime of the functions: python3.12, the only one the AWS bundles are built for (scripts/build_lambdas.py --target aws bundles CPython 3.12 wheels of numpy, pandas and LightGBM)."
  type        = string
  default     = "python3.12"

  validation {
    condition     = var.lambda_runtime == "python3.12"
    error_message = "lambda_runtime must be python3.12: scripts/build_lambdas.py builds the AWS bundles (numpy, pandas, LightGBM wheels) for CPython 3.12 only, and another Python runtime could not import them on AWS."
  }
}

variable "etl_memory_mb" {
  description = "Memory of the ETL function in MB, 128..10240."
  type        = number
  default     = 2048
}

variable "etl_timeout_seconds" {
  description = "Timeout of the ETL function in seconds, 1..900."
  type        = number
  default     = 300
}

variable "predict_memory_mb" {
  description = "Memory of the predict function in MB, 128..10240."
  type        = number
  default     = 3008
}

variable "predict_timeout_seconds" {
  description = "Timeout of the predict function in seconds, 1..900."
  type        = number
  default     = 300
}

variable "forecast_shard_rows" {
  description = "Target rows above which a forecast runs as the sharded workflow (Step Functions Distributed Map), 100..5,000,000. 2,000,000 keeps a shard near 60% of the predict function's 3,008 MB."
  type        = number
  default     = 2000000
}

variable "forecast_max_concurrency" {
  description = "Shards forecast at the same time, 1..1000 (concurrent predict invocations)."
  type        = number
  default     = 20
}

variable "forecast_shard_retries" {
  description = "Retries of a failed shard task before the run fails, 0..5."
  type        = number
  default     = 2
}

variable "forecast_pool_over_history" {
  description = "Pool the item, store, class and family features over every series of the history (as training does) by reading its series index and those series' buckets; false: over the upload's series only, for half the reads of a daily file."
  type        = bool
  default     = true
}

variable "ingest_shard_bytes" {
  description = "Actuals uploads larger than this (bytes; a .csv.gz counts 4 times its size) are ingested by the sharded workflow in shards of about this size, 1,024..268,435,456. 128 MiB is about 2.7 M Favorita rows per shard: Kaggle's whole train.csv (4.7 GB) is 37 shards."
  type        = number
  default     = 134217728
}

variable "ingest_partitions" {
  description = "Partitions of the series, each merged by its own task under its own writer lease, 1..1024."
  type        = number
  default     = 32
}

variable "ingest_bucket_rows" {
  description = "Rows a partition's check or merge task holds at once, 0 (derived from etl_memory_mb: 6,100,000 at 2,048 MB) or 1,000..100,000,000: each partition gets enough sub-buckets that none holds more, so those tasks' memory stays flat whatever the file."
  type        = number
  default     = 0
}

variable "ingest_max_concurrency" {
  description = "Shards or partitions of one upload processed at the same time, 1..1000 (concurrent ETL invocations)."
  type        = number
  default     = 20
}

variable "ingest_task_retries" {
  description = "Retries of a failed ingest task before the run fails, 0..5."
  type        = number
  default     = 2
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
  description = "Retention of the functions' log groups in days (a value CloudWatch Logs accepts; at least 365 for a year of audit trail, 0 for never)."
  type        = number
  default     = 365
}

variable "cloudwatch_logs_kms_key_arn" {
  description = "ARN of your own customer managed KMS key for the stack's log groups. null (the default): the stack creates one (alias/<name_prefix>-logs, rotated yearly). Your key's policy must let CloudWatch Logs (logs.<region>.amazonaws.com) use it for the stack's log groups: /aws/lambda/<name_prefix>-*, /aws/vendedlogs/states/<name_prefix>-* and, with training_runner = \"batch\", /aws/batch/<name_prefix>-train."
  type        = string
  default     = null

  validation {
    condition     = var.cloudwatch_logs_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.cloudwatch_logs_kms_key_arn))
    error_message = "cloudwatch_logs_kms_key_arn must be null or a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<key id>; CloudWatch Logs takes no alias)."
  }
}

variable "maximum_retry_attempts" {
  description = "Retries of a failed S3-triggered invocation before it goes to the dead-letter queue, 0..2."
  type        = number
  default     = 2
}

variable "maximum_event_age_in_seconds" {
  description = "How long a failed S3-triggered event keeps being retried, 60..21600 seconds."
  type        = number
  default     = 21600
}

variable "alarm_actions" {
  description = "ARNs (e.g. an SNS topic) notified when the dead-letter queue holds events or a function fails. Empty: the alarms only show in the CloudWatch console."
  type        = list(string)
  default     = []
}

variable "table_deletion_protection" {
  description = "Protect the history table against deletion (set false and apply before `terraform destroy`)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags applied to every resource (on top of the provider's default tags)."
  type        = map(string)
  default     = {}
}

variable "accuracy_alarm_days" {
  description = "Days in a row (days of data) the served forecasts may score worse than the best baseline before the model-worse-than-baseline alarm goes off: 1..30."
  type        = number
  default     = 3
}

################################################################################
# Retraining (see the README, "Retraining": where it runs, measured, and how to switch)
################################################################################

variable "training_schedule_expression" {
  description = "When retraining runs (EventBridge rate() or cron()). Weekly by default."
  type        = string
  default     = "rate(7 days)"
}

variable "promotion_min_improvement" {
  description = "Relative NWRMSLE gain on the last 16 days a challenger needs over the model in service to replace it (0.01 = 1%)."
  type        = number
  default     = 0.01
}

variable "train_memory_mb" {
  description = "Memory of the training function in MB, 128..10240 (with training_runner = \"lambda\")."
  type        = number
  default     = 10240
}

variable "training_runner" {
  description = "Where the train step runs: \"lambda\" or \"batch\" (AWS Batch on Fargate, same code; then set training_image, training_image_repository_arn, training_subnet_ids, training_security_group_ids)."
  type        = string
  default     = "lambda"
}

variable "training_image" {
  description = "With training_runner = \"batch\": ECR URI of the image built from training/Dockerfile."
  type        = string
  default     = null
}

variable "training_image_repository_arn" {
  description = "With training_runner = \"batch\": ARN of the ECR repository of training_image."
  type        = string
  default     = null
}

variable "training_subnet_ids" {
  description = "With training_runner = \"batch\": subnets of the job (route to S3, DynamoDB and ECR)."
  type        = list(string)
  default     = []
}

variable "training_assign_public_ip" {
  description = "With training_runner = \"batch\": give the job a public IP, for a public subnet without NAT."
  type        = bool
  default     = false
}

variable "training_security_group_ids" {
  description = "With training_runner = \"batch\": security groups of the job (outbound HTTPS)."
  type        = list(string)
  default     = []
}
