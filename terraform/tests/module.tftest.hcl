# Plan-time (and mock-apply) invariants of the module: offline, with mock providers.
# Run from terraform/: `terraform init -backend=false && terraform test`.

mock_provider "google" {}
mock_provider "archive" {}

variables {
  project_id  = "acme-ops"
  read_scopes = ["projects/acme-ops"]
  grant_repositories = [
    { project = "acme-ops", location = "us-central1", repository = "apps" },
  ]
  cluster_projects = ["acme-ops"]
  notify_routes = [
    { namespace = "payments-*", chat = "google", webhook_url_env = "CHAT_PAYMENTS" },
    { chat = "slack", slack_token_env = "SLACK_BOT", slack_channel = "C0123456", tickets = "github", github_repo = "acme/platform", github_token_env = "GITHUB_TOKEN" },
  ]
  notify_secrets = {
    CHAT_PAYMENTS = "pullfix-chat-payments"
    SLACK_BOT     = "pullfix-slack-bot"
    GITHUB_TOKEN  = "pullfix-github-token"
  }
}

# Cloud Run refuses a revision whose service account cannot read a secret it mounts.
run "every_function_reads_every_secret_it_mounts" {
  command = apply

  assert {
    condition = alltrue(flatten([for name, f in google_cloudfunctions2_function.pullfix : concat(
      [for v in f.service_config[0].secret_volumes : contains([
        for m in concat(values(google_secret_manager_secret_iam_member.config_reader), values(google_secret_manager_secret_iam_member.notify_secrets)) :
        m.member if m.secret_id == v.secret && m.role == "roles/secretmanager.secretAccessor"
      ], "serviceAccount:${f.service_config[0].service_account_email}")],
      [for v in f.service_config[0].secret_environment_variables : contains([
        for m in concat(values(google_secret_manager_secret_iam_member.config_reader), values(google_secret_manager_secret_iam_member.notify_secrets)) :
        m.member if m.secret_id == v.secret && m.role == "roles/secretmanager.secretAccessor"
      ], "serviceAccount:${f.service_config[0].service_account_email}")],
    )]))
    error_message = "A function mounts a secret its service account may not read."
  }
  assert {
    condition     = length(flatten([for f in google_cloudfunctions2_function.pullfix : f.service_config[0].secret_volumes])) == 3
    error_message = "Each of the three functions mounts the config file."
  }
  assert {
    condition     = length(google_cloudfunctions2_function.pullfix["notify"].service_config[0].secret_environment_variables) == 3
    error_message = "notify gets each of its three secrets as an environment variable."
  }
}

run "every_api_pullfix_calls_is_enabled" {
  command = plan

  assert {
    condition = alltrue([for api in [
      "artifactregistry", "cloudidentity", "cloudresourcemanager", "compute", "container", "firestore", "iam", "logging",
      "policytroubleshooter", "pubsub",
    ] : contains(keys(google_project_service.required), "${api}.googleapis.com")])
    error_message = "An API pullfix calls is not enabled in the host project."
  }
  assert {
    condition = alltrue([for api in [
      "cloudbuild", "cloudfunctions", "cloudscheduler", "monitoring", "run", "secretmanager", "storage",
    ] : contains(keys(google_project_service.required), "${api}.googleapis.com")])
    error_message = "An API the deployment needs is not enabled."
  }
}

