output "failures_topic" {
  description = "The topic the log sink publishes pull failures to."
  value       = google_pubsub_topic.failures.id
}

output "outcomes_topic" {
  description = "The topic remediate publishes every outcome to (subscribe your own tools here)."
  value       = google_pubsub_topic.outcomes.id
}

output "dead_letter_subscription" {
  description = "Where messages that kept failing wait for inspection."
  value       = google_pubsub_subscription.dead_letter.id
}

output "sink_writer_identity" {
  description = "The log sink's writer identity (publisher on the failures topic only)."
  value       = local.sink_writer_identity
}

output "sink_filter" {
  description = "The log sink's filter."
  value       = local.sink_filter
}

output "function_uris" {
  description = "The functions' URLs (internal ingress only)."
  value = {
    remediate = google_cloudfunctions2_function.pullfix["remediate"].service_config[0].uri
    notify    = google_cloudfunctions2_function.pullfix["notify"].service_config[0].uri
  }
}

output "service_accounts" {
  description = "pullfix's service accounts."
  value = {
    remediate = google_service_account.remediate.email
    notify    = google_service_account.notify.email
    push      = google_service_account.push.email
  }
}

output "custom_roles" {
  description = "pullfix's custom roles by purpose."
  value       = local.roles
}

output "config" {
  description = "The config file the functions read, as YAML."
  value       = yamlencode(local.config)
}
