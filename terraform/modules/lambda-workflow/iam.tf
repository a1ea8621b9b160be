################################################################################
# Execution role: invoke the given functions, read the item lists, run its own child executions,
# deliver its logs; nothing else unless the caller adds statements
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
  policy_document = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid      = "InvokeTheFunctions"
          Effect   = "Allow"
          Action   = ["lambda:InvokeFunction"]
          Resource = var.function_arns # the definition invokes the unqualified functions only
        },
      ],
      var.item_reader == null ? [] : [
        {
          Sid      = "ReadItemLists"
          Effect   = "Allow"
          Action   = ["s3:GetObject"]
          Resource = ["${var.item_reader.bucket_arn}/${var.item_reader.key_prefix}*"]
        },
      ],
      !local.distributed ? [] : [
        {
          Sid      = "RunOwnChildExecutions"
          Effect   = "Allow"
          Action   = ["states:StartExecution"]
          Resource = [local.state_machine_arn]
        },
        {
          Sid      = "FollowOwnChildExecutions"
          Effect   = "Allow"
          Action   = ["states:DescribeExecution", "states:StopExecution"]
          Resource = [local.child_execution_arns]
        },
      ],
      [
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
      ],
      var.policy_statements,
    )
  })
}

resource "aws_iam_role_policy" "this" {
  name   = "${var.name}-permissions"
  role   = aws_iam_role.this.id
  policy = local.policy_document
}
