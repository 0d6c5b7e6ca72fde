"""The classification vocabulary and the actions pullfix takes (docs/causes.md)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["GRANT_FIXABLE", "Action", "Cause"]


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
