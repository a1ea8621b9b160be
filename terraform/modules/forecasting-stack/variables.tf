################################################################################
# Naming
################################################################################

variable "name_prefix" {
  description = "Prefix of every resource name (buckets <prefix>-raw, -processed, -output, -models, -artifacts; table <prefix>-history; functions <prefix>-etl, <prefix>-predict; queue <prefix>-dlq). 3..40 characters of lowercase letters, digits and hyphens, starting with a letter and ending with a letter or digit. Bucket names are global: pick one nobody else uses."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,38}[a-z0-9]$", var.name_prefix)) && !strcontains(var.name_prefix, "--") && !startswith(var.name_prefix, "xn-")
    error_message = "name_prefix must be 3..40 characters of lowercase letters, digits and single hyphens, start with a letter, end with a letter or digit, and not start with \"xn-\" (it becomes part of S3 bucket names)."
  }
}

variable "tags" {
  description = "Tags applied to every resource that supports them."
  type        = map(string)
  default     = {}
}

################################################################################
# Lambda packages and runtime
################################################################################

variable "etl_package_path" {
  description = "Path of the ETL function's zip (handler.py at its root, plus the library and its dependencies)."
  type        = string
}

variable "predict_package_path" {
  description = "Path of the predict function's zip (handler.py at its root, plus the library, LightGBM and their dependencies)."
  type        = string
}

variable "lambda_runtime" {
  description = "Python runtime of the functions: python3.12, the only one the packages are built for (scripts/build_lambdas.py bundles CPython 3.12 wheels of numpy, pandas and LightGBM)."
  type        = string
  default     = "python3.12"

  # The emulator ignores the runtime; on AWS another Python could not import the bundled native wheels.
  validation {
    condition     = var.lambda_runtime == "python3.12"
    error_message = "lambda_runtime must be python3.12: scripts/build_lambdas.py builds the bundles (numpy, pandas, LightGBM wheels) for CPython 3.12 only, and another Python runtime could not import them on AWS."
  }
}

variable "etl_memory_mb" {
  description = "Memory of the ETL function in MB, 128..10240."
  type        = number
  default     = 2048

  validation {
    condition     = var.etl_memory_mb >= 128 && var.etl_memory_mb <= 10240 && floor(var.etl_memory_mb) == var.etl_memory_mb
    error_message = "etl_memory_mb must be a whole number between 128 and 10240."
  }
}

variable "etl_timeout_seconds" {
  description = "Timeout of the ETL function in seconds, 1..900."
  type        = number
  default     = 300

  validation {
    condition     = var.etl_timeout_seconds >= 1 && var.etl_timeout_seconds <= 900 && floor(var.etl_timeout_seconds) == var.etl_timeout_seconds
    error_message = "etl_timeout_seconds must be a whole number between 1 and 900."
  }
}

variable "predict_memory_mb" {
  description = "Memory of the predict function in MB, 128..10240."
  type        = number
  default     = 3008

  validation {
    condition     = var.predict_memory_mb >= 128 && var.predict_memory_mb <= 10240 && floor(var.predict_memory_mb) == var.predict_memory_mb
    error_message = "predict_memory_mb must be a whole number between 128 and 10240."
  }
}

variable "predict_timeout_seconds" {
  description = "Timeout of the predict function in seconds, 1..900."
  type        = number
  default     = 300

  validation {
    condition     = var.predict_timeout_seconds >= 1 && var.predict_timeout_seconds <= 900 && floor(var.predict_timeout_seconds) == var.predict_timeout_seconds
    error_message = "predict_timeout_seconds must be a whole number between 1 and 900."
  }
}

variable "maximum_retry_attempts" {
  description = "Retries of a failed asynchronous (S3-triggered) invocation before it goes to the dead-letter queue, 0..2."
  type        = number
  default     = 2

  validation {
    condition     = contains([0, 1, 2], var.maximum_retry_attempts)
    error_message = "maximum_retry_attempts must be 0, 1 or 2."
  }
}

