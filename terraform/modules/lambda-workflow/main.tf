data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name
  account   = data.aws_caller_identity.current.account_id

  # Built from the name, not read from the resources: the functions a workflow runs may need to hold its
  # ARN (to start it), and the logs KMS key's policy its log group's ARN, before either exists.
  state_machine_arn = "arn:${local.partition}:states:${local.region}:${local.account}:stateMachine:${var.name}"
  # A Distributed Map runs each item as a child execution of this state machine.
  child_execution_arns = "arn:${local.partition}:states:${local.region}:${local.account}:execution:${var.name}/*"
  # Its own (top-level) executions: the function that starts one may look it up again.
  execution_arns = "arn:${local.partition}:states:${local.region}:${local.account}:execution:${var.name}:*"
  log_group_name = "/aws/vendedlogs/states/${var.name}"
  log_group_arn  = "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:${local.log_group_name}"

  lambda_invoke = "arn:${local.partition}:states:::lambda:invoke"

  ##############################################################################
  # The retry and failure policy every workflow of this stack shares
  ##############################################################################

  # Throttles and Lambda service faults: always worth retrying, with backoff.
  service_retry = {
    ErrorEquals = [
      "Lambda.ClientExecutionTimeoutException",
      "Lambda.ServiceException",
      "Lambda.AWSLambdaException",
      "Lambda.SdkClientException",
      "Lambda.TooManyRequestsException",
    ]
    IntervalSeconds = 2
    MaxAttempts     = 6
    BackoffRate     = 2
    JitterStrategy  = "FULL"
  }

  # Anything else a task raises (or a timeout, or an out-of-memory kill): task_retries times.
  task_retry = [for r in [{
    ErrorEquals     = ["States.ALL"]
    IntervalSeconds = var.retry_interval_seconds
    MaxAttempts     = var.task_retries
    BackoffRate     = 2
  }] : r if var.task_retries > 0]

  lambda_retry = concat([local.service_retry], local.task_retry)

  failure_catch = [{
    ErrorEquals = ["States.ALL"]
    ResultPath  = "$.error"
    Next        = var.failure_state
  }]

  # What the policy adds to a state, by kind (a state's own keys are merged over it). States of different
  # shapes cannot share a conditional's branches, so each addition is an object filtered by its condition.
  #   Lambda task (a Task with no Resource): the invoke resource; the service retrier, then task_retries
  #     (the failure state's own task: the service retrier only, so a failing record cannot loop).
  #   Other Task (e.g. batch:submitJob.sync): task_retries (no Retry key at all when 0, never an empty one).
  #   Map: MaxConcurrency.
  #   Top-level Task or Map other than the failure state: Catch into it.
  nested_states = {
    for name, s in var.states : name => {
      for inner, t in try(s.ItemProcessor.States, {}) : inner => merge(
        { for k, v in { Resource = local.lambda_invoke, Retry = local.lambda_retry } : k => v if try(t.Type, "") == "Task" && !can(t.Resource) },
        { for k, v in { Retry = local.task_retry } : k => v if try(t.Type, "") == "Task" && can(t.Resource) && length(local.task_retry) > 0 },
        { for k, v in { MaxConcurrency = var.max_concurrency } : k => v if try(t.Type, "") == "Map" },
        t,
      )
    }
  }

  states = {
    for name, s in var.states : name => merge(
      { for k, v in { Resource = local.lambda_invoke, Retry = [for i, r in local.lambda_retry : r if i == 0 || name != var.failure_state] } : k => v if s.Type == "Task" && !can(s.Resource) },
      { for k, v in { Retry = local.task_retry } : k => v if s.Type == "Task" && can(s.Resource) && length(local.task_retry) > 0 },
      { for k, v in { MaxConcurrency = var.max_concurrency } : k => v if s.Type == "Map" },
      { for k, v in { Catch = local.failure_catch } : k => v if contains(["Task", "Map"], s.Type) && var.failure_state != null && name != var.failure_state },
      s,
      { for k, v in { ItemProcessor = merge(try(s.ItemProcessor, {}), { States = local.nested_states[name] }) } : k => v if can(s.ItemProcessor.States) },
    )
  }

  definition = merge(
    { for k, v in { Comment = var.comment } : k => v if var.comment != null },
    { StartAt = var.start_at, States = local.states },
  )

  # Every Lambda task, top level or nested, and the function it names (null: none, or a dynamic one).
  lambda_tasks = flatten([
    for name, s in local.states : concat(
      [for t in [s] : try(t.Parameters.FunctionName, null) if try(t.Resource, "") == local.lambda_invoke],
      [for t in values(try(s.ItemProcessor.States, {})) : try(t.Parameters.FunctionName, null) if try(t.Resource, "") == local.lambda_invoke],
    )
  ])

  # A Distributed Map starts child executions of this state machine: only then may the role.
  distributed = anytrue([for s in values(var.states) : try(s.ItemProcessor.ProcessorConfig.Mode, "") == "DISTRIBUTED"])
}

################################################################################
# Logging
################################################################################

resource "aws_cloudwatch_log_group" "this" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.cloudwatch_logs_kms_key_arn

  tags = var.tags
}

################################################################################
# State machine
################################################################################

resource "aws_sfn_state_machine" "this" {
  #checkov:skip=CKV_AWS_284:X-Ray tracing needs xray:PutTraceSegments on Resource "*" (no resource-level permissions); execution history and the log group cover what a run did
  name     = var.name
  role_arn = aws_iam_role.this.arn
  type     = "STANDARD"

  definition = jsonencode(local.definition)

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.this.arn}:*"
    include_execution_data = true # the callers' states pass ids, keys, counts and errors, not data: say so there
    level                  = var.log_level
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = contains(keys(var.states), var.start_at) && (var.failure_state == null || contains(keys(var.states), coalesce(var.failure_state, var.start_at)))
      error_message = "start_at (and failure_state, when set) must name states of the definition."
    }

    precondition {
      condition     = alltrue([for f in local.lambda_tasks : f != null && contains(var.function_arns, f)])
      error_message = "Every Lambda task must name its function (Parameters.FunctionName, not a path) and that function must be one of function_arns: the role may invoke nothing else."
    }
  }

  depends_on = [aws_iam_role_policy.this]
}
