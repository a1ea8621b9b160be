################################################################################
# Schedule role: EventBridge may start this state machine and nothing else (the execution role is
# ../lambda-workflow's)
################################################################################

locals {
  schedule_policy_document = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "StartRetraining"
        Effect   = "Allow"
        Action   = ["states:StartExecution"]
        Resource = [module.workflow.state_machine_arn]
      },
    ]
  })
}

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
