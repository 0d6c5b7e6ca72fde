provider "google" {
  project = var.project_id
  region  = var.region
}

# Clusters and images in one project: the sink collects that project's pull failures, and
# pullfix may grant reader on the one repository named below.
module "pullfix" {
  source = "../.."

  project_id  = var.project_id
  region      = var.region
  sink_scope  = "project"
  read_scopes = ["projects/${var.project_id}"]

  grant_repositories = [
    { project = var.project_id, location = var.region, repository = var.repository },
  ]
  cluster_projects = [var.project_id]
  dry_run          = var.dry_run

  alert_notification_channels = var.alert_notification_channels

  notify_routes = [
    { chat = "slack", webhook_url_env = "SLACK_PLATFORM" },
  ]
  notify_secrets = {
    SLACK_PLATFORM = var.slack_webhook_secret
  }
}
