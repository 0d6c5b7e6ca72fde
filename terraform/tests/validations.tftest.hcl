# The module's input validations refuse what the functions would refuse (or what would fail
# only at apply): each run plans with one bad input and expects exactly that variable to fail.

mock_provider "google" {}
mock_provider "archive" {}

variables {
  project_id  = "acme-ops"
  read_scopes = ["projects/acme-ops"]
  notify_routes = [
    { chat = "slack", webhook_url_env = "SLACK_PLATFORM" },
  ]
  notify_secrets = {
    SLACK_PLATFORM = "pullfix-slack-platform"
  }
}

# Durations: the config's forms (90s, 10m, 1h, 1d, 1d2h), nothing else.
run "durations_in_every_form_the_config_takes" {
  command = plan
  variables {
    dedupe_window    = "1d2h"
    escalation_grace = "90s"
    followup_grace   = "1m30s"
    abandon_after    = "60s"
    max_event_age    = "2d"
    api_timeout      = "5s"
    lease            = "2h"
  }
}

run "dedupe_window_not_a_duration" {
  command = plan
  variables {
    dedupe_window = "1 hour"
  }
  expect_failures = [var.dedupe_window]
}

run "escalation_grace_in_the_wrong_order" {
  command = plan
  variables {
    escalation_grace = "10m1h"
  }
  expect_failures = [var.escalation_grace]
}

run "lease_without_a_unit" {
  command = plan
  variables {
    lease = "150"
  }
  expect_failures = [var.lease]
}

run "followup_grace_empty" {
  command = plan
  variables {
    followup_grace = ""
  }
  expect_failures = [var.followup_grace]
}

run "max_event_age_and_api_timeout_not_durations" {
  command = plan
  variables {
    max_event_age = "-1d"
    api_timeout   = "10 s"
  }
  expect_failures = [var.max_event_age, var.api_timeout]
}

run "abandon_after_below_a_minute" {
  command = plan
  variables {
    abandon_after = "59s"
  }
  expect_failures = [var.abandon_after]
}

run "abandon_after_not_a_duration" {
  command = plan
  variables {
    abandon_after = "soon"
  }
  expect_failures = [var.abandon_after]
}

run "verify_schedule_not_cron" {
  command = plan
  variables {
    verify_schedule = "every 10 minutes"
  }
  expect_failures = [var.verify_schedule]
}

run "verify_schedule_with_six_fields" {
  command = plan
  variables {
    verify_schedule = "0 */10 * * * *"
  }
  expect_failures = [var.verify_schedule]
}

run "verify_per_run_out_of_range" {
  command = plan
  variables {
    verify_per_run = 0
  }
  expect_failures = [var.verify_per_run]
}

run "verify_requests_per_run_out_of_range" {
  command = plan
  variables {
    verify_requests_per_run = 1001
  }
  expect_failures = [var.verify_requests_per_run]
}

# Globs.
run "cluster_project_glob_with_a_slash" {
  command = plan
  variables {
    cluster_projects = ["projects/acme-*"]
  }
  expect_failures = [var.cluster_projects]
}

run "cluster_projects_empty_glob" {
  command = plan
  variables {
    cluster_projects = [""]
  }
  expect_failures = [var.cluster_projects]
}

run "grant_repository_glob" {
  command = plan
  variables {
    grant_repositories = [{ project = "acme-ops", location = "us-central1", repository = "*" }]
  }
  expect_failures = [var.grant_repositories]
}

# Scopes.
run "read_scope_malformed" {
  command = plan
  variables {
    read_scopes = ["project/acme-ops"]
  }
  expect_failures = [var.read_scopes]
}

run "read_scopes_empty" {
  command = plan
  variables {
    read_scopes = []
  }
  expect_failures = [var.read_scopes]
}

run "folder_sink_without_a_folder" {
  command = plan
  variables {
    sink_scope = "folder"
  }
  expect_failures = [var.sink_parent]
}

run "sink_scope_unknown" {
  command = plan
  variables {
    sink_scope = "billing"
  }
  expect_failures = [var.sink_scope]
}

run "scopes_beyond_the_host_project_need_an_organization" {
  command = plan
  variables {
    read_scopes = ["folders/123456"]
  }
  expect_failures = [var.organization_id]
}

# Routes.
run "route_chat_unknown" {
  command = plan
  variables {
    notify_routes = [{ chat = "teams", webhook_url_env = "SLACK_PLATFORM" }]
  }
  expect_failures = [var.notify_routes]
}

run "route_without_a_destination" {
  command = plan
  variables {
    notify_routes = [{ chat = "google" }]
  }
  expect_failures = [var.notify_routes]
}

run "slack_token_without_a_channel" {
  command = plan
  variables {
    notify_routes  = [{ chat = "slack", slack_token_env = "SLACK_BOT" }]
    notify_secrets = { SLACK_BOT = "pullfix-slack-bot" }
  }
  expect_failures = [var.notify_routes]
}

