output "outcomes_topic" {
  description = "Subscribe your own tools to pullfix's outcomes here."
  value       = module.pullfix.outcomes_topic
}

output "sink_writer_identity" {
  description = "The organization sink's writer identity."
  value       = module.pullfix.sink_writer_identity
}

output "custom_roles" {
  description = "pullfix's organization-level custom roles."
  value       = module.pullfix.custom_roles
}
