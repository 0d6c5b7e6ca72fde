variable "project_id" {
  type        = string
  description = "The project that runs the clusters, holds the images and hosts pullfix."
}

variable "region" {
  type        = string
  description = "Region of pullfix's functions and of the repository."
  default     = "us-central1"
}

variable "repository" {
  type        = string
  description = "The Artifact Registry repository pullfix may grant reader on."
  default     = "apps"
}

variable "dry_run" {
  type        = bool
  description = "Report what pullfix would grant without granting."
  default     = true
}

variable "slack_webhook_secret" {
  type        = string
  description = "Secret Manager secret id (in project_id) that holds the Slack webhook URL."
  default     = "pullfix-slack-webhook"
}

variable "alert_notification_channels" {
  type        = list(string)
  description = "Cloud Monitoring notification channels (projects/P/notificationChannels/N) for pullfix's alerts; empty: the alert policies stay disabled."
  default     = []
}
