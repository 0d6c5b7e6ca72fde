"""What pullfix granted, read back: pure functions over the ledger's incident history, the
granter's audit lines, IAM policies and a Terraform state (`pullfix grants`, verification).

A grant is found in three places, each saying part of it: the incident's outcomes (member,
resource, when, why, the incident, and whether a verification resolved it), the audit line the
granter logged (the same, and the expiry of a grant that expires), and IAM itself (whether the
binding is still there, and until when: the title of pullfix's condition says).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from pullfix.core.intake import parse_timestamp
from pullfix.core.model import PolicyView
from pullfix.core.policy import pullfix_expiry
from pullfix.core.remediation import hcl

__all__ = [
    "audit_filter",
    "grants_from_audit",
    "grants_from_history",
    "matches",
    "merge_grants",
    "pullfix_bindings",
    "terraform_holds",
    "terraform_to_keep",
]


def _time(value: Any) -> datetime | None:
    return parse_timestamp(value) if isinstance(value, str) else None


def grants_from_history(
    histories: Iterable[tuple[str, list[dict[str, Any]]]],
) -> list[dict[str, Any]]:
    """One row per grant outcome of each incident: member, resource, role, granted_at,
    cause, why, incident, expires (when the outcome names pullfix's condition) and
    resolved_at (when a verification of the incident resolved it)."""
    rows = []
    for key, outcomes in histories:
        resolved = next(
            (
                _time((o.get("event") or {}).get("timestamp"))
                for o in outcomes
                if o.get("action") == "resolved"
            ),
            None,
        )
        for outcome in outcomes:
            grant = outcome.get("grant")
            if outcome.get("action") != "grant" or not isinstance(grant, dict):
                continue
            condition = grant.get("condition")
            title = condition.get("title") if isinstance(condition, dict) else None
            expires = pullfix_expiry(str(title or ""))
            rows.append(
                {
                    "member": grant.get("member"),
                    "resource": grant.get("resource"),
                    "role": grant.get("role"),
                    "granted_at": (outcome.get("event") or {}).get("timestamp"),
                    "cause": outcome.get("cause"),
                    "why": list(outcome.get("reasons") or []),
                    "incident": key,
                    "expires": expires.isoformat() if expires else None,
                    "resolved_at": resolved.isoformat() if resolved else None,
                    "source": "ledger",
                }
            )
    return rows


def audit_filter(prefix: str, since: str) -> str:
    """The Cloud Logging query for the audit lines of the grants pullfix made (the granter's
    `pullfix granted …` lines, `jsonPayload.audit.action="grant"`)."""
    return "\n".join(
        (
            'resource.type="cloud_run_revision"',
            f'resource.labels.service_name="{prefix}-remediate"',
            'jsonPayload.audit.action="grant"',
            f'timestamp>="{since}"',
        )
    )


def grants_from_audit(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per audit line of a grant that changed IAM."""
    rows = []
    for entry in entries:
        payload = entry.get("jsonPayload")
        audit = payload.get("audit") if isinstance(payload, dict) else None
        if not isinstance(audit, dict) or audit.get("action") != "grant":
            continue
        if audit.get("changed") is False:
            continue  # already bound: not this grant's doing
        why = audit.get("why")
        rows.append(
            {
                "member": audit.get("member"),
                "resource": audit.get("resource"),
                "role": audit.get("role"),
                "granted_at": entry.get("timestamp"),
                "cause": audit.get("cause"),
                "why": [str(w) for w in why] if isinstance(why, list) else [],
                "incident": None,
                "expires": audit.get("expires"),
                "resolved_at": None,
                "source": "audit log",
            }
        )
    return rows


def merge_grants(*sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of every source, one per (resource, role, member, granted minute): a later
    source fills what an earlier one lacks (the audit log a ledger row's expiry). Oldest
    first."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for rows in sources:
        for row in rows:
            when = str(row.get("granted_at") or "")[:16]
            key = (row.get("resource"), row.get("role"), row.get("member"), when)
            held = merged.get(key)
            if held is None:
                merged[key] = dict(row)
                continue
            for name, value in row.items():
                if held.get(name) in (None, [], "") and value not in (None, [], ""):
                    held[name] = value
            if row["source"] not in held["source"]:
                held["source"] = f"{held['source']}, {row['source']}"
    return sorted(merged.values(), key=lambda r: str(r.get("granted_at") or ""))


def pullfix_bindings(view: PolicyView, role: str, member: str) -> list[str | None]:
    """The bindings of `member` on `role` that may be pullfix's: None for the unconditional
    one, else the title of each condition pullfix wrote (`pullfix-expires-…`)."""
    found: list[str | None] = []
    for binding in view.bindings:
        if binding.role != role or member not in binding.members:
            continue
        if binding.condition is None:
            found.append(None)
            continue
        title = binding.condition.split(": ", 1)[0]
        if pullfix_expiry(title) is not None:
            found.append(title)
    return found


# Terraform resources that may hold a reader binding, by the kind of resource they bind on.
_MEMBER_TYPES = {
    "google_artifact_registry_repository_iam_member": "repository",
    "google_artifact_registry_repository_iam_binding": "repository",
    "google_project_iam_member": "project",
    "google_project_iam_binding": "project",
}
_POLICY_TYPES = {
    "google_artifact_registry_repository_iam_policy": "repository",
    "google_project_iam_policy": "project",
}


def _state_resources(module: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from module.get("resources") or []
    for child in module.get("child_modules") or []:
        if isinstance(child, dict):
            yield from _state_resources(child)


def _same_repository(values: dict[str, Any], resource: str) -> bool:
    """Whether a repository IAM resource's values name `resource` (its `repository` is the
    short name or the full one; `project` and `location` may be given or not)."""
    parts = resource.split("/")
    if len(parts) != 6:
        return False
    project, location, name = parts[1], parts[3], parts[5]
    repository = str(values.get("repository") or "")
    if repository == resource:
        return True
    return (
        repository.rsplit("/", 1)[-1] == name
        and values.get("project") in (None, "", project)
        and values.get("location") in (None, "", location)
    )


def terraform_holds(state: dict[str, Any], resource: str, role: str, member: str) -> bool:
    """Whether a Terraform state (`terraform show -json`) holds `member` on `role` at
    `resource`: an `*_iam_member` or `*_iam_binding` of that role and member, or an
    `*_iam_policy` whose policy binds them, on that repository (or project). A binding
    with a condition of its own is not the unconditional grant, and does not count."""
    root = ((state.get("values") or {}).get("root_module")) or {}
    kind = "project" if resource.count("/") == 1 else "repository"
    for item in _state_resources(root):
        kind_of = _MEMBER_TYPES.get(str(item.get("type"))) or _POLICY_TYPES.get(
            str(item.get("type"))
        )
        values = item.get("values") or {}
        if kind_of != kind or not isinstance(values, dict):
            continue
        if kind == "project" and values.get("project") not in (resource.split("/")[1], resource):
            continue
        if kind == "repository" and not _same_repository(values, resource):
            continue
        if str(item.get("type")) in _POLICY_TYPES:
            try:
                policy = json.loads(str(values.get("policy_data") or "{}"))
            except ValueError:
                continue
            bindings = policy.get("bindings") or [] if isinstance(policy, dict) else []
        else:
            members = values.get("members") or [values.get("member")]
            bindings = [{"role": values.get("role"), "members": members, **_cond(values)}]
        for binding in bindings:
            if (
                isinstance(binding, dict)
                and binding.get("role") == role
                and member in (binding.get("members") or [])
                and not binding.get("condition")
            ):
                return True
    return False


def _cond(values: dict[str, Any]) -> dict[str, Any]:
    condition = values.get("condition")
    return {"condition": condition} if condition else {}


_LABEL = re.compile(r"[^a-z0-9_]")


def terraform_to_keep(resource: str, role: str, member: str) -> str:
    """The Terraform that holds the grant for good (an unconditional `*_iam_member`)."""
    who = member.partition(":")[2].split("@")[0]
    parts = resource.split("/")
    label = _LABEL.sub("_", f"{parts[-1]}_{who}_reader".lower())
    if label[0].isdigit():
        label = f"_{label}"
    if len(parts) == 2:
        return (
            f'resource "google_project_iam_member" "{label}" {{\n'
            f"  project = {hcl(parts[1])}\n"
            f"  role    = {hcl(role)}\n"
            f"  member  = {hcl(member)}\n"
            "}\n"
        )
    return (
        f'resource "google_artifact_registry_repository_iam_member" "{label}" {{\n'
        f"  project    = {hcl(parts[1])}\n"
        f"  location   = {hcl(parts[3])}\n"
        f"  repository = {hcl(parts[5])}\n"
        f"  role       = {hcl(role)}\n"
        f"  member     = {hcl(member)}\n"
        "}\n"
    )


def matches(value: str | None, glob: str | None) -> bool:
    """A filter: no glob matches everything; else the value (or its last path segment)."""
    if glob is None:
        return True
    text = value or ""
    return fnmatch.fnmatchcase(text, glob) or fnmatch.fnmatchcase(text.rsplit("/", 1)[-1], glob)