variable "maximum_event_age_in_seconds" {
  description = "How long a failed asynchronous event keeps being retried before it goes to the dead-letter queue, 60..21600 seconds (Lambda's default is 21600)."
  type        = number
  default     = 21600

  validation {
    condition     = var.maximum_event_age_in_seconds >= 60 && var.maximum_event_age_in_seconds <= 21600 && floor(var.maximum_event_age_in_seconds) == var.maximum_event_age_in_seconds
    error_message = "maximum_event_age_in_seconds must be a whole number between 60 and 21600."
  }
}

################################################################################
# Alarms
################################################################################

variable "create_alarms" {
  description = "Create the CloudWatch alarms: dead-letter queue depth; each function's errors, throttles and duration near its timeout; the forecast workflow's failed, timed-out and aborted executions; the model worse than the best baseline for accuracy_alarm_days days in a row."
  type        = bool
  default     = true
}

variable "alarm_actions" {
  description = "ARNs notified when an alarm goes off or clears (typically one SNS topic). Empty: alarms only show in the console and in DescribeAlarms."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.alarm_actions : can(regex("^arn:[^:]+:[a-z0-9-]+:", a))])
    error_message = "alarm_actions must be ARNs (arn:<partition>:<service>:...)."
  }
}

################################################################################
# Application settings (passed to the functions as environment variables)
################################################################################

variable "forecast_horizon" {
  description = "Number of days forecast after the last date of history, 1..16 (FORECAST_HORIZON)."
  type        = number
  default     = 16

  validation {
    condition     = var.forecast_horizon >= 1 && var.forecast_horizon <= 16 && floor(var.forecast_horizon) == var.forecast_horizon
    error_message = "forecast_horizon must be a whole number between 1 and 16."
  }
}

variable "log_level" {
  description = "Log level of the functions (LOG_LEVEL): DEBUG, INFO, WARNING or ERROR."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be one of DEBUG, INFO, WARNING, ERROR."
  }
}

