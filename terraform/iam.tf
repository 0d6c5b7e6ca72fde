# Identity and least privilege: one service account per function (and one to push),
# custom roles with exactly the permissions pullfix calls (the code declares them: the
# diagnosis checks' reads and pullfix.gcp.adapter.PERMISSIONS, written to
# functions/pullfix/permissions.json), bound where each is needed and nowhere else.

resource "google_service_account" "remediate" {
  project      = var.project_id
  account_id   = "${var.prefix}-remediate"
  display_name = "pullfix remediate"
  description  = "Reads clusters and repository policies; grants reader on allow-listed repositories"
}

resource "google_service_account" "notify" {
  project      = var.project_id
  account_id   = "${var.prefix}-notify"
  display_name = "pullfix notify"
  description  = "Posts outcomes to chat and the ticket system"
}

resource "google_service_account" "verify" {
  project      = var.project_id
  account_id   = "${var.prefix}-verify"
  display_name = "pullfix verify"
  description  = "Reads the kubelet's events of incidents pullfix acted on; closes them"
}

# Cloud Build builds the functions as this account, not as a default service account (which
# organizations that stop automatic grants, iam.automaticIamGrantsForDefaultServiceAccounts,
# leave without the roles a build needs). Its roles are the ones Google documents for a
# function's build account (https://cloud.google.com/functions/docs/securing/build-custom-sa):
# Logs Writer, Artifact Registry Writer (on pullfix's own image repository only) and Storage
# Object Viewer (on the source archives only; functions.tf).
resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = "${var.prefix}-build"
  display_name = "pullfix build"
  description  = "Builds pullfix's functions (Cloud Build)"
}

resource "google_service_account" "push" {
  project      = var.project_id
  account_id   = "${var.prefix}-push"
  display_name = "pullfix push"
  description  = "The identity Pub/Sub pushes to the functions with"
}

locals {
  # Each custom role's permissions, built from the code: the reader roles are the union of
  # the diagnosis checks' declared reads (pullfix.checks), the others come from the granter,
  # the ledger, the publisher and verification. "reader" and "hierarchy" (folder and
  # organization permissions, so only in an organization-level custom role) are the
  # remediate function's reads. Regenerate with
  #   python -m pullfix.checks --permissions > functions/pullfix/permissions.json
  # (tests/unit/test_checks.py fails while the file is stale).
  permissions = jsondecode(file("${path.module}/../functions/pullfix/permissions.json"))
  role_prefix = replace(var.prefix, "-", "_")
  role_titles = {
    reader             = "pullfix reader"
    hierarchy          = "pullfix hierarchy reader"
    repository_granter = "pullfix repository granter"
    project_granter    = "pullfix project granter"
    ledger             = "pullfix ledger"
    publisher          = "pullfix outcome publisher"
    verifier           = "pullfix verifier"
  }
}

resource "google_project_iam_custom_role" "pullfix" {
  for_each = var.organization_id == null ? { for k, v in local.permissions : k => v if k != "hierarchy" } : {}

  project     = var.project_id
  role_id     = "${local.role_prefix}_${each.key}"
  title       = local.role_titles[each.key]
  description = "Exactly the permissions pullfix's ${each.key} calls need"
  permissions = each.value
}

resource "google_organization_iam_custom_role" "pullfix" {
  for_each = var.organization_id == null ? {} : local.permissions

  org_id      = var.organization_id
  role_id     = "${local.role_prefix}_${each.key}"
  title       = local.role_titles[each.key]
  description = "Exactly the permissions pullfix's ${each.key} calls need"
  permissions = each.value
}

locals {
  roles              = var.organization_id == null ? { for k, r in google_project_iam_custom_role.pullfix : k => r.name } : { for k, r in google_organization_iam_custom_role.pullfix : k => r.name }
  remediate_member   = "serviceAccount:${google_service_account.remediate.email}"
  read_projects      = [for s in var.read_scopes : trimprefix(s, "projects/") if startswith(s, "projects/")]
  read_folders       = [for s in var.read_scopes : trimprefix(s, "folders/") if startswith(s, "folders/")]
  read_organizations = [for s in var.read_scopes : trimprefix(s, "organizations/") if startswith(s, "organizations/")]
}

# Read-only where pullfix reads clusters, accounts, projects and repository policies.
resource "google_project_iam_member" "reader" {
  for_each = toset(local.read_projects)

  project = each.value
  role    = local.roles.reader
  member  = local.remediate_member
}

resource "google_folder_iam_member" "reader" {
  for_each = toset(local.read_folders)

  folder = "folders/${each.value}"
  role   = local.roles.reader
  member = local.remediate_member
}

resource "google_organization_iam_member" "reader" {
  for_each = toset(local.read_organizations)

  org_id = each.value
  role   = local.roles.reader
  member = local.remediate_member
}

# Verification reads Cloud Logging where the clusters log: the same scopes as the reader.
resource "google_project_iam_member" "verifier" {
  for_each = toset(local.read_projects)

  project = each.value
  role    = local.roles.verifier
  member  = "serviceAccount:${google_service_account.verify.email}"
}

resource "google_folder_iam_member" "verifier" {
  for_each = toset(local.read_folders)

  folder = "folders/${each.value}"
  role   = local.roles.verifier
  member = "serviceAccount:${google_service_account.verify.email}"
}

resource "google_organization_iam_member" "verifier" {
  for_each = toset(local.read_organizations)

  org_id = each.value
  role   = local.roles.verifier
  member = "serviceAccount:${google_service_account.verify.email}"
}

# Folder and organization policies, for access verification up the hierarchy: with an
# organization, on the organization (without one there are no folders to read).
resource "google_organization_iam_member" "hierarchy" {
  for_each = var.organization_id == null ? toset([]) : toset([var.organization_id])

  org_id = each.value
  role   = local.roles.hierarchy
  member = local.remediate_member
}

# The IAM write: only on the allow-listed repositories ...
resource "google_artifact_registry_repository_iam_member" "granter" {
  for_each = var.grant_level == "repository" ? { for r in var.grant_repositories : "${r.project}/${r.location}/${r.repository}" => r } : {}

  project    = each.value.project
  location   = each.value.location
  repository = each.value.repository
  role       = local.roles.repository_granter
  member     = local.remediate_member
}

# ... or, only when the config grants at project level, on their projects.
resource "google_project_iam_member" "project_granter" {
  for_each = var.grant_level == "project" ? toset(local.grant_projects) : toset([])

  project = each.value
  role    = local.roles.project_granter
  member  = local.remediate_member
}

# The ledger, limited to pullfix's own Firestore database.
resource "google_project_iam_member" "ledger" {
  for_each = {
    remediate = google_service_account.remediate.email
    notify    = google_service_account.notify.email
    verify    = google_service_account.verify.email
  }

  project = var.project_id
  role    = local.roles.ledger
  member  = "serviceAccount:${each.value}"

  condition {
    title       = "pullfix ledger only"
    description = "Firestore documents of the pullfix ledger database"
    expression  = "resource.name.startsWith(\"projects/${var.project_id}/databases/${var.ledger.database}\")"
  }
}

resource "google_pubsub_topic_iam_member" "outcome_publisher" {
  for_each = {
    remediate = local.remediate_member
    verify    = "serviceAccount:${google_service_account.verify.email}"
  }

  project = var.project_id
  topic   = google_pubsub_topic.outcomes.name
  role    = local.roles.publisher
  member  = each.value
}
