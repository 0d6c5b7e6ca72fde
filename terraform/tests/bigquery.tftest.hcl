# Outcomes in BigQuery (var.outcomes_bigquery): nothing without it; with it, a table partitioned
# by day with the outcome schema, written by a BigQuery subscription on the outcomes topic as
# the Pub/Sub service agent, whose only grant is on that table. Offline, with mock providers.

mock_provider "google" {
  mock_data "google_project" {
    defaults = {
      number = "123456789012"
    }
  }
}
mock_provider "archive" {}

variables {
  project_id  = "acme-ops"
  read_scopes = ["projects/acme-ops"]
  grant_repositories = [
    { project = "acme-ops", location = "us-central1", repository = "apps" },
  ]
}

run "off_by_default" {
  command = plan

  assert {
    condition = (length(google_bigquery_dataset.outcomes) + length(google_bigquery_table.outcomes)
    + length(google_bigquery_table_iam_member.outcomes_writer) + length(google_pubsub_subscription.outcomes_bigquery)) == 0
    error_message = "Without outcomes_bigquery, nothing of BigQuery is created."
  }
  assert {
    condition     = !contains(keys(google_project_service.required), "bigquery.googleapis.com")
    error_message = "Without outcomes_bigquery, the BigQuery API is not enabled."
  }
}

run "on_a_table_of_outcomes" {
  command = plan

  variables {
    outcomes_bigquery = { dataset = "pullfix", table = "outcomes" }
  }

  assert {
    condition     = google_bigquery_dataset.outcomes["outcomes"].dataset_id == "pullfix"
    error_message = "The dataset is created."
  }
  assert {
    condition     = google_bigquery_table.outcomes["outcomes"].time_partitioning[0].type == "DAY" && google_bigquery_table.outcomes["outcomes"].time_partitioning[0].field == "publish_time"
    error_message = "The table is partitioned by day on publish_time."
  }
  assert {
    condition     = jsondecode(google_bigquery_table.outcomes["outcomes"].schema) == jsondecode(file("outcomes_schema.json"))
    error_message = "The table's schema is the outcome schema."
  }
  assert {
    condition = (google_pubsub_subscription.outcomes_bigquery["outcomes"].bigquery_config[0].use_table_schema
      && google_pubsub_subscription.outcomes_bigquery["outcomes"].bigquery_config[0].write_metadata
    && google_pubsub_subscription.outcomes_bigquery["outcomes"].bigquery_config[0].table == "acme-ops.pullfix.outcomes")
    error_message = "The subscription writes the table, by its schema, with the message metadata."
  }
  assert {
    condition     = google_pubsub_subscription.outcomes_bigquery["outcomes"].name == "pullfix-outcomes-bigquery"
    error_message = "The subscription is named with the prefix."
  }
  assert {
    condition = (google_bigquery_table_iam_member.outcomes_writer["outcomes"].role == "roles/bigquery.dataEditor"
      && google_bigquery_table_iam_member.outcomes_writer["outcomes"].table_id == "outcomes"
    && google_bigquery_table_iam_member.outcomes_writer["outcomes"].member == "serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com")
    error_message = "The Pub/Sub service agent may edit the data of this table alone."
  }
  assert {
    condition     = contains(keys(google_project_service.required), "bigquery.googleapis.com")
    error_message = "The BigQuery API is enabled."
  }
}

run "on_an_existing_dataset" {
  command = plan

  variables {
    outcomes_bigquery = { dataset = "analytics", create_dataset = false }
  }

  assert {
    condition     = length(google_bigquery_dataset.outcomes) == 0 && google_bigquery_table.outcomes["outcomes"].dataset_id == "analytics"
    error_message = "An existing dataset is used as it is; the table (default name outcomes) goes in it."
  }
}

run "dataset_id_malformed" {
  command = plan

  variables {
    outcomes_bigquery = { dataset = "pull-fix" }
  }

  expect_failures = [var.outcomes_bigquery]
}