run "every_config_setting_is_reachable" {
  command = plan

  variables {
    dry_run                 = false
    max_grants_per_hour     = 7
    beside_conditions       = true
    grant_expires_after     = "30d"
    dedupe_window           = "1d2h"
    escalation_grace        = "15m"
    followup_grace          = "2m"
    abandon_after           = "2d"
    verify_per_run          = 50
    verify_requests_per_run = 20
    max_event_age           = "12h"
    api_timeout             = "15s"
    lease                   = "3m"
  }

  assert {
    condition = toset(keys(yamldecode(output.config))) == toset([
      "dry_run", "auto_grant", "dedupe_window", "ledger", "notify", "escalation_grace", "followup_grace",
      "abandon_after", "verify_per_run", "verify_requests_per_run", "max_event_age", "api_timeout", "lease",
    ])
    error_message = "The config Terraform writes leaves out a setting."
  }
  assert {
    condition = yamldecode(output.config).auto_grant == {
      repositories           = ["projects/acme-ops/locations/us-central1/repositories/apps"]
      cluster_projects       = ["acme-ops"]
      level                  = "repository"
      max_per_hour           = 7
      beside_conditions      = true
      approval               = "none"
      approval_repositories  = []
      approvers              = []
      approval_expires_after = "1h"
      expires_after          = "30d"
    }
    error_message = "auto_grant is not what the variables say."
  }
  assert {
    condition = [for k in ["dry_run", "dedupe_window", "escalation_grace", "followup_grace", "abandon_after", "verify_per_run", "verify_requests_per_run", "max_event_age", "api_timeout", "lease"] : yamldecode(output.config)[k]] == [
      false, "1d2h", "15m", "2m", "2d", 50, 20, "12h", "15s", "3m",
    ]
    error_message = "A duration or number setting is not what the variables say."
  }
  assert {
    condition = yamldecode(output.config).notify.routes[1] == {
      chat    = "slack", slack_token_env = "SLACK_BOT", slack_channel = "C0123456"
      tickets = "github", github_repo = "acme/platform", github_token_env = "GITHUB_TOKEN"
    }
    error_message = "The Slack Web API route (slack_token_env, slack_channel) does not reach the config."
  }
  assert {
    condition     = yamldecode(output.config).ledger == { firestore = { project = "acme-ops", database = "pullfix-ledger", collection = "pullfix-incidents" } }
    error_message = "The ledger is not the module's Firestore database."
  }
}

run "a_config_file_of_ones_own_passes_through" {
  command = plan

  variables {
    config_yaml = <<-YAML
      dry_run: true
      auto_grant:
        repositories: [projects/acme-ops/locations/us-central1/repositories/apps]
        cluster_projects: ["acme-*"]
      dedupe_window: 2h
      ledger: memory
      notify:
        routes:
          - {chat: google, webhook_url_env: CHAT_PAYMENTS}
    YAML
  }

  assert {
    condition     = yamldecode(output.config).dedupe_window == "2h" && yamldecode(output.config).auto_grant.cluster_projects == ["acme-*"]
    error_message = "config_yaml is not what the functions read."
  }
  assert {
    condition     = yamldecode(output.config).ledger.firestore.database == "pullfix-ledger"
    error_message = "With config_yaml the ledger must still be the module's Firestore database."
  }
}

run "project_level_grants_allow_the_whole_project" {
  command = plan

  variables {
    grant_level = "project"
  }

  assert {
    condition     = yamldecode(output.config).auto_grant.repositories == ["projects/acme-ops/locations/*/repositories/*"]
    error_message = "A project-level grant needs a glob naming the whole project in the allow-list."
  }
  assert {
    condition     = keys(google_project_iam_member.project_granter) == ["acme-ops"] && length(google_artifact_registry_repository_iam_member.granter) == 0
    error_message = "The IAM write must be bound on the grant projects only."
  }
}

run "functions_build_as_their_own_account" {
  command = apply

  assert {
    condition = alltrue([for f in google_cloudfunctions2_function.pullfix :
      f.build_config[0].service_account == google_service_account.build.id &&
      f.build_config[0].docker_repository == google_artifact_registry_repository.functions.id
    ])
    error_message = "Each function must build as the build account, into pullfix's own image repository."
  }
  assert {
    condition = (
      google_project_iam_member.build_log_writer.role == "roles/logging.logWriter" &&
      google_artifact_registry_repository_iam_member.build_writer.role == "roles/artifactregistry.writer" &&
      google_artifact_registry_repository_iam_member.build_writer.repository == google_artifact_registry_repository.functions.repository_id &&
      google_project_iam_member.build_source_reader.role == "roles/storage.objectViewer" &&
      strcontains(google_project_iam_member.build_source_reader.condition[0].expression, google_storage_bucket.source.name)
    )
    error_message = "The build account needs Logs Writer, Artifact Registry Writer on the image repository and Storage Object Viewer on the sources."
  }
}

run "alerts_are_off_without_channels" {
  command = plan

  assert {
    condition     = toset(keys(google_monitoring_alert_policy.pullfix)) == toset(["dead_letter", "function_errors", "troubleshooter_refused", "escalations", "grants_near_cap"])
    error_message = "An alert policy is missing."
  }
  assert {
    condition     = alltrue([for p in google_monitoring_alert_policy.pullfix : !p.enabled])
    error_message = "Without notification channels the alert policies are disabled."
  }
  assert {
    condition     = google_logging_metric.troubleshooter_refused.filter == "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=(\"pullfix-remediate\" OR \"pullfix-notify\" OR \"pullfix-verify\") AND jsonPayload.signal=\"troubleshooter_refused\""
    error_message = "troubleshooter_refused counts the functions' entries whose jsonPayload.signal is troubleshooter_refused."
  }
  assert {
    condition = alltrue([for title in ["Dead-letter backlog", "Function responses 5xx", "Policy Troubleshooter refused", "Escalations", "Grants per hour"] :
    strcontains(google_monitoring_dashboard.pullfix.dashboard_json, title)])
    error_message = "The dashboard shows what the alerts watch."
  }
}