variable "log_retention_days" {
  description = "Retention of the functions' log groups in days (a value CloudWatch Logs accepts; 0 means never expire). One year by default."
  type        = number
  default     = 365

  validation {
    condition     = contains([0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of 0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

################################################################################
# Sharded forecasts (Step Functions)
################################################################################

variable "forecast_shard_rows" {
  description = "A forecast of more target rows than this (a request's rows; 16 days per series of an actuals file) is split into shards of whole series of at most this many rows, run by the forecast workflow (Distributed Map) instead of one invocation. 100..5,000,000. The default keeps a Kaggle-size request (3.4 M rows) to two shards of about 1.7 M rows, each near 60% of the predict function's 3,008 MB, and the daily 100,000-series upload (1.6 M rows) in one invocation."
  type        = number
  default     = 2000000

  validation {
    condition     = var.forecast_shard_rows >= 100 && var.forecast_shard_rows <= 5000000 && floor(var.forecast_shard_rows) == var.forecast_shard_rows
    error_message = "forecast_shard_rows must be a whole number between 100 and 5000000."
  }
}

variable "forecast_pool_over_history" {
  description = "Pool the item, store, class and family features over every series of the history, as training pools them: predict reads the history's series index (a Query of its one partition, which is all predict may Query) and those series' buckets in the lookback's years (BatchGetItem, as a forecast of the whole store x item grid reads). Off: pooled over the upload's series only, so an upload holding some stores gets other features than training built (+1.0% NWRMSLE for a daily file, +1.9% for one store's, measured), for half the reads."
  type        = bool
  default     = true
}

variable "forecast_max_concurrency" {
  description = "Shards forecast at the same time, 1..1000 (concurrent predict invocations: keep it within the account's Lambda concurrency)."
  type        = number
  default     = 20

  validation {
    condition     = var.forecast_max_concurrency >= 1 && var.forecast_max_concurrency <= 1000 && floor(var.forecast_max_concurrency) == var.forecast_max_concurrency
    error_message = "forecast_max_concurrency must be a whole number between 1 and 1000."
  }
}

variable "forecast_shard_retries" {
  description = "Retries of a failed shard task before the run fails, 0..5."
  type        = number
  default     = 2

  validation {
    condition     = var.forecast_shard_retries >= 0 && var.forecast_shard_retries <= 5 && floor(var.forecast_shard_retries) == var.forecast_shard_retries
    error_message = "forecast_shard_retries must be a whole number between 0 and 5."
  }
}

variable "forecast_shard_retry_interval_seconds" {
  description = "Seconds before the first retry of a failed shard task (doubled at each further retry), 1..300."
  type        = number
  default     = 5

  validation {
    condition     = var.forecast_shard_retry_interval_seconds >= 1 && var.forecast_shard_retry_interval_seconds <= 300 && floor(var.forecast_shard_retry_interval_seconds) == var.forecast_shard_retry_interval_seconds
    error_message = "forecast_shard_retry_interval_seconds must be a whole number between 1 and 300."
  }
}

################################################################################
# Sharded ingest (Step Functions)
################################################################################

variable "ingest_shard_bytes" {
  description = "An actuals upload larger than this (bytes stored; a .csv.gz counts 4 times its size) is ingested by the ingest workflow in shards of about this size instead of in one ETL invocation; so is a smaller actuals file that reaches the single path's 5 M-row or 256 MiB bound. 1,024..268,435,456 (256 MiB). The default, 128 MiB (about 2.7 M Favorita rows), keeps a shard's peak near a third of the ETL function's 2,048 MB; small values (a few hundred KB) let tests see several shards."
  type        = number
  default     = 134217728

  validation {
    condition     = var.ingest_shard_bytes >= 1024 && var.ingest_shard_bytes <= 268435456 && floor(var.ingest_shard_bytes) == var.ingest_shard_bytes
    error_message = "ingest_shard_bytes must be a whole number between 1024 and 268435456."
  }
}

variable "ingest_partitions" {
  description = "Partitions of the series (a fixed hash of store and item), 1..1024: each is merged into history by its own task under its own writer lease (__lock__ / writer-NNNN), and the single path merges partition by partition too. More partitions merge a large upload wider; each adds one lease round trip to a small upload."
  type        = number
  default     = 16

  validation {
    condition     = var.ingest_partitions >= 1 && var.ingest_partitions <= 1024 && floor(var.ingest_partitions) == var.ingest_partitions
    error_message = "ingest_partitions must be a whole number between 1 and 1024."
  }
}

variable "ingest_bucket_rows" {
  description = "Rows a partition's check or merge task of the ingest workflow holds at once: the plan gives each partition enough sub-buckets (a second hash of the series) that none holds more, counting the file's rows at their most (its decompressed bytes / 18, the shortest line the contract accepts), so those tasks' memory does not grow with the file. 0 (the default) derives it from etl_memory_mb (6,100,000 rows at 2,048 MB: about 1.2 GB at the peak); otherwise 1,000..100,000,000. Small values let tests see several sub-buckets."
  type        = number
  default     = 0

  validation {
    condition     = var.ingest_bucket_rows == 0 || (var.ingest_bucket_rows >= 1000 && var.ingest_bucket_rows <= 100000000 && floor(var.ingest_bucket_rows) == var.ingest_bucket_rows)
    error_message = "ingest_bucket_rows must be 0 (derived from etl_memory_mb) or a whole number between 1000 and 100000000."
  }
}

variable "ingest_max_concurrency" {
  description = "Shards or partitions of one upload processed at the same time by each of the ingest workflow's Distributed Maps, 1..1000 (concurrent ETL invocations: keep it within the account's Lambda concurrency)."
  type        = number
  default     = 20

  validation {
    condition     = var.ingest_max_concurrency >= 1 && var.ingest_max_concurrency <= 1000 && floor(var.ingest_max_concurrency) == var.ingest_max_concurrency
    error_message = "ingest_max_concurrency must be a whole number between 1 and 1000."
  }
}

variable "ingest_task_retries" {
  description = "Retries of a failed ingest task (a shard, a partition's check or merge) before the run fails, 0..5."
  type        = number
  default     = 2

  validation {
    condition     = var.ingest_task_retries >= 0 && var.ingest_task_retries <= 5 && floor(var.ingest_task_retries) == var.ingest_task_retries
    error_message = "ingest_task_retries must be a whole number between 0 and 5."
  }
}

variable "ingest_retry_interval_seconds" {
  description = "Seconds before the first retry of a failed ingest task (doubled at each further retry), 1..300."
  type        = number
  default     = 5

  validation {
    condition     = var.ingest_retry_interval_seconds >= 1 && var.ingest_retry_interval_seconds <= 300 && floor(var.ingest_retry_interval_seconds) == var.ingest_retry_interval_seconds
    error_message = "ingest_retry_interval_seconds must be a whole number between 1 and 300."
  }
}

variable "etl_fault_marker" {
  description = "Tests only: an upload whose key holds \"<marker>-<kind>-<n>\" (kind kill, timeout or lostack) has that fault injected into the history merge of its first n ETL attempts (ETL_FAULT_MARKER, grocery_forecast.pipeline.faults), to prove retries lose nothing. Empty (the default) turns it off; only the local root sets it."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^[A-Za-z0-9_]{0,40}$", var.etl_fault_marker))
    error_message = "etl_fault_marker must be empty or up to 40 letters, digits or \"_\" (a \"-\" would blur it with the kind)."
  }
}

variable "forecast_shard_fault_marker" {
  description = "Tests only: an upload whose key holds \"<marker>-<n>\" fails its first shard's forecast n times (FORECAST_SHARD_FAULT), to exercise retries. Empty (the default) turns it off; only the local root sets it."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{0,40}$", var.forecast_shard_fault_marker))
    error_message = "forecast_shard_fault_marker must be empty or up to 40 letters, digits, \"-\" or \"_\"."
  }
}

################################################################################
# Data protection
################################################################################

variable "force_destroy" {
  description = "Let `terraform destroy` delete the buckets with everything in them. true for throw-away environments only."
  type        = bool
  default     = false
}

variable "point_in_time_recovery" {
  description = "Enable point-in-time recovery on the history table."
  type        = bool
  default     = true
}

variable "table_deletion_protection" {
  description = "Enable deletion protection on the history table (turn it off and apply before destroying)."
  type        = bool
  default     = false
}

################################################################################
# Log encryption
################################################################################

variable "create_cloudwatch_logs_kms_key" {
  description = "Create a customer managed KMS key for the functions' log groups (alias/<name_prefix>-logs, rotated yearly) whose key policy lets CloudWatch Logs use it for these log groups only. Set false to bring your own key (cloudwatch_logs_kms_key_arn) or, without one, to leave the log groups on CloudWatch Logs' own encryption."
  type        = bool
  default     = true
}

variable "cloudwatch_logs_kms_key_arn" {
  description = "ARN of an existing customer managed KMS key for the functions' log groups, used when create_cloudwatch_logs_kms_key = false. Its key policy must let logs.<region>.amazonaws.com use it for them."
  type        = string
  default     = null

  validation {
    condition     = var.cloudwatch_logs_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.cloudwatch_logs_kms_key_arn))
    error_message = "cloudwatch_logs_kms_key_arn must be null or a KMS key ARN (arn:<partition>:kms:...)."
  }
}

