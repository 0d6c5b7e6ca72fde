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
}

variable "grant_repositories" {
  type = list(object({
    project    = string
    location   = string
    repository = string
  }))
  description = "The Artifact Registry repositories pullfix may grant roles/artifactregistry.reader on: its allow-list, and the only places its IAM write permission is bound."
  default     = []
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
  description = "Globs of the cluster projects whose node service accounts may receive grants."
  default     = ["*"]
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
    condition     = can(regex("^[0-9]+[smhd]$", var.dedupe_window))
    error_message = "dedupe_window must be a duration such as 90s, 10m, 1h or 1d."
  }
}

variable "escalation_grace" {
  type        = string
  description = "After a grant, how long failures may continue before one 'grant did not fix it' ticket."
  default     = "10m"
  validation {
    condition     = can(regex("^[0-9]+[smhd]$", var.escalation_grace))
    error_message = "escalation_grace must be a duration such as 90s, 10m, 1h or 1d."
  }
}

variable "notify_routes" {
  type = list(object({
    chat               = string
    webhook_url_env    = string
    namespace          = optional(string)
    cluster            = optional(string)
    cause              = optional(string)
    repository_project = optional(string)
    tickets            = optional(string)
    github_repo        = optional(string)
    github_token_env   = optional(string)
  }))
  description = "Notification routes, first match wins (see the README). URLs and tokens come from notify_secrets."
  default     = []
  validation {
    condition     = alltrue([for r in var.notify_routes : contains(["google", "slack", "webhook"], r.chat)])
    error_message = "Each route's chat must be google, slack or webhook."
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
  description = "Deliveries of one message before it goes to the dead-letter topic."
  default     = 10
  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
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
  description = "When the verification pass runs (cron, UTC): it checks that each fix worked and closes the loop."
  type        = string
  default     = "*/10 * * * *"
}

variable "abandon_after" {
  description = "Verification closes an incident with neither a failure nor a successful pull for this long as abandoned (pullfix duration, e.g. 1d)."
  type        = string
  default     = "1d"
}
