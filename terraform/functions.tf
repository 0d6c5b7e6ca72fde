# The three functions, built from the zipped functions/ directory. The object name carries the
# archive's hash, so a code change is a new object and a new build.

resource "google_storage_bucket" "source" {
  #checkov:skip=CKV_GCP_62:Holds only the functions' source archives, written by Terraform; Cloud Audit Logs record access.
  project                     = var.project_id
  name                        = "${var.prefix}-source-${var.project_id}"
  location                    = var.region
  labels                      = var.labels
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      num_newer_versions = 3
      with_state         = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.required]
}

data "archive_file" "source" {
  type        = "zip"
  source_dir  = local.source_dir
  output_path = "${path.module}/.build/pullfix-functions.zip"
  # Only what the functions run: never the development tools (sandbox, demo, local runner),
  # the command line, or build and test artefacts.
  excludes = [
    "**/__pycache__/**",
    "**/*.pyc",
    "**/.pytest_cache/**",
    "*.egg-info/**",
    "pullfix/dev/**",
    "pullfix/cli/**",
  ]
}

resource "google_storage_bucket_object" "source" {
  name   = "pullfix-functions-${data.archive_file.source.output_md5}.zip"
  bucket = google_storage_bucket.source.name
  source = data.archive_file.source.output_path
}

locals {
  functions = {
    remediate = {
      description     = "Diagnoses GKE image-pull failures; grants or files tickets"
      service_account = google_service_account.remediate.email
      memory          = "512Mi"
      timeout         = 120
      env = {
        PULLFIX_OUTCOMES_TOPIC = google_pubsub_topic.outcomes.id
      }
    }
    notify = {
      description     = "Tells the owning team about each pullfix outcome"
      service_account = google_service_account.notify.email
      memory          = "256Mi"
      timeout         = 60
      env             = {}
    }
    verify = {
      description     = "Checks that each fix worked: resolved, still failing or abandoned"
      service_account = google_service_account.verify.email
      memory          = "512Mi"
      timeout         = 300
      env = {
        PULLFIX_OUTCOMES_TOPIC = google_pubsub_topic.outcomes.id
      }
    }
  }
}

resource "google_cloudfunctions2_function" "pullfix" {
  # Over the names: the settings differ in shape between the two (env), so no map of them.
  for_each = toset(keys(local.functions))

  project     = var.project_id
  location    = var.region
  name        = "${var.prefix}-${each.key}"
  description = local.functions[each.key].description
  labels      = var.labels

  build_config {
    runtime     = "python312"
    entry_point = each.key
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    max_instance_count             = var.max_instances
    min_instance_count             = var.min_instances
    available_memory               = local.functions[each.key].memory
    timeout_seconds                = local.functions[each.key].timeout
    ingress_settings               = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
    service_account_email          = local.functions[each.key].service_account
    environment_variables = merge(local.functions[each.key].env, {
      PULLFIX_CONFIG       = "${local.config_mount}/config.yaml"
      GOOGLE_CLOUD_PROJECT = var.project_id
      LOG_EXECUTION_ID     = "true"
    })

    # The config file, where PULLFIX_CONFIG points.
    secret_volumes {
      mount_path = local.config_mount
      project_id = var.project_id
      secret     = google_secret_manager_secret.config.secret_id
      versions {
        version = "latest"
        path    = "config.yaml"
      }
    }

    # Webhook URLs and tokens, by the environment variable names the routes use.
    dynamic "secret_environment_variables" {
      for_each = each.key == "notify" ? var.notify_secrets : {}
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }
  }

  # "latest" must exist when the function starts: the config's version comes first.
  depends_on = [
    google_secret_manager_secret_version.config,
    google_secret_manager_secret_iam_member.config_reader,
    google_secret_manager_secret_iam_member.notify_secrets,
  ]
}

# Only the push identity may invoke the functions (their Cloud Run services).
resource "google_cloud_run_v2_service_iam_member" "push_invoker" {
  for_each = local.pushes

  project  = var.project_id
  location = var.region
  name     = each.value.function.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.push.email}"
}
