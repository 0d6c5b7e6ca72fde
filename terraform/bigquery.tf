# Opt-in (var.outcomes_bigquery): every outcome in a BigQuery table, for queries such as the
# time to fix by cause and team (README, "Outcomes in BigQuery"). A BigQuery subscription
# writes each message's JSON fields to the columns of the same names (use_table_schema), the
# message's id, publish time and attributes beside them (write_metadata); fields the table
# does not have are dropped rather than holding the subscription back
# (https://cloud.google.com/pubsub/docs/bigquery).

locals {
  outcomes_bigquery = var.outcomes_bigquery == null ? {} : { outcomes = var.outcomes_bigquery }
}

resource "google_bigquery_dataset" "outcomes" {
  #checkov:skip=CKV_GCP_81:The rows are pullfix's outcomes (no secrets) under Google-managed encryption; for a customer-managed key, give a dataset of your own (create_dataset = false) whose default key the table takes.
  for_each = { for k, v in local.outcomes_bigquery : k => v if v.create_dataset }

  project     = var.project_id
  dataset_id  = each.value.dataset
  location    = each.value.location
  description = "pullfix's outcomes, written by the Pub/Sub subscription ${var.prefix}-outcomes-bigquery."
  labels      = var.labels

  depends_on = [google_project_service.required]
}

resource "google_bigquery_table" "outcomes" {
  #checkov:skip=CKV_GCP_80:The rows are pullfix's outcomes (no secrets); in a dataset of your own with a default customer-managed key (create_dataset = false), the table is created under that key.
  for_each = local.outcomes_bigquery

  project     = var.project_id
  dataset_id  = each.value.create_dataset ? google_bigquery_dataset.outcomes[each.key].dataset_id : each.value.dataset
  table_id    = each.value.table
  description = "One row per pullfix outcome (schema pullfix.outcome/v1), partitioned by day of publication."
  labels      = var.labels
  # The schema is generated from pullfix.core.outcome.bigquery_schema() (a test holds the file to it).
  schema = file("${path.module}/outcomes_schema.json")

  time_partitioning {
    type  = "DAY"
    field = "publish_time"
  }

  deletion_protection = true
}

# The Pub/Sub service agent writes the rows: dataEditor on this table only.
resource "google_bigquery_table_iam_member" "outcomes_writer" {
  for_each = local.outcomes_bigquery

  project    = var.project_id
  dataset_id = google_bigquery_table.outcomes[each.key].dataset_id
  table_id   = google_bigquery_table.outcomes[each.key].table_id
  role       = "roles/bigquery.dataEditor"
  member     = local.pubsub_agent
}

resource "google_pubsub_subscription" "outcomes_bigquery" {
  for_each = local.outcomes_bigquery

  project = var.project_id
  name    = "${var.prefix}-outcomes-bigquery"
  topic   = google_pubsub_topic.outcomes.id
  labels  = var.labels

  bigquery_config {
    table               = "${var.project_id}.${google_bigquery_table.outcomes[each.key].dataset_id}.${google_bigquery_table.outcomes[each.key].table_id}"
    use_table_schema    = true
    write_metadata      = true
    drop_unknown_fields = true
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [google_bigquery_table_iam_member.outcomes_writer]
}
