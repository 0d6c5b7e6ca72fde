variable "project_id" {
  type        = string
  description = "The host project: functions, topics, the ledger and pullfix's service accounts live here."
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project id (6-30 lowercase letters, digits and hyphens)."
  }
}

variable "region" {
  type        = string
  description = "Region of the functions, the source bucket and the Firestore ledger."
  default     = "us-central1"
  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a Google Cloud region such as us-central1."
  }
}

variable "prefix" {
  type        = string
  description = "Prefix of every resource name pullfix creates."
  default     = "pullfix"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,14}$", var.prefix))
    error_message = "prefix must be 2-15 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "labels" {
  type        = map(string)
  description = "Labels added to every resource that takes labels."
  default     = {}
}

variable "sink_scope" {
  type        = string
  description = "Where the log sink collects pull failures: project, folder or organization."
  default     = "project"
  validation {
    condition     = contains(["project", "folder", "organization"], var.sink_scope)
    error_message = "sink_scope must be project, folder or organization."
  }
}

variable "sink_parent" {
  type        = string
  description = "The sink's parent: a project id (project scope; default: project_id), a folder number or an organization number."
  default     = null
  validation {
    condition     = var.sink_parent == null || can(regex("^([a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]+)$", var.sink_parent))
    error_message = "sink_parent must be a project id, or a folder or organization number."
  }
  validation {
    condition     = var.sink_scope == "project" || can(regex("^[0-9]+$", var.sink_parent))
    error_message = "A folder or organization sink needs sink_parent: the folder or organization number."
  }
}

variable "include_children" {
  type        = bool
  description = "Folder and organization sinks: also collect from every project below."
  default     = true
}

variable "organization_id" {
  type        = string
  description = "Organization number for pullfix's custom roles, so that they can be bound on other projects; null: project-level roles in project_id."
  default     = null
  validation {
    condition     = var.organization_id == null || can(regex("^[0-9]+$", var.organization_id))
    error_message = "organization_id must be an organization number."
  }
  # IAM binds a project-level custom role only in the project that defines it.
  validation {
    condition = var.organization_id != null || alltrue(concat(
      [for s in var.read_scopes : s == "projects/${var.project_id}"],
      [for r in var.grant_repositories : r.project == var.project_id],
    ))
    error_message = "read_scopes or grant_repositories reach beyond project_id: set organization_id, so that pullfix's custom roles are organization roles that can be bound there (project-level custom roles bind only in their own project)."
  }
}

variable "read_scopes" {
  type        = list(string)
  description = "Where pullfix may read clusters, node service accounts, projects and repository policies: projects/P, folders/F or organizations/O."
  validation {
    condition     = alltrue([for s in var.read_scopes : can(regex("^(projects/[a-z][a-z0-9-]{4,28}[a-z0-9]|folders/[0-9]+|organizations/[0-9]+)$", s))])
    error_message = "Each read scope must be projects/PROJECT_ID, folders/NUMBER or organizations/NUMBER."
  }
  validation {
    condition     = length(var.read_scopes) > 0
    error_message = "read_scopes must name at least one project, folder or organization: where the clusters and images are."
  }
}

variable "grant_repositories" {
  type = list(object({
    project    = string
    location   = string
    repository = string
  }))
  description = "The Artifact Registry repositories pullfix may grant roles/artifactregistry.reader on: its allow-list, and the only places its IAM write permission is bound."
  default     = []
  # IAM is bound on each one, so each names one repository: no globs.
  validation {
    condition = alltrue([for r in var.grant_repositories : alltrue([
      can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", r.project)),
      can(regex("^[a-z][a-z0-9-]*[a-z0-9]$", r.location)),
      can(regex("^[a-z][a-z0-9-]{0,61}[a-z0-9]$", r.repository)),
    ])])
    error_message = "Each grant_repositories entry names one repository exactly (a project id, a location such as us-central1 or us, a repository id): no globs, since pullfix's IAM write is bound on each."
  }
}

variable "grant_level" {
  type        = string
  description = "Grant on the repository, or on the repository's project (the IAM write is then bound on those projects)."
  default     = "repository"
  validation {
    condition     = contains(["repository", "project"], var.grant_level)
    error_message = "grant_level must be repository or project."
  }
}

