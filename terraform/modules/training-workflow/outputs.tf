output "state_machine_arn" {
  description = "ARN of the retraining state machine. Built from its name (not read from the resource)."
  value       = local.state_machine_arn
}

output "state_machine_name" {
  description = "Name of the retraining state machine."
  value       = aws_sfn_state_machine.this.name
}

output "execution_arns" {
  description = "ARN pattern of the state machine's executions (what an operator may describe)."
  value       = local.execution_arns
}

output "state_machine_role_arn" {
  description = "ARN of the state machine's execution role."
  value       = aws_iam_role.this.arn
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
  value       = aws_cloudwatch_log_group.this.name
}

output "definition" {
  description = "The state machine's definition (Amazon States Language), as a JSON string."
  value       = aws_sfn_state_machine.this.definition
}
