output "state_machine_arn" {
  description = "ARN of the state machine. Built from its name (not read from the resource), so the function it runs can be given it without a dependency cycle."
  value       = module.workflow.state_machine_arn
}

output "execution_arns" {
  description = "ARN pattern of the state machine's own executions (not the Distributed Maps' child runs): what the starting function may describe."
  value       = module.workflow.execution_arns
}

output "state_machine_name" {
  description = "Name of the state machine."
  value       = module.workflow.state_machine_name
}

output "state_machine_role_arn" {
  description = "ARN of the state machine's execution role."
  value       = module.workflow.state_machine_role_arn
}

output "state_machine_role_policy" {
  description = "The execution role's policy document (JSON)."
  value       = module.workflow.state_machine_role_policy
}

output "log_group_name" {
  description = "CloudWatch log group of the state machine's execution events."
  value       = module.workflow.log_group_name
}

output "log_group_arn" {
  description = "ARN of that log group, built from the name, so the logs KMS key's policy can name it before it exists."
  value       = module.workflow.log_group_arn
}

output "definition" {
  description = "The state machine's definition (Amazon States Language), as a JSON string."
  value       = module.workflow.definition
}
