output "state_machine_arn" {
  description = "ARN of the state machine. Built from its name (not read from the resource), so the function it runs can be given it without a dependency cycle."
  value       = local.state_machine_arn
}

output "execution_arns" {
  description = "ARN pattern of the state machine's own executions (not the Distributed Map's child runs): what the starting function may describe."
  value       = local.execution_arns
}

output "state_machine_name" {
  description = "Name of the state machine."
  value       = aws_sfn_state_machine.this.name
}

output "state_machine_role_arn" {
  description = "ARN of the state machine's execution role."
  value       = aws_iam_role.this.arn
}

output "log_group_name" {
  description = "CloudWatch log group of the state machine's execution events."
  value       = aws_cloudwatch_log_group.this.name
}

output "definition" {
  description = "The state machine's definition (Amazon States Language), as a JSON string."
  value       = aws_sfn_state_machine.this.definition
}
