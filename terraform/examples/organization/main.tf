provider "google" {
  project = var.host_project_id
  region  = var.region
}

# pullfix for a whole organization: one sink (with children) collects every project's
# pull failures; custom roles live at the organization so they can be bound on the
# cluster and image projects; grants go only to the listed shared repositories.
module "pullfix" {
  source = "../.."

  project_id       = var.host_project_id
  region           = var.region
  sink_scope       = "organization"
  sink_parent      = var.organization_id
  include_children = true
  organization_id  = var.organization_id

  read_scopes        = ["organizations/${var.organization_id}"]
  grant_repositories = var.shared_repositories
  cluster_projects   = var.cluster_project_globs
  dry_run            = var.dry_run

  alert_notification_channels = var.alert_notification_channels

  notify_routes = [
    { namespace = "payments-*", chat = "google", webhook_url_env = "CHAT_PAYMENTS" },
    {
      chat             = "slack"
      webhook_url_env  = "SLACK_PLATFORM"
      tickets          = "github"
      github_repo      = var.github_repo
      github_token_env = "GITHUB_TOKEN"
    },
  ]
  notify_secrets = {
    CHAT_PAYMENTS  = "pullfix-chat-payments"
    SLACK_PLATFORM = "pullfix-slack-platform"
    GITHUB_TOKEN   = "pullfix-github-token"
  }

  max_instances         = 20
  min_instances         = 1
  max_delivery_attempts = 15
}
