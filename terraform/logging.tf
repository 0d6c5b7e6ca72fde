# The log sink: GKE pull-failure events, at project, folder or organization scope, to the
# pull-failures topic. Its writer identity may publish to that topic and nothing else.

resource "google_logging_project_sink" "pull_failures" {
  count = var.sink_scope == "project" ? 1 : 0

  project                = coalesce(var.sink_parent, var.project_id)
  name                   = "${var.prefix}-pull-failures"
  description            = "GKE image-pull failures for pullfix"
  destination            = "pubsub.googleapis.com/${google_pubsub_topic.failures.id}"
  filter                 = local.sink_filter
  unique_writer_identity = true
}

resource "google_logging_folder_sink" "pull_failures" {
  count = var.sink_scope == "folder" ? 1 : 0

  folder           = var.sink_parent
  name             = "${var.prefix}-pull-failures"
  description      = "GKE image-pull failures for pullfix"
  destination      = "pubsub.googleapis.com/${google_pubsub_topic.failures.id}"
  filter           = local.sink_filter
  include_children = var.include_children
}

resource "google_logging_organization_sink" "pull_failures" {
  count = var.sink_scope == "organization" ? 1 : 0

  org_id           = var.sink_parent
  name             = "${var.prefix}-pull-failures"
  description      = "GKE image-pull failures for pullfix"
  destination      = "pubsub.googleapis.com/${google_pubsub_topic.failures.id}"
  filter           = local.sink_filter
  include_children = var.include_children
}

locals {
  sink_writer_identity = one(concat(
    google_logging_project_sink.pull_failures[*].writer_identity,
    google_logging_folder_sink.pull_failures[*].writer_identity,
    google_logging_organization_sink.pull_failures[*].writer_identity,
  ))
}

resource "google_pubsub_topic_iam_member" "sink_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.failures.name
  role    = "roles/pubsub.publisher"
  member  = local.sink_writer_identity
}
