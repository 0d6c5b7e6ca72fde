# The config file (not secret, but mounted like one so that PULLFIX_CONFIG is a path), and
# read access to the webhook secrets that notify's routes name.

resource "google_secret_manager_secret" "config" {
  project   = var.project_id
  secret_id = "${var.prefix}-config"
  labels    = var.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.required]
}

resource "google_secret_manager_secret_version" "config" {
  secret      = google_secret_manager_secret.config.id
  secret_data = local.config_text
}

# Every function mounts the config (Cloud Run refuses a revision whose service account cannot
# read a secret it mounts): each one's account may read it.
resource "google_secret_manager_secret_iam_member" "config_reader" {
  for_each = { for name, f in local.deployed_functions : name => f.service_account }

  project   = var.project_id
  secret_id = google_secret_manager_secret.config.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${each.value}"
}

resource "google_secret_manager_secret_iam_member" "notify_secrets" {
  for_each = var.notify_secrets

  project   = var.project_id
  secret_id = each.value
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.notify.email}"
}

# With a config file of one's own, every variable its routes name must come from a secret.
check "config_routes_have_secrets" {
  assert {
    condition = alltrue(flatten([for r in try(local.config.notify.routes, []) : [
      for k in ["webhook_url_env", "github_token_env", "slack_token_env"] : contains(keys(var.notify_secrets), r[k]) if try(r[k], null) != null
    ]]))
    error_message = "A notify route names an environment variable that notify_secrets does not give (notify will refuse the route): add it to notify_secrets."
  }
}
