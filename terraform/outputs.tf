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
  description = "The functions' URLs (internal ingress only, but approve's: public, for chat clicks)."
  value = {
    for name, f in google_cloudfunctions2_function.pullfix : name => f.service_config[0].uri
  }
}

output "service_accounts" {
  description = "pullfix's service accounts."
  value = merge({
    remediate = google_service_account.remediate.email
    notify    = google_service_account.notify.email
    verify    = google_service_account.verify.email
    push      = google_service_account.push.email
    build     = google_service_account.build.email
  }, { for name, account in google_service_account.approve : name => account.email })
}

output "custom_roles" {
  description = "pullfix's custom roles by purpose."
  value       = local.roles
}

output "verify_topic" {
  description = "The topic Cloud Scheduler ticks the verification pass on (publish {\"pullfix\": \"verify\"} to run one now)."
  value       = google_pubsub_topic.verify.id
}

output "verify_schedule" {
  description = "When the verification pass runs (unix-cron, UTC)."
  value       = google_cloud_scheduler_job.verify.schedule
}

output "ledger" {
  description = "The Firestore database and collection of the ledger."
  value       = local.ledger_config.firestore
}

output "dashboard" {
  description = "The Cloud Monitoring dashboard of pullfix's metrics."
  value       = google_monitoring_dashboard.pullfix.id
}

output "alert_policies" {
  description = "pullfix's alert policies by what they watch (enabled only with alert_notification_channels)."
  value       = { for k, p in google_monitoring_alert_policy.pullfix : k => p.name }
}

output "config" {
  description = "The config file the functions read, as YAML."
  value       = local.config_text
}

output "approve_url" {
  description = "The approve function's URL (null without var.approval): the Google Chat app's HTTP endpoint and the Slack app's Interactivity Request URL (docs/deploy.md)."
  value       = try(google_cloudfunctions2_function.pullfix["approve"].service_config[0].uri, null)
}