run "alerts_notify_the_channels_given" {
  command = plan

  variables {
    alert_notification_channels = ["projects/acme-ops/notificationChannels/123"]
    max_grants_per_hour         = 10
  }

  assert {
    condition     = alltrue([for p in google_monitoring_alert_policy.pullfix : p.enabled && p.notification_channels == tolist(["projects/acme-ops/notificationChannels/123"])])
    error_message = "With channels every alert policy is on and notifies them."
  }
  assert {
    condition     = google_monitoring_alert_policy.pullfix["grants_near_cap"].conditions[0].condition_threshold[0].threshold_value == 7
    error_message = "The cap alert fires at four fifths of max_grants_per_hour (8 of 10: above 7)."
  }
  assert {
    condition = (
      strcontains(google_monitoring_alert_policy.pullfix["function_errors"].conditions[0].condition_threshold[0].filter, "metric.labels.response_code_class=\"5xx\"") &&
      strcontains(google_monitoring_alert_policy.pullfix["function_errors"].conditions[0].condition_threshold[0].denominator_filter, "run.googleapis.com/request_count") &&
      !strcontains(google_monitoring_alert_policy.pullfix["function_errors"].conditions[0].condition_threshold[0].denominator_filter, "5xx")
    )
    error_message = "The 5xx alert is a ratio: 5xx responses over all requests."
  }
}

run "no_cap_alert_without_grants" {
  command = plan

  variables {
    max_grants_per_hour = 0
  }

  assert {
    condition     = !contains(keys(google_monitoring_alert_policy.pullfix), "grants_near_cap")
    error_message = "With max_grants_per_hour = 0 pullfix never grants: no cap alert."
  }
}

run "outputs_include_verify" {
  command = apply

  assert {
    condition     = toset(keys(output.function_uris)) == toset(["remediate", "notify", "verify"])
    error_message = "function_uris leaves out a function."
  }
  assert {
    condition     = toset(keys(output.service_accounts)) == toset(["remediate", "notify", "verify", "push", "build"])
    error_message = "service_accounts leaves out an account."
  }
}

# The functions read the config when an instance starts: a changed config must be a new revision.
run "a_config_change_is_a_new_revision" {
  command = plan

  variables {
    dedupe_window = "2h"
  }

  assert {
    condition = alltrue([for f in google_cloudfunctions2_function.pullfix :
    f.service_config[0].environment_variables["PULLFIX_CONFIG_SHA256"] == sha256(output.config)])
    error_message = "Each function carries the hash of the config it reads."
  }
}

