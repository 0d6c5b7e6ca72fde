variable "host_project_id" {
  type        = string
  description = "The project that hosts pullfix (functions, topics, ledger)."
}

variable "organization_id" {
  type        = string
  description = "The organization number whose GKE pull failures pullfix handles."
}

variable "region" {
  type        = string
  description = "Region of pullfix's functions."
  default     = "us-central1"
}

variable "shared_repositories" {
  type = list(object({
    project    = string
    location   = string
    repository = string
  }))
  description = "The shared Artifact Registry repositories pullfix may grant reader on."
}

variable "cluster_project_globs" {
  type        = list(string)
  description = "Globs of the cluster projects whose node service accounts may receive grants."
  default     = ["*-prod", "*-staging"]
}

variable "github_repo" {
  type        = string
  description = "owner/name of the GitHub repository that receives pullfix tickets."
}

variable "dry_run" {
  type        = bool
  description = "Report what pullfix would grant without granting."
  default     = true
}

variable "alert_notification_channels" {
  type        = list(string)
  description = "Cloud Monitoring notification channels (projects/P/notificationChannels/N) for pullfix's alerts; empty: the alert policies stay disabled."
  default     = []
}
