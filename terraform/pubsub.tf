# Topics, and pullfix's own push subscriptions: Eventarc's managed subscription cannot take
# a dead-letter policy, so each function is pushed to (OIDC-authenticated) by a
# subscription that retries with backoff and dead-letters what keeps failing.

resource "google_pubsub_topic" "failures" {
  #checkov:skip=CKV_GCP_83:Customer-managed encryption is available through var.kms_key_name; Google-managed keys are the default because the messages carry log entries and outcomes, no secrets.
  kms_key_name               = var.kms_key_name
  project                    = var.project_id
  name                       = "${var.prefix}-pull-failures"
  labels                     = var.labels
  message_retention_duration = "86400s"
  depends_on                 = [google_project_service.required, google_kms_crypto_key_iam_member.pubsub_agent]
}

resource "google_pubsub_topic" "outcomes" {
  #checkov:skip=CKV_GCP_83:Customer-managed encryption is available through var.kms_key_name; Google-managed keys are the default because the messages carry log entries and outcomes, no secrets.
  kms_key_name               = var.kms_key_name
  project                    = var.project_id
  name                       = "${var.prefix}-pull-outcomes"
  labels                     = var.labels
  message_retention_duration = "86400s"
  depends_on                 = [google_project_service.required, google_kms_crypto_key_iam_member.pubsub_agent]
}

# Cloud Scheduler's ticks for the verification pass.
resource "google_pubsub_topic" "verify" {
  #checkov:skip=CKV_GCP_83:Customer-managed encryption is available through var.kms_key_name; the ticks carry no data.
  kms_key_name               = var.kms_key_name
  project                    = var.project_id
  name                       = "${var.prefix}-verify"
  labels                     = var.labels
  message_retention_duration = "3600s"
  depends_on                 = [google_project_service.required, google_kms_crypto_key_iam_member.pubsub_agent]
}

resource "google_pubsub_topic" "dead_letter" {
  #checkov:skip=CKV_GCP_83:Customer-managed encryption is available through var.kms_key_name; Google-managed keys are the default because the messages carry log entries and outcomes, no secrets.
  kms_key_name = var.kms_key_name
  project      = var.project_id
  name         = "${var.prefix}-dead-letter"
  labels       = var.labels
  depends_on   = [google_project_service.required, google_kms_crypto_key_iam_member.pubsub_agent]
}

# Keeps dead-lettered messages (7 days) for inspection and replay (`pullfix dlq replay`).
resource "google_pubsub_subscription" "dead_letter" {
  project                    = var.project_id
  name                       = "${var.prefix}-dead-letter"
  topic                      = google_pubsub_topic.dead_letter.id
  labels                     = var.labels
  message_retention_duration = "604800s"
  retain_acked_messages      = true
  ack_deadline_seconds       = 60
  expiration_policy {
    ttl = ""
  }
}

locals {
  pushes = {
    remediate = {
      topic    = google_pubsub_topic.failures
      function = google_cloudfunctions2_function.pullfix["remediate"]
    }
    notify = {
      topic    = google_pubsub_topic.outcomes
      function = google_cloudfunctions2_function.pullfix["notify"]
    }
    verify = {
      topic    = google_pubsub_topic.verify
      function = google_cloudfunctions2_function.pullfix["verify"]
    }
  }
  pubsub_agent = "serviceAccount:service-${data.google_project.host.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

resource "google_pubsub_subscription" "push" {
  for_each = local.pushes

  project                    = var.project_id
  name                       = "${var.prefix}-${each.key}"
  topic                      = each.value.topic.id
  labels                     = var.labels
  ack_deadline_seconds       = local.subscriptions.ack_deadline_seconds
  message_retention_duration = "${local.subscriptions.message_retention_seconds}s"

  push_config {
    # The topic in the path lets functions-framework name the event's source.
    push_endpoint = "${each.value.function.service_config[0].uri}/projects/${var.project_id}/topics/${each.value.topic.name}"
    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = each.value.function.service_config[0].uri
    }
  }

  retry_policy {
    minimum_backoff = "${local.subscriptions.minimum_backoff_seconds}s"
    maximum_backoff = "${local.subscriptions.maximum_backoff_seconds}s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = local.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_pubsub_topic_iam_member.agent_dead_letter_publisher,
    google_service_account_iam_member.agent_push_token_creator,
  ]
}

# The Pub/Sub service agent forwards undeliverable messages: it publishes to the
# dead-letter topic and acknowledges on the source subscriptions.
resource "google_pubsub_topic_iam_member" "agent_dead_letter_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "agent_subscriber" {
  for_each = local.pushes

  project      = var.project_id
  subscription = google_pubsub_subscription.push[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

# It also mints the push identity's OIDC tokens.
resource "google_service_account_iam_member" "agent_push_token_creator" {
  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

# With customer-managed encryption, the Pub/Sub service agent uses the key.
resource "google_kms_crypto_key_iam_member" "pubsub_agent" {
  count = var.kms_key_name == null ? 0 : 1

  crypto_key_id = var.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = local.pubsub_agent
}
