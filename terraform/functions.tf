# The functions (approve only with var.approval), built from the zipped functions/ directory. The object name carries the
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

# The functions' images, built by Cloud Build as the build account: their own repository, so
# that the account writes here and nowhere else. Old images go (the newest ten stay).
resource "google_artifact_registry_repository" "functions" {
  #checkov:skip=CKV_GCP_84:Holds only pullfix's function images, built from this repository's public code; no customer data.
  project       = var.project_id
  location      = var.region
  repository_id = "${var.prefix}-functions"
  format        = "DOCKER"
  description   = "pullfix's function images (Cloud Build writes them; Cloud Run reads them)"
  labels        = var.labels

  cleanup_policy_dry_run = false
  cleanup_policies {
    id     = "keep-newest"
    action = "KEEP"
    most_recent_versions {
      keep_count = 10
    }
  }
  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "2592000s"
    }
  }

  depends_on = [google_project_service.required]
}

resource "google_artifact_registry_repository_iam_member" "build_writer" {
  project    = var.project_id
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.repository_id
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.build.email}"
}

resource "google_project_iam_member" "build_log_writer" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${google_service_account.build.email}"
}

# The build reads the source archive: from this bucket, and from the copy Cloud Functions keeps
# in its own gcf-v2-sources-NUMBER-REGION bucket of the project (created on the first deploy,
# so the condition names it instead of a binding on it).
resource "google_project_iam_member" "build_source_reader" {
  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = "serviceAccount:${google_service_account.build.email}"

  condition {
    title       = "pullfix sources only"
    description = "The functions' source archives"
    expression = join(" || ", flatten([
      for bucket in [google_storage_bucket.source.name, "gcf-v2-sources-${data.google_project.host.number}-${var.region}"] : [
        "resource.name == \"projects/_/buckets/${bucket}\"",
        "resource.name.startsWith(\"projects/_/buckets/${bucket}/\")",
      ]
    ]))
  }
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
  # approve (approve.tf): the one public function, deployed only when grants wait for approval.
  approve_function = {
    for name, f in {
      approve = {
        description     = "Decides approval requests: Approve and Deny clicks from Google Chat and Slack"
        service_account = try(google_service_account.approve["approve"].email, "")
        memory          = "512Mi"
        # It makes grants as remediate does, under the same lease (config lease > 120 s).
        timeout = 120
        env = {
          PULLFIX_OUTCOMES_TOPIC = google_pubsub_topic.outcomes.id
          PULLFIX_CHAT_AUDIENCE  = coalesce(try(var.approval.chat_audience, null), tostring(data.google_project.host.number))
        }
      }
    } : name => f if var.approval != null
  }
  deployed_functions = merge(local.functions, local.approve_function)
}

resource "google_cloudfunctions2_function" "pullfix" {
  # Over the names: the settings differ in shape between the two (env), so no map of them.
  for_each = toset(keys(local.deployed_functions))

  project     = var.project_id
  location    = var.region
  name        = "${var.prefix}-${each.key}"
  description = local.deployed_functions[each.key].description
  labels      = var.labels

  build_config {
    runtime           = "python312"
    entry_point       = each.key
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    max_instance_count = var.max_instances
    min_instance_count = var.min_instances
    available_memory   = local.deployed_functions[each.key].memory
    timeout_seconds    = local.deployed_functions[each.key].timeout
    # Only approve takes requests from the internet (Google Chat's and Slack's clicks, which
    # it authenticates itself); the others only Pub/Sub's pushes.
    ingress_settings               = each.key == "approve" ? "ALLOW_ALL" : "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
    service_account_email          = local.deployed_functions[each.key].service_account
    environment_variables = merge(local.deployed_functions[each.key].env, {
      PULLFIX_CONFIG       = "${local.config_mount}/config.yaml"
      GOOGLE_CLOUD_PROJECT = var.project_id
      LOG_EXECUTION_ID     = "true"
      # The config's hash: a changed config is a new revision, so no instance goes on with
      # the old file (the secret is read when an instance starts).
      PULLFIX_CONFIG_SHA256 = sha256(local.config_text)
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

    # The Slack app's signing secret: approve's alone.
    dynamic "secret_environment_variables" {
      for_each = each.key == "approve" ? local.approve_secrets : tomap({})
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }
  }

  # "latest" must exist when the function starts, and each account must read what it mounts:
  # the config's version and the secrets' readers come first; so do the build's roles.
  depends_on = [
    google_artifact_registry_repository_iam_member.build_writer,
    google_project_iam_member.build_log_writer,
    google_project_iam_member.build_source_reader,
    google_secret_manager_secret_version.config,
    google_secret_manager_secret_iam_member.config_reader,
    google_secret_manager_secret_iam_member.notify_secrets,
    google_secret_manager_secret_iam_member.approve_secrets,
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
