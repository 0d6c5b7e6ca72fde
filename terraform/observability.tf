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
  functions_logs = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=(\"${var.prefix}-remediate\" OR \"${var.prefix}-notify\" OR \"${var.prefix}-verify\")",
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

# The Policy Troubleshooter refused pullfix (its API off, a permission missing): pullfix then
# falls back to reading the policies itself, or tickets instead of granting.
resource "google_logging_metric" "troubleshooter_refused" {
  project     = var.project_id
  name        = "${local.metric_prefix}troubleshooter_refused"
  description = "Times the Policy Troubleshooter refused pullfix's question (jsonPayload.signal = troubleshooter_refused)"
  filter      = "${local.functions_logs} AND jsonPayload.signal=\"troubleshooter_refused\""

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
  }

  depends_on = [google_project_service.required]
}

# A grant that did not fix the pull: escalated by remediate (a failure after escalation_grace)
# or by verification (still_failing); one escalation per grant, whoever makes it.
resource "google_logging_metric" "escalations" {
  project     = var.project_id
  name        = "${local.metric_prefix}escalations"
  description = "Grants that did not fix the pull (escalation tickets, and verification's still_failing)"
  # In Cloud Logging's query language OR binds tighter than AND: every group is in parentheses.
  filter = "(${local.remediate_logs} AND jsonPayload.escalation=true) OR (${local.verify_logs} AND jsonPayload.verification.action=\"still_failing\")"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
  }

  depends_on = [google_project_service.required]
}