variable "cluster_projects" {
  type        = list(string)
  description = "Globs of the cluster projects whose node service accounts may receive grants (shell-style: *, ?, [...])."
  default     = ["*"]
  validation {
    condition     = length(var.cluster_projects) > 0 && alltrue([for g in var.cluster_projects : can(regex("^[a-z0-9*?!\\[\\]:.-]+$", g))])
    error_message = "cluster_projects must be globs of project ids: lowercase letters, digits, hyphens and the glob characters * ? [ ] (no /, no spaces, none empty)."
  }
}

variable "dry_run" {
  type        = bool
  description = "Only report what pullfix would grant (would_grant); change nothing."
  default     = true
}

variable "max_grants_per_hour" {
  type        = number
  description = "Cap on the grants pullfix makes in an hour; beyond it, tickets."
  default     = 20
  validation {
    condition     = var.max_grants_per_hour >= 0 && var.max_grants_per_hour <= 10000
    error_message = "max_grants_per_hour must be 0-10000."
  }
}

variable "dedupe_window" {
  type        = string
  description = "How long an incident is handled once (e.g. 1h)."
  default     = "1h"
  validation {
    condition     = var.dedupe_window != "" && can(regex("^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$", var.dedupe_window))
    error_message = "dedupe_window must be a duration such as 90s, 10m, 1h, 1d or 1d2h (days, hours, minutes, seconds, in that order)."
  }
}

variable "escalation_grace" {
  type        = string
  description = "After a grant, how long failures may continue before one 'grant did not fix it' ticket."
  default     = "10m"
  validation {
    condition     = var.escalation_grace != "" && can(regex("^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$", var.escalation_grace))
    error_message = "escalation_grace must be a duration such as 90s, 10m, 1h, 1d or 1d2h (days, hours, minutes, seconds, in that order)."
  }
}

variable "notify_routes" {
  type = list(object({
    chat               = string
    webhook_url_env    = optional(string)
    namespace          = optional(string)
    cluster            = optional(string)
    cause              = optional(string)
    repository_project = optional(string)
    tickets            = optional(string)
    github_repo        = optional(string)
    github_token_env   = optional(string)
    slack_token_env    = optional(string)
    slack_channel      = optional(string)
    google_chat_space  = optional(string)
  }))
  description = "Notification routes, first match wins (docs/config.md, \"A route\"). URLs and tokens come from notify_secrets: every *_env a route names must be a key there. Slack by incoming webhook (webhook_url_env) or by the Web API (slack_token_env and slack_channel); Google Chat by incoming webhook (webhook_url_env) or as the Chat app (google_chat_space = \"spaces/ID\": notify's own service account posts through the Chat API, which this module then enables; no secret)."
  default     = []
  validation {
    condition     = alltrue([for r in var.notify_routes : contains(["google", "slack", "webhook"], r.chat)])
    error_message = "Each route's chat must be google, slack or webhook."
  }
  validation {
    condition = alltrue([for r in var.notify_routes : (
      r.google_chat_space != null
      ? r.chat == "google" && r.webhook_url_env == null && r.slack_token_env == null && r.slack_channel == null
      : r.slack_token_env != null || r.slack_channel != null
      ? r.chat == "slack" && r.slack_token_env != null && r.slack_channel != null
      : r.webhook_url_env != null
    )])
    error_message = "Each route needs webhook_url_env, or (chat = \"slack\" only) both slack_token_env and slack_channel for Slack's Web API, or (chat = \"google\" only, without a webhook) google_chat_space for the Chat app."
  }
  validation {
    condition     = alltrue([for r in var.notify_routes : r.google_chat_space == null || can(regex("^spaces/[A-Za-z0-9_-]{1,128}$", r.google_chat_space))])
    error_message = "A route's google_chat_space must be a space's resource name, spaces/ID (the ID from the space's URL)."
  }
  validation {
    condition = alltrue([for r in var.notify_routes : (
      r.tickets == null ? r.github_repo == null && r.github_token_env == null
      : r.tickets == "github" && can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", r.github_repo)) && r.github_token_env != null
    )])
    error_message = "tickets may only be \"github\", and then github_repo (owner/name) and github_token_env are required (and only then)."
  }
  validation {
    condition = alltrue([for r in var.notify_routes : r.cause == null || contains([
      "cross_project", "role", "scope", "version", "service_account", "not_found", "auth_config", "network",
      "rate_limit", "invalid_name", "platform", "pull_policy", "node_disk", "permission", "unverified", "unknown",
      "image_format", "large_image", "pull_qps", "api_disabled", "vpc_sc", "cmek",
      "upstream",
    ], r.cause)])
    error_message = "A route's cause must be one cause word of docs/causes.md (cross_project, role, scope, version, service_account, not_found, auth_config, network, rate_limit, invalid_name, platform, pull_policy, node_disk, permission, unverified, unknown, image_format, large_image, pull_qps, api_disabled, vpc_sc, cmek, upstream)."
  }
  validation {
    condition = alltrue(flatten([for r in var.notify_routes : [
      for v in [r.webhook_url_env, r.github_token_env, r.slack_token_env] : contains(keys(var.notify_secrets), v) if v != null
    ]]))
    error_message = "Every environment variable a route names (webhook_url_env, github_token_env, slack_token_env) must be a key of notify_secrets, which gives it its secret."
  }
  validation {
    condition = alltrue(flatten([for r in var.notify_routes : [
      for v in [r.webhook_url_env, r.namespace, r.cluster, r.cause, r.repository_project, r.tickets, r.github_repo, r.github_token_env, r.slack_token_env, r.slack_channel] : trimspace(v) != "" if v != null
    ]]))
    error_message = "A route's settings, where given, must not be empty."
  }
}

