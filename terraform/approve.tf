# The approve function's identity, secrets and public endpoint (only with var.approval).
#
# approve is the one function the internet reaches: Google Chat and Slack post clicks to it.
# It proves each click itself before reading it (a Google-signed Chat token, or Slack's
# signature with the app's signing secret; pullfix.notify.interactions), so Cloud Run lets
# anyone invoke it, and nothing else of pullfix. It makes grants through the same code as
# remediate, so its account holds remediate's reads, the same IAM write on the same
# allow-listed resources, the ledger and the outcomes topic: nothing more.

locals {
  approve        = var.approval == null ? toset([]) : toset(["approve"])
  approve_member = "serviceAccount:${try(google_service_account.approve["approve"].email, "")}"
  slack_secret   = try(var.approval.slack_signing_secret, null)
  approve_secrets = local.slack_secret == null ? tomap({}) : tomap({
    PULLFIX_SLACK_SIGNING_SECRET = local.slack_secret
  })
}

resource "google_service_account" "approve" {
  for_each = local.approve

  project      = var.project_id
  account_id   = "${var.prefix}-approve"
  display_name = "pullfix approve"
  description  = "Decides approval requests from chat: re-verifies and grants as remediate does"
}

resource "google_cloud_run_v2_service_iam_member" "approve_public" {
  #checkov:skip=CKV_GCP_102:approve takes Google Chat's and Slack's clicks, which it authenticates itself (a Google-signed token or Slack's signature) before reading anything.
  for_each = local.approve

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.pullfix["approve"].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# Reads, as remediate's (it gathers the evidence again at the click).
resource "google_project_iam_member" "approve_reader" {
  for_each = var.approval == null ? toset([]) : toset(local.read_projects)

  project = each.value
  role    = local.roles.reader
  member  = local.approve_member
}

resource "google_folder_iam_member" "approve_reader" {
  for_each = var.approval == null ? toset([]) : toset(local.read_folders)

  folder = "folders/${each.value}"
  role   = local.roles.reader
  member = local.approve_member
}

resource "google_organization_iam_member" "approve_reader" {
  for_each = var.approval == null ? toset([]) : toset(local.read_organizations)

  org_id = each.value
  role   = local.roles.reader
  member = local.approve_member
}

resource "google_organization_iam_member" "approve_hierarchy" {
  for_each = var.approval == null || var.organization_id == null ? toset([]) : toset([var.organization_id])

  org_id = each.value
  role   = local.roles.hierarchy
  member = local.approve_member
}

# The IAM write, where remediate's is bound and nowhere else.
resource "google_artifact_registry_repository_iam_member" "approve_granter" {
  for_each = var.approval != null && var.grant_level == "repository" ? { for r in var.grant_repositories : "${r.project}/${r.location}/${r.repository}" => r } : {}

  project    = each.value.project
  location   = each.value.location
  repository = each.value.repository
  role       = local.roles.repository_granter
  member     = local.approve_member
}

resource "google_project_iam_member" "approve_project_granter" {
  for_each = var.approval != null && var.grant_level == "project" ? toset(local.grant_projects) : toset([])

  project = each.value
  role    = local.roles.project_granter
  member  = local.approve_member
}

resource "google_project_iam_member" "approve_ledger" {
  for_each = local.approve

  project = var.project_id
  role    = local.roles.ledger
  member  = local.approve_member

  condition {
    title       = "pullfix ledger only"
    description = "Firestore documents of the pullfix ledger database"
    expression  = "resource.name.startsWith(\"projects/${var.project_id}/databases/${var.ledger.database}\")"
  }
}

resource "google_pubsub_topic_iam_member" "approve_publisher" {
  for_each = local.approve

  project = var.project_id
  topic   = google_pubsub_topic.outcomes.name
  role    = local.roles.publisher
  member  = local.approve_member
}

# The Slack app's signing secret: readable by approve's account alone.
resource "google_secret_manager_secret_iam_member" "approve_secrets" {
  for_each = local.approve_secrets

  project   = var.project_id
  secret_id = each.value
  role      = "roles/secretmanager.secretAccessor"
  member    = local.approve_member
}
