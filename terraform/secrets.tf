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
  secret_data = yamlencode(local.config)
}

resource "google_secret_manager_secret_iam_member" "config_reader" {
  for_each = {
    remediate = google_service_account.remediate.email
    notify    = google_service_account.notify.email
  }

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