locals {
  metric_type = { for k, m in {
    incidents              = google_logging_metric.incidents
    verifications          = google_logging_metric.verifications
    time_to_fix            = google_logging_metric.time_to_fix
    troubleshooter_refused = google_logging_metric.troubleshooter_refused
    escalations            = google_logging_metric.escalations
  } : k => "logging.googleapis.com/user/${m.name}" }
  user_metric = { for k, t in local.metric_type : k => "metric.type=\"${t}\" AND resource.type=\"cloud_run_revision\"" }

  # What the alerts and the dashboard watch besides pullfix's own log-based metrics.
  dead_letter_backlog = join(" AND ", [
    "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\"",
    "resource.type=\"pubsub_subscription\"",
    "resource.labels.subscription_id=\"${var.prefix}-dead-letter\"",
  ])
  function_requests = join(" AND ", [
    "metric.type=\"run.googleapis.com/request_count\"",
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=monitoring.regex.full_match(\"${var.prefix}-(remediate|notify|verify)\")",
  ])
  function_5xx = "${local.function_requests} AND metric.labels.response_code_class=\"5xx\""
  grants       = "${local.user_metric.incidents} AND metric.labels.action=\"grant\""
  # Alert at four fifths of the cap (at least one grant).
  grant_alert_at = max(1, ceil(var.max_grants_per_hour * 0.8))

  dashboard_tiles = [
    {
      title   = "Incidents by cause"
      filter  = local.user_metric.incidents
      group   = "metric.label.cause"
      reducer = "REDUCE_SUM"
      aligner = "ALIGN_DELTA"
    },
    {
      title   = "Grants, dry-run grants and tickets"
      filter  = local.user_metric.incidents
      group   = "metric.label.action"
      reducer = "REDUCE_SUM"
      aligner = "ALIGN_DELTA"
    },
    {
      title   = "Verification: resolved, still failing, abandoned"
      filter  = local.user_metric.verifications
      group   = "metric.label.action"
      reducer = "REDUCE_SUM"
      aligner = "ALIGN_DELTA"
    },
    {
      title   = "Time to fix (p50, seconds)"
      filter  = local.user_metric.time_to_fix
      group   = "metric.label.fixed_by"
      reducer = "REDUCE_PERCENTILE_50"
      aligner = "ALIGN_DELTA"
    },
    {
      title   = "Time to fix (p95, seconds)"
      filter  = local.user_metric.time_to_fix
      group   = "metric.label.fixed_by"
      reducer = "REDUCE_PERCENTILE_95"
      aligner = "ALIGN_DELTA"
    },
    {
      title   = "Grants per hour (line: the cap)"
      filter  = local.grants
      group   = "resource.label.service_name"
      reducer = "REDUCE_SUM"
      aligner = "ALIGN_DELTA"
      line    = var.max_grants_per_hour
    },
    {
      title   = "Escalations: grants that did not fix the pull"
      filter  = local.user_metric.escalations
      group   = "resource.label.service_name"
      reducer = "REDUCE_SUM"
      aligner = "ALIGN_DELTA"
    },
    {
      title   = "Policy Troubleshooter refused"
      filter  = local.user_metric.troubleshooter_refused
      group   = "resource.label.service_name"
      reducer = "REDUCE_SUM"
      aligner = "ALIGN_DELTA"
    },
    {
      title   = "Dead-letter backlog (messages)"
      filter  = local.dead_letter_backlog
      group   = "resource.label.subscription_id"
      reducer = "REDUCE_MAX"
      aligner = "ALIGN_MAX"
    },
    {
      title   = "Function responses 5xx"
      filter  = local.function_5xx
      group   = "resource.label.service_name"
      reducer = "REDUCE_SUM"
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
            thresholds = try(t.line, null) == null ? [] : [{ value = t.line, label = "cap" }]
            dataSets = [{
              plotType = "STACKED_BAR"
              timeSeriesQuery = {
                timeSeriesFilter = {
                  filter = t.filter
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

# Alerts: each watches one thing that needs a person, says what to do, and notifies
# alert_notification_channels (without channels the policies exist, disabled).
locals {
  alert_policies = merge({
    dead_letter = {
      title     = "pullfix: messages in the dead-letter subscription"
      severity  = "ERROR"
      filter    = local.dead_letter_backlog
      aligner   = "ALIGN_MAX"
      reducer   = "REDUCE_MAX"
      period    = "300s"
      threshold = 0
      doc       = "A pull failure, outcome or verification tick failed every delivery and waits in the `${var.prefix}-dead-letter` subscription (kept 7 days). Read the functions' CRITICAL and WARNING logs for why (an invalid configuration stops them all), fix it, then pull the messages and replay them."
    }
    function_errors = {
      title       = "pullfix: functions answering 5xx"
      severity    = "ERROR"
      filter      = local.function_5xx
      denominator = local.function_requests
      group       = ["resource.label.service_name"]
      aligner     = "ALIGN_DELTA"
      reducer     = "REDUCE_SUM"
      period      = "600s"
      threshold   = var.alert_error_ratio
      doc         = "More than ${var.alert_error_ratio * 100}% of a pullfix function's requests failed over 10 minutes. Pub/Sub redelivers them, then dead-letters them. Look for `invalid configuration` (CRITICAL), `will be retried` (a Google API failing) and permission errors in the function's logs."
    }
    troubleshooter_refused = {
      title     = "pullfix: the Policy Troubleshooter refuses pullfix"
      severity  = "WARNING"
      filter    = local.user_metric.troubleshooter_refused
      aligner   = "ALIGN_DELTA"
      reducer   = "REDUCE_SUM"
      period    = "600s"
      threshold = 0
      doc       = "remediate could not ask the Policy Troubleshooter (policytroubleshooter.googleapis.com off in the host project, or a permission of the hierarchy reader missing). pullfix reads the policies itself instead, and tickets where it cannot prove access. See docs/permissions.md."
    }
    escalations = {
      title     = "pullfix: a grant did not fix the pull"
      severity  = "WARNING"
      filter    = local.user_metric.escalations
      aligner   = "ALIGN_DELTA"
      reducer   = "REDUCE_SUM"
      period    = "600s"
      threshold = 0
      doc       = "Pulls kept failing after pullfix granted reader (an escalation ticket, or verification's still_failing). The ticket names the image and the node account: something besides the role is wrong (an IAM deny policy, VPC Service Controls, the node's scopes)."
    }
    }, { for k, v in {
      grants_near_cap = {
        title     = "pullfix: grants near the hourly cap"
        severity  = "WARNING"
        filter    = local.grants
        aligner   = "ALIGN_DELTA"
        reducer   = "REDUCE_SUM"
        period    = "3600s"
        threshold = local.grant_alert_at - 1
        doc       = "pullfix made at least ${local.grant_alert_at} grants within an hour; at ${var.max_grants_per_hour} (max_grants_per_hour) it files tickets instead. Many grants at once usually mean one cause (a new cluster, a moved repository) better fixed once by hand."
      }
  } : k => v if var.max_grants_per_hour > 0 })
}

resource "google_monitoring_alert_policy" "pullfix" {
  for_each = local.alert_policies

  project               = var.project_id
  display_name          = each.value.title
  combiner              = "OR"
  enabled               = length(var.alert_notification_channels) > 0
  notification_channels = var.alert_notification_channels
  severity              = each.value.severity
  user_labels           = var.labels

  conditions {
    display_name = each.value.title
    condition_threshold {
      filter          = each.value.filter
      comparison      = "COMPARISON_GT"
      threshold_value = each.value.threshold
      duration        = "0s"
      aggregations {
        alignment_period     = each.value.period
        per_series_aligner   = each.value.aligner
        cross_series_reducer = each.value.reducer
        group_by_fields      = try(each.value.group, [])
      }
      denominator_filter = try(each.value.denominator, null)
      dynamic "denominator_aggregations" {
        for_each = try(each.value.denominator, null) == null ? [] : [each.value.period]
        content {
          alignment_period     = denominator_aggregations.value
          per_series_aligner   = each.value.aligner
          cross_series_reducer = each.value.reducer
          group_by_fields      = try(each.value.group, [])
        }
      }
      trigger {
        count = 1
      }
    }
  }

  documentation {
    content   = each.value.doc
    mime_type = "text/markdown"
  }

  depends_on = [google_project_service.required]
}
