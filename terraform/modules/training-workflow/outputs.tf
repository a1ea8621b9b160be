output "state_machine_arn" {
  description = "ARN of the retraining state machine. Built from its name (not read from the resource)."
  value       = module.workflow.state_machine_arn

  precondition {
    condition     = var.train_runner != "batch" || (var.batch_job_queue_arn != null && var.batch_job_definition_arn != null)
    error_message = "train_runner = \"batch\" needs batch_job_queue_arn and batch_job_definition_arn."
  }
}

output "state_machine_name" {
  description = "Name of the retraining state machine."
  value       = module.workflow.state_machine_name
}

output "execution_arns" {
  description = "ARN pattern of the state machine's executions (what an operator may describe)."
  value       = module.workflow.execution_arns
}

output "state_machine_role_arn" {
  description = "ARN of the state machine's execution role."
  value       = module.workflow.state_machine_role_arn
}

output "schedule_rule_name" {
  description = "Name of the EventBridge rule that starts a run on schedule (null without one)."
  value       = one(aws_cloudwatch_event_rule.schedule[*].name)
}

output "schedule_expression" {
  description = "When the schedule starts a run."
  value       = var.schedule_expression
}

output "schedule_input" {
  description = "The exact input the schedule's target sends to the state machine (JSON)."
  value       = local.schedule_input
}

output "failed_alarm_name" {
  description = "Name of the failed-retraining alarm (null without one)."
  value       = one(aws_cloudwatch_metric_alarm.failed[*].alarm_name)
}

output "log_group_name" {
  description = "CloudWatch log group of the state machine's execution events."
  value       = module.workflow.log_group_name
}

output "state_machine_role_policy" {
  description = "The execution role's policy document (JSON)."
  value       = module.workflow.state_machine_role_policy
}

output "log_group_arn" {
  description = "ARN of that log group, built from the name, so the logs KMS key's policy can name it before it exists."
  value       = module.workflow.log_group_arn
}

output "definition" {
  description = "The state machine's definition (Amazon States Language), as a JSON string."
  value       = module.workflow.definition
}