# Approval in chat: approve is the one public function; it alone reads the Slack signing secret.
run "approve_alone_is_public_and_alone_reads_the_slack_signing_secret" {
  command = apply

  variables {
    approval = {
      approvers            = ["alice@acme.example", "slack:U0123ABCD"]
      slack_signing_secret = "pullfix-slack-signing"
    }
  }

  assert {
    condition     = toset(keys(google_cloudfunctions2_function.pullfix)) == toset(["remediate", "notify", "verify", "approve"])
    error_message = "With approval, the approve function is deployed beside the three."
  }
  assert {
    condition = alltrue([for name, f in google_cloudfunctions2_function.pullfix :
    f.service_config[0].ingress_settings == (name == "approve" ? "ALLOW_ALL" : "ALLOW_INTERNAL_ONLY")])
    error_message = "Only approve may take requests from the internet."
  }
  assert {
    condition = [for m in concat(values(google_cloud_run_v2_service_iam_member.push_invoker), values(google_cloud_run_v2_service_iam_member.approve_public)) :
    m.name if contains(["allUsers", "allAuthenticatedUsers"], m.member)] == [google_cloudfunctions2_function.pullfix["approve"].name]
    error_message = "allUsers may invoke approve, and nothing else."
  }
  assert {
    condition = [for v in google_cloudfunctions2_function.pullfix["approve"].service_config[0].secret_environment_variables : [v.key, v.secret]] == [
      ["PULLFIX_SLACK_SIGNING_SECRET", "pullfix-slack-signing"],
    ]
    error_message = "approve gets the Slack signing secret as PULLFIX_SLACK_SIGNING_SECRET, and no other secret."
  }
  assert {
    condition = alltrue([for name, f in google_cloudfunctions2_function.pullfix : name == "approve" || !contains(
    [for v in f.service_config[0].secret_environment_variables : v.secret], "pullfix-slack-signing")])
    error_message = "Only approve mounts the Slack signing secret."
  }
  assert {
    condition = [for m in values(google_secret_manager_secret_iam_member.approve_secrets) : [m.secret_id, m.member]] == [
      ["pullfix-slack-signing", "serviceAccount:${google_service_account.approve["approve"].email}"],
    ]
    error_message = "Only approve's own account may read the Slack signing secret."
  }
  assert {
    condition = (
      google_cloudfunctions2_function.pullfix["approve"].service_config[0].service_account_email == google_service_account.approve["approve"].email
      && google_service_account.approve["approve"].email != google_service_account.remediate.email
    )
    error_message = "approve runs as its own service account."
  }
  assert {
    condition = (
      [for m in values(google_artifact_registry_repository_iam_member.approve_granter) : [m.repository, m.role]] == [["apps", google_artifact_registry_repository_iam_member.granter["acme-ops/us-central1/apps"].role]]
      && length(google_project_iam_member.approve_ledger) == 1 && length(google_pubsub_topic_iam_member.approve_publisher) == 1
    )
    error_message = "approve's IAM write is remediate's, on the allow-listed repositories only; it has the ledger and the outcomes topic."
  }
  assert {
    condition     = toset(keys(output.service_accounts)) == toset(["remediate", "notify", "verify", "push", "build", "approve"]) && output.approve_url != null
    error_message = "The outputs name approve's account and URL."
  }
  assert {
    condition     = google_cloudfunctions2_function.pullfix["approve"].service_config[0].environment_variables.PULLFIX_CHAT_AUDIENCE != ""
    error_message = "approve knows the Chat app's audience (the project number by default)."
  }
  assert {
    condition = [for k in ["approval", "approvers", "approval_repositories", "approval_expires_after"] : yamldecode(output.config).auto_grant[k]] == [
      "required", ["alice@acme.example", "slack:U0123ABCD"], [], "1h",
    ]
    error_message = "The approval settings do not reach the config."
  }
}

run "without_approval_nothing_is_public" {
  command = apply

  assert {
    condition = (
      !contains(keys(google_cloudfunctions2_function.pullfix), "approve")
      && length(google_cloud_run_v2_service_iam_member.approve_public) == 0
      && alltrue([for f in google_cloudfunctions2_function.pullfix : f.service_config[0].ingress_settings == "ALLOW_INTERNAL_ONLY"])
    )
    error_message = "Without approval no function is public and approve is not deployed."
  }
  assert {
    condition     = yamldecode(output.config).auto_grant.approval == "none" && yamldecode(output.config).auto_grant.approvers == []
    error_message = "Without approval, the config routes no grant to approval."
  }
}

# A route that posts as the Google Chat app (spaces.messages.create with notify's own account):
# the Chat API is enabled in the host project, and no secret is mounted for it.
run "a_chat_app_route_enables_the_chat_api_and_needs_no_secret" {
  command = plan

  variables {
    notify_routes = [
      { namespace = "payments-*", chat = "google", google_chat_space = "spaces/AAAAMpdlehY" },
      { chat = "slack", slack_token_env = "SLACK_BOT", slack_channel = "C0123456" },
    ]
    notify_secrets = { SLACK_BOT = "pullfix-slack-bot" }
  }

  assert {
    condition     = contains(keys(google_project_service.required), "chat.googleapis.com")
    error_message = "A route posts as the Chat app, but the Chat API is not enabled in the host project."
  }
  assert {
    condition     = yamldecode(output.config).notify.routes[0] == { namespace = "payments-*", chat = "google", google_chat_space = "spaces/AAAAMpdlehY" }
    error_message = "The config does not carry the route's Chat space."
  }
  assert {
    condition     = length(google_cloudfunctions2_function.pullfix["notify"].service_config[0].secret_environment_variables) == 1
    error_message = "notify mounts a secret for the Chat app route, which posts with its own credentials."
  }
}

run "webhook_routes_leave_the_chat_api_off" {
  command = plan

  assert {
    condition     = !contains(keys(google_project_service.required), "chat.googleapis.com")
    error_message = "The Chat API is enabled though no route posts as the Chat app."
  }
}
