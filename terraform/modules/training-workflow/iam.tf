################################################################################
# Execution role: invoke the one training function, deliver its logs. Nothing else: the
# function does the reading and writing, under its own role.
################################################################################

resource "aws_iam_role" "this" {
  name        = var.name
  description = "Execution role of the ${var.name} state machine."

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "StatesAssumeRole"
        Effect    = "Allow"
        Principal = { Service = "states.amazonaws.com" }
        Action    = "sts:AssumeRole"
        Condition = { StringEquals = { "aws:SourceAccount" = local.account } }
      },
    ]
  })

  tags = var.tags
}

locals {
  # With train_runner = "batch": submit the train job and follow it (.sync uses a managed EventBridge rule).
  batch_statements = var.train_runner != "batch" || var.batch_job_queue_arn == null || var.batch_job_definition_arn == null ? [] : [
    {
      Sid      = "SubmitTheTrainJob"
      Effect   = "Allow"
      Action   = ["batch:SubmitJob"]
      Resource = [var.batch_job_queue_arn, "${var.batch_job_definition_arn}*"]
    },
    {
      # DescribeJobs and TerminateJob have no resource-level permissions.
      Sid      = "FollowTheTrainJob"
      Effect   = "Allow"
      Action   = ["batch:DescribeJobs", "batch:TerminateJob"]
      Resource = ["*"]
    },
    {
      Sid      = "SyncRuleForBatchJobs"
      Effect   = "Allow"
      Action   = ["events:PutTargets", "events:PutRule", "events:DescribeRule"]
      Resource = ["arn:${local.partition}:events:${local.region}:${local.account}:rule/StepFunctionsGetEventsForBatchJobsRule"]
    },
  ]

  policy_document = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
      {
        Sid      = "InvokeTheTrainingFunction"
        Effect   = "Allow"
        Action   = ["lambda:InvokeFunction"]
        Resource = [var.function_arn]
      },
      {
        # Log delivery to CloudWatch Logs: these actions have no resource-level permissions (AWS
        # documents Resource "*" for them); they only manage deliveries, not log data.
        Sid    = "DeliverExecutionLogs"
        Effect = "Allow"
        Action = [
          "logs:CreateLogDelivery",
          "logs:DeleteLogDelivery",
          "logs:DescribeLogGroups",
          "logs:DescribeResourcePolicies",
          "logs:GetLogDelivery",
          "logs:ListLogDeliveries",
          "logs:PutResourcePolicy",
          "logs:UpdateLogDelivery",
        ]
        Resource = ["*"]
      },
    ], local.batch_statements)
  })

  schedule_policy_document = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "StartRetraining"
        Effect   = "Allow"
        Action   = ["states:StartExecution"]
        Resource = [local.state_machine_arn]
      },
    ]
  })
}

resource "aws_iam_role_policy" "this" {
  name   = "${var.name}-permissions"
  role   = aws_iam_role.this.id
  policy = local.policy_document
}

################################################################################
# Schedule role: EventBridge may start this state machine and nothing else
################################################################################

resource "aws_iam_role" "schedule" {
  count = var.create_schedule ? 1 : 0

  name        = "${var.name}-schedule"
  description = "Lets EventBridge start the ${var.name} state machine on its schedule."

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "EventsAssumeRole"
        Effect    = "Allow"
        Principal = { Service = "events.amazonaws.com" }
        Action    = "sts:AssumeRole"
        Condition = { StringEquals = { "aws:SourceAccount" = local.account } }
      },
    ]
  })

  tags = var.tags
}

resource "aws_iam_role_policy" "schedule" {
  count = var.create_schedule ? 1 : 0

  name   = "${var.name}-schedule-permissions"
  role   = aws_iam_role.schedule[0].id
  policy = local.schedule_policy_document
}
