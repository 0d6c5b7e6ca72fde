locals {
  # The APIs pullfix's code calls (pullfix.gcp.clients.GoogleClients; tests/terraform checks
  # that the two lists agree). Calls are made as the functions' service accounts, so these are
  # enabled in the host project. Compute (instances.get: the failing node belongs to its pool)
  # and GKE must also be on in the cluster projects, as they always are where GKE runs.
  called_services = [
    "artifactregistry.googleapis.com",
    "cloudidentity.googleapis.com", # approvers by Google group (approve: checkTransitiveMembership)
    "cloudkms.googleapis.com",      # the cmek check: a repository's key and its state
    "cloudresourcemanager.googleapis.com",
    "compute.googleapis.com",
    "container.googleapis.com",
    "dns.googleapis.com", # the network check: the private zones that send registry names to VIPs
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "policytroubleshooter.googleapis.com",
    "pubsub.googleapis.com",
    "secretmanager.googleapis.com", # the upstream check: a remote repository's password version
    "serviceusage.googleapis.com",  # the api_enabled check: services.get
  ]
  # What the deployment itself needs: the functions, their builds, the ledger, the secrets,
  # the schedule and the dashboard.
  platform_services = [
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ]
  # Google Chat's API only where a route posts as the Chat app (google_chat_space, in the
  # routes or in config_yaml): notify calls spaces.messages.create with its own account.
  posts_as_chat_app = anytrue(concat(
    [for r in var.notify_routes : r.google_chat_space != null],
    [for r in try(yamldecode(var.config_yaml).notify.routes, []) : try(r.google_chat_space, null) != null],
  ))
  chat_services = local.posts_as_chat_app ? ["chat.googleapis.com"] : []
  # BigQuery only with var.outcomes_bigquery.
  services = sort(distinct(concat(
    local.called_services, local.platform_services, local.chat_services,
    var.outcomes_bigquery == null ? [] : ["bigquery.googleapis.com"],
  )))
}

resource "google_project_service" "required" {
  for_each = toset(local.services)

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

data "google_project" "host" {
  project_id = var.project_id
}
