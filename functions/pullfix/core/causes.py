"""The classification vocabulary and the actions pullfix takes (docs/causes.md)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["GRANT_FIXABLE", "GRANT_NEVER_FIXES", "Action", "Cause"]


class Cause(StrEnum):
    """Why an image pull failed."""

    CROSS_PROJECT = "cross_project"
    ROLE = "role"
    SCOPE = "scope"
    VERSION = "version"
    SERVICE_ACCOUNT = "service_account"
    NOT_FOUND = "not_found"
    AUTH_CONFIG = "auth_config"
    NETWORK = "network"
    RATE_LIMIT = "rate_limit"
    INVALID_NAME = "invalid_name"
    PLATFORM = "platform"
    PULL_POLICY = "pull_policy"
    NODE_DISK = "node_disk"
    PERMISSION = "permission"
    UNVERIFIED = "unverified"
    UNKNOWN = "unknown"
    NOT_A_PULL_FAILURE = "not_a_pull_failure"
    # The node's runtime refuses the image's manifest format (containerd 2 and Docker schema 1).
    IMAGE_FORMAT = "image_format"
    # The pull of a large image was cancelled before it finished (`context canceled`).
    LARGE_IMAGE = "large_image"
    # kubelet's own pull rate limiter refused the pull (`pull QPS exceeded`).
    PULL_QPS = "pull_qps"
    # The Artifact Registry API is disabled in the repository's project (Service Usage).
    API_DISABLED = "api_disabled"
    # A VPC Service Controls perimeter refused the pull (the project's policy audit log).
    VPC_SC = "vpc_sc"
    # The repository's customer-managed key cannot be used: its primary version is not
    # enabled, or Artifact Registry's service agent may not use it (Cloud KMS).
    CMEK = "cmek"
    # A remote repository cannot authenticate to its upstream (its password's secret version
    # is not enabled, or Artifact Registry's service agent may not access the secret), or a
    # virtual repository's service agent may not read one of its upstream repositories.
    UPSTREAM = "upstream"


class Action(StrEnum):
    """What pullfix did about a diagnosis."""

    GRANT = "grant"
    WOULD_GRANT = "would_grant"
    TICKET = "ticket"
    SUPPRESSED = "suppressed"
    IGNORED = "ignored"
    # The grant waits for an approver's click in chat (pullfix.engine.approval).
    APPROVAL_REQUESTED = "approval_requested"
    # Verification of an incident pullfix acted on (pullfix.engine.verify).
    RESOLVED = "resolved"
    STILL_FAILING = "still_failing"
    ABANDONED = "abandoned"


# The only causes a reader grant on the repository fixes.
GRANT_FIXABLE = frozenset({Cause.CROSS_PROJECT, Cause.ROLE})

# Refusals a reader grant cannot fix, named before any grant. Beside one, the node account's
# access is still evaluated, so that a ticket also names a missing reader role.
GRANT_NEVER_FIXES = frozenset({Cause.API_DISABLED, Cause.VPC_SC, Cause.CMEK, Cause.UPSTREAM})
