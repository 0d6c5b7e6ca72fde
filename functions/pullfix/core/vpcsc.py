"""VPC Service Controls refusals: the identifier a registry's text carries, the policy audit log
query that finds its denial, and the denial read from that log entry.

Pure. A Policy Denied audit log entry (`logName` `projects/P/logs/cloudaudit.googleapis.com%2F
policy`) carries, in `protoPayload.metadata` (`@type:
type.googleapis.com/google.cloud.audit.VpcServiceControlAuditMetadata`), the
`vpcServiceControlsUniqueId` the refused caller saw, the `violationReason`, the perimeter
(`securityPolicyInfo.servicePerimeterName`), `ingressViolations` or `egressViolations` (each
with its `targetResource` and `servicePerimeter`) and `dryRun`; `protoPayload.serviceName` and
`authenticationInfo.principalEmail` say what was refused to whom
(https://cloud.google.com/vpc-service-controls/docs/audit-logging, "Audit log record content").

The identifier comes from event text, which anyone with `logging.logEntries.create` can write:
only a value of the identifier's own alphabet is taken, so that it enters the Logging filter as
a plain string literal, and a denial is named only when the project's own log holds it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "METADATA_TYPE",
    "VpcScDenial",
    "denial_from_entry",
    "policy_log_filter",
    "principal_log_filter",
    "unique_id",
]

METADATA_TYPE = "type.googleapis.com/google.cloud.audit.VpcServiceControlAuditMetadata"
# "Request is prohibited by organization's policy. vpcServiceControlsUniqueIdentifier: ID"
_UNIQUE_ID_RE = re.compile(r"vpcServiceControlsUniqueIdentifier:\s*([A-Za-z0-9_-]{8,128})\b")
_PERIMETER_RE = re.compile(r"accessPolicies/([0-9]+)/servicePerimeters/([A-Za-z0-9_]+)")


@dataclass(frozen=True, slots=True)
class VpcScDenial:
    """One VPC Service Controls denial, as its policy audit log entry records it."""

    unique_id: str
    perimeter: str  # accessPolicies/N/servicePerimeters/NAME ("" when the entry names none)
    reason: str  # violationReason, e.g. NO_MATCHING_ACCESS_LEVEL
    service: str  # protoPayload.serviceName
    principal: str  # authenticationInfo.principalEmail
    direction: str  # "ingress" or "egress": which rule would allow the call
    target: str  # the violation's targetResource (projects/NUMBER), "" when absent
    dry_run: bool = False  # a dry-run perimeter logs but does not block

    @property
    def policy_and_name(self) -> tuple[str, str] | None:
        """The access policy's number and the perimeter's short name."""
        match = _PERIMETER_RE.fullmatch(self.perimeter)
        return (match.group(1), match.group(2)) if match else None


def unique_id(message: str) -> str | None:
    """The `vpcServiceControlsUniqueIdentifier` a refusal's text carries, if any."""
    match = _UNIQUE_ID_RE.search(message)
    return match.group(1) if match else None


def policy_log_filter(project: str, identifier: str) -> str:
    """The Logging query for the project's policy audit log entry of that identifier. The
    identifier has `unique_id`'s alphabet (no quote, no backslash): a plain literal."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{8,128}", identifier):
        raise ValueError(f"not a VPC Service Controls identifier: {identifier!r}")
    return (
        f'logName="projects/{project}/logs/cloudaudit.googleapis.com%2Fpolicy" AND '
        'protoPayload.serviceName="artifactregistry.googleapis.com" AND '
        f'protoPayload.metadata.vpcServiceControlsUniqueId="{identifier}"'
    )


# A service account's email as IAM answers it (never text from an event).
_EMAIL_RE = re.compile(r"[a-z0-9][a-z0-9.\-_]{0,99}@[a-z0-9][a-z0-9.\-]{0,99}")
_TIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z")


def principal_log_filter(project: str, principal: str, start: str, end: str) -> str:
    """The Logging query for the project's policy audit log entries refusing `principal` on
    Artifact Registry between `start` and `end` (RFC 3339, UTC): where a refusal's text
    carries no identifier (containerd prints only `403 Forbidden`), the verified node account
    and the event's time find the denial. Every value has a plain literal's alphabet."""
    if not _EMAIL_RE.fullmatch(principal):
        raise ValueError(f"not a service account email: {principal!r}")
    if not (_TIME_RE.fullmatch(start) and _TIME_RE.fullmatch(end)):
        raise ValueError(f"not RFC 3339 UTC times: {start!r}, {end!r}")
    return (
        f'logName="projects/{project}/logs/cloudaudit.googleapis.com%2Fpolicy" AND '
        'protoPayload.serviceName="artifactregistry.googleapis.com" AND '
        f'protoPayload.authenticationInfo.principalEmail="{principal}" AND '
        f'timestamp>="{start}" AND timestamp<="{end}"'
    )


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def denial_from_entry(entry: Mapping[str, Any]) -> VpcScDenial | None:
    """The denial a policy audit log entry records; None for any other entry."""
    payload = entry.get("protoPayload")
    metadata = _get(payload, "metadata")
    if not isinstance(metadata, Mapping) or metadata.get("@type") != METADATA_TYPE:
        return None
    egress = metadata.get("egressViolations") or []
    ingress = metadata.get("ingressViolations") or []
    violations = egress if egress else ingress
    first = violations[0] if isinstance(violations, list) and violations else {}
    perimeter = _get(metadata, "securityPolicyInfo", "servicePerimeterName") or _get(
        first, "servicePerimeter"
    )
    return VpcScDenial(
        unique_id=str(metadata.get("vpcServiceControlsUniqueId") or ""),
        perimeter=str(perimeter or ""),
        reason=str(metadata.get("violationReason") or ""),
        service=str(_get(payload, "serviceName") or ""),
        principal=str(_get(payload, "authenticationInfo", "principalEmail") or ""),
        direction="egress" if egress else "ingress",
        target=str(_get(first, "targetResource") or ""),
        dry_run=metadata.get("dryRun") is True,
    )
