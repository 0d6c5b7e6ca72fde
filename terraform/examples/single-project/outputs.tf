output "outcomes_topic" {
  description = "Subscribe your own tools to pullfix's outcomes here."
  value       = module.pullfix.outcomes_topic
}

output "service_accounts" {
  description = "pullfix's service accounts."
  value       = module.pullfix.service_accounts
}
