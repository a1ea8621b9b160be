################################################################################
# Execution role
################################################################################

resource "aws_iam_role" "lambda" {
  name        = var.function_name
  description = "Execution role of the ${var.function_name} Lambda function."

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "LambdaAssumeRole"
        Effect    = "Allow"
        Principal = { Service = "lambda.amazonaws.com" }
        Action    = "sts:AssumeRole"
      },
    ]
  })

  tags = var.tags
}

locals {
  # Written with jsonencode rather than aws_iam_policy_document so the document is plain data that
  # `terraform test` can decode and check (a mocked data source would only return a random string).
  logs_statement = {
    Sid      = "WriteOwnLogGroup"
    Effect   = "Allow"
    Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    Resource = ["${aws_cloudwatch_log_group.lambda.arn}:*"]
  }

  policy_document = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [local.logs_statement],
      [
        for s in var.policy_statements : merge(
          {
            Sid      = s.sid
            Effect   = "Allow"
            Action   = s.actions
            Resource = s.resources
          },
          length(s.conditions) == 0 ? {} : {
            Condition = {
              for test in distinct([for c in s.conditions : c.test]) : test => {
                for c in s.conditions : c.variable => c.values if c.test == test
              }
            }
          },
        )
      ],
    )
  })
}

resource "aws_iam_role_policy" "lambda" {
  name   = "${var.function_name}-permissions"
  role   = aws_iam_role.lambda.id
  policy = local.policy_document
}