variable "shard_files_retention_days" {
  description = "Days the sharded forecast's working files (processed bucket, under shards/: shard inputs, saved history, sums, partial forecasts) are kept before S3 deletes them. The forecast CSV and the run manifest are elsewhere and stay. Whole days >= 1."
  type        = number
  default     = 7

  validation {
    condition     = var.shard_files_retention_days >= 1 && floor(var.shard_files_retention_days) == var.shard_files_retention_days
    error_message = "shard_files_retention_days must be a whole number of days >= 1."
  }
}

################################################################################
# Monitor: realized accuracy, runs whose workflow ended, alarms and dashboard
################################################################################

variable "monitor_package_path" {
  description = "Path to the monitor function's zip (scripts/build_lambdas.py)."
  type        = string
}

variable "monitor_memory_mb" {
  description = "Memory of the monitor function in MB (128..10240): it holds the forecasts of the arrived days and their history."
  type        = number
  default     = 2048

  validation {
    condition     = var.monitor_memory_mb >= 128 && var.monitor_memory_mb <= 10240
    error_message = "monitor_memory_mb must be between 128 and 10240."
  }
}

variable "monitor_timeout_seconds" {
  description = "Timeout of the monitor function in seconds (1..900)."
  type        = number
  default     = 300

  validation {
    condition     = var.monitor_timeout_seconds >= 1 && var.monitor_timeout_seconds <= 900
    error_message = "monitor_timeout_seconds must be between 1 and 900."
  }
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the realized-accuracy metrics (letters, digits, . - _ / #; not starting with AWS/)."
  type        = string
  default     = "GroceryForecast"

  validation {
    condition     = can(regex("^[A-Za-z0-9._/#-]{1,255}$", var.metrics_namespace)) && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace must be 1-255 of A-Z a-z 0-9 . _ / # - and must not start with AWS/."
  }
}

variable "metrics_destination" {
  description = "How the monitor publishes its metrics: emf (embedded metric format log lines, read by CloudWatch Logs on AWS) or api (PutMetricData, for an emulator that does not read EMF)."
  type        = string
  default     = "emf"

  validation {
    condition     = contains(["emf", "api"], var.metrics_destination)
    error_message = "metrics_destination must be emf or api."
  }
}

variable "accuracy_alarm_days" {
  description = "The model-worse-than-baseline alarm goes off after this many days in a row (days of data) on which the served forecasts scored worse than the best baseline: 1..30."
  type        = number
  default     = 3

  validation {
    condition     = var.accuracy_alarm_days >= 1 && var.accuracy_alarm_days <= 30 && floor(var.accuracy_alarm_days) == var.accuracy_alarm_days
    error_message = "accuracy_alarm_days must be a whole number between 1 and 30."
  }
}

variable "duration_alarm_percent_of_timeout" {
  description = "Each function's duration alarm goes off when an invocation runs longer than this percentage of its timeout: 1..100."
  type        = number
  default     = 80

  validation {
    condition     = var.duration_alarm_percent_of_timeout >= 1 && var.duration_alarm_percent_of_timeout <= 100
    error_message = "duration_alarm_percent_of_timeout must be between 1 and 100."
  }
}

variable "create_dashboard" {
  description = "Create a CloudWatch dashboard (named name_prefix) with realized accuracy, the functions' errors, throttles and durations, the dead-letter queue and the workflow's failed executions."
  type        = bool
  default     = true
}

################################################################################
# Retraining (Step Functions + the training function)
################################################################################

variable "train_package_path" {
  description = "Path of the training function's zip (handler.py at its root, plus the library, LightGBM and their dependencies)."
  type        = string
}

variable "train_memory_mb" {
  description = "Memory of the training function in MB, 128..10240. Training a year of Favorita-size history (216,000 series) peaks near 7 GB: see the README's Retraining section."
  type        = number
  default     = 10240

  validation {
    condition     = var.train_memory_mb >= 128 && var.train_memory_mb <= 10240 && floor(var.train_memory_mb) == var.train_memory_mb
    error_message = "train_memory_mb must be a whole number between 128 and 10240."
  }
}

variable "train_timeout_seconds" {
  description = "Timeout of the training function in seconds, 1..900."
  type        = number
  default     = 900

  validation {
    condition     = var.train_timeout_seconds >= 1 && var.train_timeout_seconds <= 900 && floor(var.train_timeout_seconds) == var.train_timeout_seconds
    error_message = "train_timeout_seconds must be a whole number between 1 and 900."
  }
}

variable "training_schedule_expression" {
  description = "When retraining runs: an EventBridge rate() or cron() expression. Weekly by default."
  type        = string
  default     = "rate(7 days)"

  validation {
    # EventBridge wants the singular unit for 1 and the plural above: rate(1 days) and rate(7 day) fail at apply.
    condition     = can(regex("^(rate\\((1 (minute|hour|day)|([2-9]|[1-9][0-9]+) (minutes|hours|days))\\)|cron\\(\\S+( \\S+){5}\\))$", var.training_schedule_expression))
    error_message = "training_schedule_expression must be rate(1 minute|hour|day), rate(<n> minutes|hours|days) with n >= 2, or a six-field cron(...) expression."
  }
}

variable "training_schedule_enabled" {
  description = "Whether the retraining schedule is enabled (false: runs only on demand, `grocery-forecast train --remote`)."
  type        = bool
  default     = true
}

variable "promotion_min_improvement" {
  description = "How much lower (relative) a challenger's NWRMSLE on the last 16 days must be than the model in service's to replace it, 0..0.5: 0.01 means at least 1% better. A challenger is always promoted when no model is in service."
  type        = number
  default     = 0.01

  validation {
    condition     = var.promotion_min_improvement >= 0 && var.promotion_min_improvement <= 0.5
    error_message = "promotion_min_improvement must be between 0 and 0.5."
  }
}

variable "training_history_days" {
  description = "Days of history (back from its last day) a challenger is trained and evaluated on, 32..1096."
  type        = number
  default     = 365

  validation {
    condition     = var.training_history_days >= 32 && var.training_history_days <= 1096 && floor(var.training_history_days) == var.training_history_days
    error_message = "training_history_days must be a whole number between 32 and 1096."
  }
}

variable "training_max_rows" {
  description = "Training rows sampled (series x origin x horizon), 10,000..20,000,000; null keeps the library's default (2,000,000)."
  type        = number
  default     = null

  validation {
    condition     = var.training_max_rows == null ? true : (var.training_max_rows >= 10000 && var.training_max_rows <= 20000000 && floor(var.training_max_rows) == var.training_max_rows)
    error_message = "training_max_rows must be null or a whole number between 10000 and 20000000."
  }
}

variable "training_scan_segments" {
  description = "Parallel Scan segments the history is read in (each a concurrent task of the training function), 1..64."
  type        = number
  default     = 8

  validation {
    condition     = var.training_scan_segments >= 1 && var.training_scan_segments <= 64 && floor(var.training_scan_segments) == var.training_scan_segments
    error_message = "training_scan_segments must be a whole number between 1 and 64."
  }
}

variable "training_task_retries" {
  description = "Retries of a failed retraining task before the run fails (and the failed-retraining alarm counts it), 0..5."
  type        = number
  default     = 1

  validation {
    condition     = var.training_task_retries >= 0 && var.training_task_retries <= 5 && floor(var.training_task_retries) == var.training_task_retries
    error_message = "training_task_retries must be a whole number between 0 and 5."
  }
}

variable "training_runner" {
  description = "Where the retraining's train step runs: \"lambda\" (the training function; fits a year of Favorita-size history, see the README's measurements) or \"batch\" (the same code as an AWS Batch job on Fargate: set training_image, training_image_repository_arn, training_subnet_ids and training_security_group_ids)."
  type        = string
  default     = "lambda"

  validation {
    condition     = contains(["lambda", "batch"], var.training_runner)
    error_message = "training_runner must be \"lambda\" or \"batch\"."
  }
}

variable "training_image" {
  description = "With training_runner = \"batch\": ECR URI of the training image (training/Dockerfile)."
  type        = string
  default     = null
}

variable "training_image_repository_arn" {
  description = "With training_runner = \"batch\": ARN of the ECR repository of training_image."
  type        = string
  default     = null
}

variable "training_subnet_ids" {
  description = "With training_runner = \"batch\": subnets of the job (with a route to S3, DynamoDB, ECR and CloudWatch Logs: a NAT gateway or VPC endpoints, or a public subnet with training_assign_public_ip)."
  type        = list(string)
  default     = []
}

variable "training_assign_public_ip" {
  description = "With training_runner = \"batch\": give the job a public IP, for a public subnet without NAT (else it cannot pull its image)."
  type        = bool
  default     = false
}

variable "training_security_group_ids" {
  description = "With training_runner = \"batch\": security groups of the job (outbound HTTPS)."
  type        = list(string)
  default     = []
}

variable "training_batch_vcpu" {
  description = "With training_runner = \"batch\": vCPUs of the job (1, 2, 4, 8 or 16)."
  type        = number
  default     = 4
}

variable "training_batch_memory_mb" {
  description = "With training_runner = \"batch\": memory of the job in MiB (a multiple of 1024 Fargate allows for the vCPUs)."
  type        = number
  default     = 16384
}

variable "training_parts_retention_days" {
  description = "Days the retraining's Scan parts (models bucket, under models/_training/parts/: the decoded history each run trains from) are kept before S3 deletes them. The models and the training manifests (models/_training/runs/) stay. Whole days >= 1."
  type        = number
  default     = 7

  validation {
    condition     = var.training_parts_retention_days >= 1 && floor(var.training_parts_retention_days) == var.training_parts_retention_days
    error_message = "training_parts_retention_days must be a whole number of days >= 1."
  }
}
