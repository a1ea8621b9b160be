output "state_machine_arn" {
  description = "ARN of the state machine. Built from its name (not read from the resource), so a function it runs can be given it without a dependency cycle."
  value       = local.state_machine_arn
}

output "state_machine_id" {
  description = "ID of the state machine (its ARN), read from the resource: what depends on it waits for the state machine."
  value       = aws_sfn_state_machine.this.id
}

output "execution_arns" {
  description = "ARN pattern of the state machine's own executions (not a Distributed Map's child runs): what a function starting it may describe."
  value       = local.execution_arns
}

output "state_machine_name" {
  description = "Name of the state machine (read from the resource: depending on it waits for the state machine)."
  value       = aws_sfn_state_machine.this.name
}

output "state_machine_role_arn" {
  description = "ARN of the state machine's execution role."
  value       = aws_iam_role.this.arn
}

output "state_machine_role_policy" {
  description = "The execution role's policy document (JSON), for the callers' least-privilege checks."
  value       = aws_iam_role_policy.this.policy
}

output "log_group_name" {
  description = "CloudWatch log group of the state machine's execution events."
  value       = aws_cloudwatch_log_group.this.name
}

output "log_group_arn" {
  description = "ARN of that log group, built from the name (not read from the resource), so a KMS key policy can name it before the group exists."
  value       = local.log_group_arn
}

output "definition" {
  description = "The state machine's definition (Amazon States Language), as a JSON string, with the retry and failure policy applied."
  value       = aws_sfn_state_machine.this.definition
}
