# Figures people look at: log-based metrics from the functions' structured logs, and a
# dashboard of them. remediate logs each outcome (jsonPayload.action, jsonPayload.cause);
# verify logs each verdict (jsonPayload.verification, with time_to_fix_seconds).

locals {
  remediate_logs = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=\"${var.prefix}-remediate\"",
  ])
  verify_logs = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=\"${var.prefix}-verify\"",
  ])
  metric_prefix = "${var.prefix}/"
}

resource "google_logging_metric" "incidents" {
  project     = var.project_id
  name        = "${local.metric_prefix}incidents"
  description = "Incidents pullfix acted on (a grant, a dry-run grant or a ticket), by cause"
  filter      = "${local.remediate_logs} AND jsonPayload.action=(\"grant\" OR \"would_grant\" OR \"ticket\")"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key        = "cause"
      value_type = "STRING"
    }
    labels {
      key        = "action"
      value_type = "STRING"
    }
  }
  label_extractors = {
    cause  = "EXTRACT(jsonPayload.cause)"
    action = "EXTRACT(jsonPayload.action)"
  }

  depends_on = [google_project_service.required]
}

resource "google_logging_metric" "verifications" {
  project     = var.project_id
  name        = "${local.metric_prefix}verifications"
  description = "Incidents closed or escalated by verification: resolved, still_failing, abandoned"
  filter      = "${local.verify_logs} AND jsonPayload.verification.action:*"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key        = "action"
      value_type = "STRING"
    }
    labels {
      key        = "fixed_by"
      value_type = "STRING"
    }
  }
  label_extractors = {
    action   = "EXTRACT(jsonPayload.verification.action)"
    fixed_by = "EXTRACT(jsonPayload.verification.fixed_by)"
  }

  depends_on = [google_project_service.required]
}

resource "google_logging_metric" "time_to_fix" {
  project     = var.project_id
  name        = "${local.metric_prefix}time_to_fix"
  description = "Seconds from an incident's first failed pull to its first successful pull"
  filter      = "${local.verify_logs} AND jsonPayload.verification.action=\"resolved\""

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "s"
    labels {
      key        = "fixed_by"
      value_type = "STRING"
    }
  }
  value_extractor = "EXTRACT(jsonPayload.verification.time_to_fix_seconds)"
  label_extractors = {
    fixed_by = "EXTRACT(jsonPayload.verification.fixed_by)"
  }
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 16
      growth_factor      = 2
      scale              = 15
    }
  }

  depends_on = [google_project_service.required]
}

locals {
  metric_type = { for k, m in {
    incidents     = google_logging_metric.incidents
    verifications = google_logging_metric.verifications
    time_to_fix   = google_logging_metric.time_to_fix
  } : k => "logging.googleapis.com/user/${m.name}" }

  dashboard_tiles = [
    {
      title   = "Incidents by cause"
      metric  = local.metric_type.incidents
      group   = "metric.label.cause"
      reducer = "REDUCE_SUM"
      aligner = "ALIGN_DELTA"
    },
    {
      title   = "Grants, dry-run grants and tickets"
      metric  = local.metric_type.incidents
      group   = "metric.label.action"
      reducer = "REDUCE_SUM"
      aligner = "ALIGN_DELTA"
    },
    {
      title   = "Verification: resolved, still failing, abandoned"
      metric  = local.metric_type.verifications
      group   = "metric.label.action"
      reducer = "REDUCE_SUM"
      aligner = "ALIGN_DELTA"
    },
    {
      title   = "Time to fix (p50, seconds)"
      metric  = local.metric_type.time_to_fix
      group   = "metric.label.fixed_by"
      reducer = "REDUCE_PERCENTILE_50"
      aligner = "ALIGN_DELTA"
    },
    {
      title   = "Time to fix (p95, seconds)"
      metric  = local.metric_type.time_to_fix
      group   = "metric.label.fixed_by"
      reducer = "REDUCE_PERCENTILE_95"
      aligner = "ALIGN_DELTA"
    },
  ]
}

resource "google_monitoring_dashboard" "pullfix" {
  project = var.project_id
  dashboard_json = jsonencode({
    displayName = "pullfix: image-pull incidents"
    mosaicLayout = {
      columns = 12
      tiles = [for i, t in local.dashboard_tiles : {
        xPos   = (i % 2) * 6
        yPos   = floor(i / 2) * 4
        width  = 6
        height = 4
        widget = {
          title = t.title
          xyChart = {
            dataSets = [{
              plotType = "STACKED_BAR"
              timeSeriesQuery = {
                timeSeriesFilter = {
                  filter = "metric.type=\"${t.metric}\""
                  aggregation = {
                    alignmentPeriod    = "3600s"
                    perSeriesAligner   = t.aligner
                    crossSeriesReducer = t.reducer
                    groupByFields      = [t.group]
                  }
                }
              }
            }]
          }
        }
      }]
    }
  })

  depends_on = [google_project_service.required]
}
