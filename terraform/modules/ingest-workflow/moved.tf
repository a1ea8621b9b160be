# The state machine, its role and log group moved into ../lambda-workflow: an existing deployment keeps them.

moved {
  from = aws_sfn_state_machine.this
  to   = module.workflow.aws_sfn_state_machine.this
}

moved {
  from = aws_iam_role.this
  to   = module.workflow.aws_iam_role.this
}

moved {
  from = aws_iam_role_policy.this
  to   = module.workflow.aws_iam_role_policy.this
}

moved {
  from = aws_cloudwatch_log_group.this
  to   = module.workflow.aws_cloudwatch_log_group.this
}