variable "notify_secrets" {
  type        = map(string)
  description = "Environment variable name -> Secret Manager secret id (in project_id) holding a webhook URL or token for notify. The values never pass through Terraform."
  default     = {}
  validation {
    condition     = alltrue([for k, v in var.notify_secrets : can(regex("^[A-Z][A-Z0-9_]*$", k))])
    error_message = "notify_secrets keys must be environment variable names (A-Z, 0-9, _)."
  }
}

variable "max_instances" {
  type        = number
  description = "Maximum instances of each function."
  default     = 10
  validation {
    condition     = var.max_instances >= 1 && var.max_instances <= 100
    error_message = "max_instances must be 1-100."
  }
}

variable "min_instances" {
  type        = number
  description = "Minimum (warm) instances of each function; 0 scales to zero."
  default     = 0
  validation {
    condition     = var.min_instances >= 0 && var.min_instances <= 10
    error_message = "min_instances must be 0-10."
  }
}

variable "max_delivery_attempts" {
  type        = number
  description = "Deliveries of one message before it goes to the dead-letter topic (null: functions/pullfix/subscriptions.json's, 10)."
  default     = null
  validation {
    condition     = var.max_delivery_attempts == null || try(var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100, false)
    error_message = "max_delivery_attempts must be 5-100 (Pub/Sub's range)."
  }
}

variable "ledger" {
  type = object({
    database   = optional(string, "pullfix-ledger")
    collection = optional(string, "pullfix-incidents")
    location   = optional(string, "nam5")
  })
  description = "The Firestore database (created here) and collection of the dedupe ledger."
  default     = {}
}

variable "functions_source_dir" {
  type        = string
  description = "The functions/ directory to deploy; null: the one next to this module."
  default     = null
}

variable "kms_key_name" {
  type        = string
  description = "Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K) to encrypt pullfix's topics with; null: Google-managed encryption."
  default     = null
  validation {
    condition     = var.kms_key_name == null || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.kms_key_name))
    error_message = "kms_key_name must be a Cloud KMS crypto key resource name."
  }
}

variable "verify_schedule" {
  description = "When the verification pass runs (unix-cron, five fields, UTC): it checks that each fix worked and closes the loop."
  type        = string
  default     = "*/10 * * * *"
  validation {
    condition     = can(regex("^[0-9A-Za-z*/,-]+( +[0-9A-Za-z*/,-]+){4}$", trimspace(var.verify_schedule)))
    error_message = "verify_schedule must be a unix-cron schedule of five fields (minute hour day-of-month month day-of-week), such as \"*/10 * * * *\"."
  }
}

variable "abandon_after" {
  description = "Verification closes an incident with neither a failure nor a successful pull for this long as abandoned (a duration of at least 60s, e.g. 1d)."
  type        = string
  default     = "1d"
  validation {
    condition = var.abandon_after != "" && can(regex("^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$", var.abandon_after)) && try(sum([
      for i, n in regex("^(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$", var.abandon_after) :
      tonumber(coalesce(n, "0")) * [86400, 3600, 60, 1][i]
    ]) >= 60, false)
    error_message = "abandon_after must be a duration of at least 60s, such as 1h or 1d."
  }
}

variable "followup_grace" {
  description = "How long a follow-up that gives no reason (Back-off pulling image) waits for the event that does before a grant-fixable incident is ticketed on it (duration)."
  type        = string
  default     = "60s"
  validation {
    condition     = var.followup_grace != "" && can(regex("^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$", var.followup_grace))
    error_message = "followup_grace must be a duration such as 90s, 10m, 1h, 1d or 1d2h (days, hours, minutes, seconds, in that order)."
  }
}

