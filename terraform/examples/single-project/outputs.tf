output "outcomes_topic" {
  description = "Subscribe your own tools to pullfix's outcomes here."
  value       = module.pullfix.outcomes_topic
}

output "service_accounts" {
  description = "pullfix's service accounts."
  value       = module.pullfix.service_accounts
}

output "sink_writer_identity" {
  description = "The log sink's writer identity (it publishes to the pull-failures topic)."
  value       = module.pullfix.sink_writer_identity
}
