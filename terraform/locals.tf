locals {
  source_dir = coalesce(var.functions_source_dir, "${path.module}/../functions")
  # The one definition of which log entries reach pullfix; the code reads the same file.
  sink_filter = trimspace(file("${path.module}/../functions/pullfix/sink_filter.txt"))
  # The push subscriptions' ack deadline, retry policy and dead-letter attempts: the tests on
  # Google's Pub/Sub emulator configure theirs from the same file.
  subscriptions         = jsondecode(file("${path.module}/../functions/pullfix/subscriptions.json"))
  max_delivery_attempts = coalesce(var.max_delivery_attempts, local.subscriptions.max_delivery_attempts)

  grant_projects = distinct([for r in var.grant_repositories : r.project])
  # The config's allow-list. A project-level grant reaches every repository of the project, and
  # pullfix makes one only where a glob names the whole project.
  repositories = var.grant_level == "project" ? [
    for p in local.grant_projects : "projects/${p}/locations/*/repositories/*"
    ] : [
    for r in var.grant_repositories : "projects/${r.project}/locations/${r.location}/repositories/${r.repository}"
  ]

  # The config file the functions read (PULLFIX_CONFIG; docs/config.md): built from the
  # variables, or the caller's own file (config_yaml). Either way its ledger is the database
  # created here.
  ledger_config = {
    firestore = {
      project    = var.project_id
      database   = var.ledger.database
      collection = var.ledger.collection
    }
  }
  built_config = {
    dry_run = var.dry_run
    auto_grant = {
      repositories      = local.repositories
      cluster_projects  = var.cluster_projects
      level             = var.grant_level
      max_per_hour      = var.max_grants_per_hour
      beside_conditions = var.beside_conditions
      expires_after     = var.grant_expires_after
      # Grants that wait for an approver's click (var.approval; the approve function).
      approval               = try(var.approval.required, false) ? "required" : "none"
      approval_repositories  = try(var.approval.repositories, [])
      approvers              = try(var.approval.approvers, [])
      approval_expires_after = try(var.approval.expires_after, "1h")
    }
    dedupe_window           = var.dedupe_window
    escalation_grace        = var.escalation_grace
    followup_grace          = var.followup_grace
    abandon_after           = var.abandon_after
    verify_per_run          = var.verify_per_run
    verify_requests_per_run = var.verify_requests_per_run
    max_event_age           = var.max_event_age
    api_timeout             = var.api_timeout
    lease                   = var.lease
    ledger                  = local.ledger_config
    notify = {
      routes = [for r in var.notify_routes : { for k, v in r : k => v if v != null }]
    }
  }
  config_text  = var.config_yaml == null ? yamlencode(local.built_config) : yamlencode(merge(yamldecode(var.config_yaml), { ledger = local.ledger_config }))
  config       = yamldecode(local.config_text)
  config_mount = "/etc/pullfix"
}