variable "max_event_age" {
  description = "Older events are dropped with a log line (duration)."
  type        = string
  default     = "1d"
  validation {
    condition     = var.max_event_age != "" && can(regex("^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$", var.max_event_age))
    error_message = "max_event_age must be a duration such as 90s, 10m, 1h, 1d or 1d2h (days, hours, minutes, seconds, in that order)."
  }
}

variable "api_timeout" {
  description = "Timeout of each Google API call (duration)."
  type        = string
  default     = "10s"
  validation {
    condition     = var.api_timeout != "" && can(regex("^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$", var.api_timeout))
    error_message = "api_timeout must be a duration such as 90s, 10m, 1h, 1d or 1d2h (days, hours, minutes, seconds, in that order)."
  }
}

variable "lease" {
  description = "How long work under way holds its incident (duration); keep it above remediate's timeout (120s), so that a live lease always belongs to a worker that may still run."
  type        = string
  default     = "150s"
  validation {
    condition     = var.lease != "" && can(regex("^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$", var.lease))
    error_message = "lease must be a duration such as 90s, 10m, 1h, 1d or 1d2h (days, hours, minutes, seconds, in that order)."
  }
}

variable "verify_per_run" {
  description = "Verification checks at most this many incidents per pass (one Cloud Logging query each)."
  type        = number
  default     = 200
  validation {
    condition     = var.verify_per_run >= 1 && var.verify_per_run <= 10000 && floor(var.verify_per_run) == var.verify_per_run
    error_message = "verify_per_run must be a whole number 1-10000."
  }
}

variable "verify_requests_per_run" {
  description = "Verification makes at most this many Cloud Logging entries.list requests per pass (Logging's read quota is 60 a minute per project)."
  type        = number
  default     = 30
  validation {
    condition     = var.verify_requests_per_run >= 1 && var.verify_requests_per_run <= 1000 && floor(var.verify_requests_per_run) == var.verify_requests_per_run
    error_message = "verify_requests_per_run must be a whole number 1-1000."
  }
}

variable "beside_conditions" {
  description = "Whether a grant may go beside a conditional binding the node account already has (auto_grant.beside_conditions); by default such access gets a ticket quoting the condition."
  type        = bool
  default     = false
}

variable "grant_expires_after" {
  description = "Each grant expires this long after it is made (auto_grant.expires_after, a duration of 1h to 365d): a binding of its own under an IAM condition on request.time, titled pullfix-expires-<time>. null: grants are permanent."
  type        = string
  default     = null
  validation {
    condition     = var.grant_expires_after == null ? true : var.grant_expires_after != "" && can(regex("^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$", var.grant_expires_after))
    error_message = "grant_expires_after must be a duration such as 12h, 7d or 30d (days, hours, minutes, seconds, in that order)."
  }
}

variable "approval" {
  description = "Grants that wait for an approver's click in Google Chat or Slack (auto_grant.approval*, docs/config.md; registering the apps: docs/deploy.md). null: every grant the guardrails allow is made alone, and no approve function is deployed. required = true: every grant waits; false: only grants on `repositories` (globs, projects/P/locations/L/repositories/R). approvers: Google Chat users' emails, Slack users as slack:USER_ID, and Google groups as group:EMAIL (their members, checked with Cloud Identity at each click: the approve function's account needs the Groups Reader admin role, docs/permissions.md). expires_after: how long a request can be approved. chat_audience: the Chat app's authentication audience (default: this project's number; or the approve function's URL). slack_signing_secret: the id of the Secret Manager secret (in project_id) holding the Slack app's signing secret, mounted into approve only; null: Slack clicks are refused."
  type = object({
    required             = optional(bool, true)
    repositories         = optional(list(string), [])
    approvers            = list(string)
    expires_after        = optional(string, "1h")
    chat_audience        = optional(string)
    slack_signing_secret = optional(string)
  })
  default = null
  validation {
    condition     = var.approval == null || try(length(var.approval.approvers) > 0 && alltrue([for a in var.approval.approvers : can(regex("^([^@\\s:]+@[^@\\s]+\\.[^@\\s]+|slack:[A-Z0-9]+|group:[^@\\s:]+@[^@\\s]+\\.[^@\\s]+)$", a))]), false)
    error_message = "approval.approvers must name at least one approver, each an email (Google Chat), slack:USER_ID (Slack) or group:EMAIL (the members of a Google group, checked with Cloud Identity at each click)."
  }
  validation {
    condition     = var.approval == null || try(var.approval.required || length(var.approval.repositories) > 0, false)
    error_message = "approval: with required = false, repositories must name the repositories whose grants wait for approval."
  }
  validation {
    condition     = var.approval == null || try(alltrue([for r in var.approval.repositories : can(regex("^projects/[^/]+/locations/[^/]+/repositories/[^/]+$", r))]), false)
    error_message = "approval.repositories must be globs of repository names, projects/P/locations/L/repositories/R."
  }
  validation {
    condition     = var.approval == null || try(can(regex("^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$", var.approval.expires_after)) && var.approval.expires_after != "", false)
    error_message = "approval.expires_after must be a duration like 30m, 1h or 1d."
  }
  validation {
    condition     = var.approval == null || try(var.approval.slack_signing_secret == null || can(regex("^[A-Za-z0-9_-]{1,255}$", var.approval.slack_signing_secret)), false)
    error_message = "approval.slack_signing_secret must be a Secret Manager secret id (letters, digits, _ and -)."
  }
}