run "slack_web_api_on_a_google_chat_route" {
  command = plan
  variables {
    notify_routes  = [{ chat = "google", slack_token_env = "SLACK_BOT", slack_channel = "C0123456" }]
    notify_secrets = { SLACK_BOT = "pullfix-slack-bot" }
  }
  expect_failures = [var.notify_routes]
}

run "chat_space_not_a_resource_name" {
  command = plan
  variables {
    notify_routes = [{ chat = "google", google_chat_space = "https://mail.google.com/chat/u/0/#chat/space/AAAA" }]
  }
  expect_failures = [var.notify_routes]
}

run "chat_space_beside_a_webhook" {
  command = plan
  variables {
    notify_routes = [{ chat = "google", google_chat_space = "spaces/AAAA", webhook_url_env = "SLACK_PLATFORM" }]
  }
  expect_failures = [var.notify_routes]
}

run "chat_space_on_a_slack_route" {
  command = plan
  variables {
    notify_routes = [{ chat = "slack", google_chat_space = "spaces/AAAA" }]
  }
  expect_failures = [var.notify_routes]
}

run "github_tickets_without_a_repository" {
  command = plan
  variables {
    notify_routes  = [{ chat = "slack", webhook_url_env = "SLACK_PLATFORM", tickets = "github", github_token_env = "GITHUB_TOKEN" }]
    notify_secrets = { SLACK_PLATFORM = "pullfix-slack-platform", GITHUB_TOKEN = "pullfix-github-token" }
  }
  expect_failures = [var.notify_routes]
}

run "route_cause_unknown" {
  command = plan
  variables {
    notify_routes = [{ chat = "slack", webhook_url_env = "SLACK_PLATFORM", cause = "forbidden" }]
  }
  expect_failures = [var.notify_routes]
}

run "route_variable_without_a_secret" {
  command = plan
  variables {
    notify_routes = [{ chat = "slack", webhook_url_env = "SLACK_ELSEWHERE" }]
  }
  expect_failures = [var.notify_routes]
}

run "config_yaml_with_an_unknown_key" {
  command = plan
  variables {
    config_yaml = "dry_run: true\ndedupe_windw: 1h\n"
  }
  expect_failures = [var.config_yaml]
}

run "config_yaml_not_a_mapping" {
  command = plan
  variables {
    config_yaml = "- dry_run\n"
  }
  expect_failures = [var.config_yaml]
}

run "alert_channel_malformed" {
  command = plan
  variables {
    alert_notification_channels = ["ops@example.com"]
  }
  expect_failures = [var.alert_notification_channels]
}

run "grant_level_unknown" {
  command = plan
  variables {
    grant_level = "folder"
  }
  expect_failures = [var.grant_level]
}

run "notify_secret_not_an_environment_variable" {
  command = plan
  variables {
    notify_routes  = []
    notify_secrets = { "slack-url" = "pullfix-slack-platform" }
  }
  expect_failures = [var.notify_secrets]
}

run "grant_expires_after_not_a_duration" {
  command = plan

  variables {
    grant_expires_after = "a week"
  }

  expect_failures = [var.grant_expires_after]
}

# Approval: approvers the config accepts, and repositories when not every grant waits.
run "approval_with_no_approver" {
  command = plan
  variables {
    approval = { approvers = [] }
  }
  expect_failures = [var.approval]
}

run "approval_with_an_approver_that_is_neither_email_nor_slack_id" {
  command = plan
  variables {
    approval = { approvers = ["alice"] }
  }
  expect_failures = [var.approval]
}

run "approval_with_a_group_that_is_no_email" {
  command = plan
  variables {
    approval = { approvers = ["group:sre"] }
  }
  expect_failures = [var.approval]
}

run "approval_not_required_without_repositories" {
  command = plan
  variables {
    approval = { required = false, approvers = ["alice@acme.example"] }
  }
  expect_failures = [var.approval]
}

run "approval_repositories_not_repository_globs" {
  command = plan
  variables {
    approval = { required = false, repositories = ["apps"], approvers = ["alice@acme.example"] }
  }
  expect_failures = [var.approval]
}

run "approval_expiry_not_a_duration" {
  command = plan
  variables {
    approval = { approvers = ["alice@acme.example"], expires_after = "an hour" }
  }
  expect_failures = [var.approval]
}

run "approval_signing_secret_not_a_secret_id" {
  command = plan
  variables {
    approval = { approvers = ["alice@acme.example"], slack_signing_secret = "projects/p/secrets/s" }
  }
  expect_failures = [var.approval]
}

run "approval_only_on_some_repositories" {
  command = plan
  variables {
    approval = {
      required     = false
      repositories = ["projects/acme-ops/locations/*/repositories/apps"]
      approvers    = ["alice@acme.example", "slack:U0123ABCD"]
    }
  }
}
