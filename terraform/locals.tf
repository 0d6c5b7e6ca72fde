locals {
  source_dir = coalesce(var.functions_source_dir, "${path.module}/../functions")
  # The one definition of which log entries reach pullfix; the code reads the same file.
  sink_filter = trimspace(file("${path.module}/../functions/pullfix/sink_filter.txt"))

  repositories = [
    for r in var.grant_repositories : "projects/${r.project}/locations/${r.location}/repositories/${r.repository}"
  ]
  grant_projects = distinct([for r in var.grant_repositories : r.project])

  # The config file the functions read (PULLFIX_CONFIG); see the README for its schema.
  config = {
    dry_run = var.dry_run
    auto_grant = {
      repositories     = local.repositories
      cluster_projects = var.cluster_projects
      level            = var.grant_level
      max_per_hour     = var.max_grants_per_hour
    }
    dedupe_window    = var.dedupe_window
    escalation_grace = var.escalation_grace
    abandon_after    = var.abandon_after
    ledger = {
      firestore = {
        project    = var.project_id
        database   = var.ledger.database
        collection = var.ledger.collection
      }
    }
    notify = {
      routes = [for r in var.notify_routes : { for k, v in r : k => v if v != null }]
    }
  }
  config_mount = "/etc/pullfix"
}