variable "config_yaml" {
  description = "A config file of your own (e.g. file(\"pullfix.yaml\"), docs/config.md), used instead of the one built from the variables above; its ledger is always the module's Firestore database. grant_repositories still decides where pullfix's IAM write is bound, and notify_secrets which secrets notify reads. null: built from the variables."
  type        = string
  default     = null
  validation {
    condition     = var.config_yaml == null || can(keys(yamldecode(var.config_yaml)))
    error_message = "config_yaml must be a YAML mapping (the config file)."
  }
  validation {
    condition = var.config_yaml == null || try(length(setsubtract(keys(yamldecode(var.config_yaml)), [
      "dry_run", "auto_grant", "dedupe_window", "ledger", "notify", "escalation_grace", "followup_grace",
      "abandon_after", "verify_per_run", "verify_requests_per_run", "max_event_age", "api_timeout", "lease",
    ])) == 0, false)
    error_message = "config_yaml has a key the config file does not know (see docs/config.md): dry_run, auto_grant, dedupe_window, ledger, notify, escalation_grace, followup_grace, abandon_after, verify_per_run, verify_requests_per_run, max_event_age, api_timeout, lease."
  }
}

variable "alert_notification_channels" {
  description = "Cloud Monitoring notification channels (projects/P/notificationChannels/N) pullfix's alert policies notify; empty: the policies exist but are disabled (the dashboard still shows what they watch)."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for c in var.alert_notification_channels : can(regex("^projects/[^/]+/notificationChannels/[0-9]+$", c))])
    error_message = "Each alert notification channel must be a channel name, projects/PROJECT/notificationChannels/NUMBER."
  }
}

variable "alert_error_ratio" {
  description = "The share of a function's requests answered 5xx, over 10 minutes, above which an alert fires (Pub/Sub redelivers a failed message, so a few are expected)."
  type        = number
  default     = 0.1
  validation {
    condition     = var.alert_error_ratio > 0 && var.alert_error_ratio <= 1
    error_message = "alert_error_ratio must be a fraction above 0 and at most 1."
  }
}

variable "outcomes_bigquery" {
  description = "Opt-in: every outcome (remediate's and verify's) written to a BigQuery table by a Pub/Sub BigQuery subscription on the outcomes topic. dataset: created here unless create_dataset is false (then it must exist, in the host project); table: created here, partitioned by day on publish_time, with the outcome schema (terraform/outcomes_schema.json). null: no BigQuery."
  type = object({
    dataset        = string
    table          = optional(string, "outcomes")
    location       = optional(string, "US")
    create_dataset = optional(bool, true)
  })
  default = null
  validation {
    condition     = var.outcomes_bigquery == null ? true : can(regex("^[A-Za-z0-9_]+$", var.outcomes_bigquery.dataset)) && length(var.outcomes_bigquery.dataset) <= 1024
    error_message = "outcomes_bigquery.dataset must be a dataset id: letters, digits and underscores (at most 1024)."
  }
  validation {
    condition     = var.outcomes_bigquery == null ? true : can(regex("^[A-Za-z0-9_]+$", var.outcomes_bigquery.table)) && length(var.outcomes_bigquery.table) <= 1024
    error_message = "outcomes_bigquery.table must be a table id: letters, digits and underscores (at most 1024)."
  }
}
