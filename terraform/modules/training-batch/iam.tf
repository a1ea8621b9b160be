################################################################################
# Job role: what the training code may do (the same statements as the training Lambda's role)
################################################################################

resource "aws_iam_role" "job" {
  name        = "${var.name}-job"
  description = "Role of the ${var.name} training job's container."

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "EcsTasksAssumeRole"
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account } }
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy" "job" {
  name = "${var.name}-job-permissions"
  role = aws_iam_role.job.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      for s in var.job_policy_statements : merge(
        { Sid = s.sid, Effect = "Allow", Action = s.actions, Resource = s.resources },
        length(s.conditions) == 0 ? {} : {
          Condition = {
            for test in distinct([for c in s.conditions : c.test]) : test => {
              for c in s.conditions : c.variable => c.values if c.test == test
            }
          }
        },
      )
    ]
  })
}

################################################################################
# Execution role: pull the image, write the container's logs
################################################################################

resource "aws_iam_role" "execution" {
  name        = "${var.name}-execution"
  description = "Lets ECS pull the ${var.name} image and write its logs."

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "EcsTasksAssumeRole"
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account } }
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy" "execution" {
  name = "${var.name}-execution-permissions"
  role = aws_iam_role.execution.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # GetAuthorizationToken has no resource-level permissions.
        Sid      = "EcrLogin"
        Effect   = "Allow"
        Action   = ["ecr:GetAuthorizationToken"]
        Resource = ["*"]
      },
      {
        Sid      = "PullTheImage"
        Effect   = "Allow"
        Action   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
        Resource = [var.image_repository_arn]
      },
      {
        Sid      = "WriteLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = ["${aws_cloudwatch_log_group.this.arn}:*"]
      },
    ]
  })
}
