"""Access from the allow policies pullfix can read: the honest fallback when the Policy
Troubleshooter is out of reach. Pure.

It reads what IAM would read for downloadArtifacts on a repository (the repository's own
policy, its project's, the project's folders' and organization's), expands every role with
the permissions it includes, and matches the node's service account. What it cannot see it
says so, instead of guessing: members that are groups or principal sets (their membership
is not readable here), roles it could not expand, policies it could not read. A `domain:`
member never holds a service account (see `_OPAQUE`). IAM deny policies and principal access
boundary policies are not read on this path: the evidence of every verdict reached here says
so (`FALLBACK_BLIND`), and a denial that remains after a visible allow is reported as coming
from elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pullfix.core.model import (
    DOWNLOAD_PERMISSION,
    DOWNLOAD_ROLES,
    PUBLIC_MEMBERS,
    AccessState,
    AccessVerdict,
    PolicyView,
)

__all__ = [
    "FALLBACK_BLIND",
    "POLICIES",
    "TROUBLESHOOTER",
    "PolicyRead",
    "carries_download",
    "explain_policies",
    "verdict_from_troubleshooter",
]

POLICIES = "allow policies"
# What the fallback does not read, named beside each of its verdicts: a grant it calls the
# fix may still be blocked by them, and an access it finds may be.
FALLBACK_BLIND = (
    "the allow policies alone: IAM deny policies and principal access boundary policies, "
    "which can block the download whatever the allow policies grant, are not read"
)
# Members whose membership pullfix cannot expand (https://cloud.google.com/iam/docs/principal-
# identifiers). Not `domain:DOMAIN`: that is the principal of a Google Workspace or Cloud
# Identity account, the Google Accounts (users) of the domain. Service accounts are a
# principal type of their own (`serviceAccount:`, and `principalSet://cloudresourcemanager.
# googleapis.com/.../type/ServiceAccount` for those of a project, folder or organization),
# never members of a domain, whatever their address ends with (the same page, and
# https://cloud.google.com/iam/docs/principals-overview). pullfix only asks about service
# accounts, so a binding to a domain never gives the node account access.
_OPAQUE = ("group:", "principalSet:", "principal:")


@dataclass(frozen=True, slots=True)
class PolicyRead:
    """One resource of the chain: its policy, or why it could not be read."""

    resource: str
    policy: PolicyView | None
    error: str | None = None


RolePermissions = Callable[[str], "frozenset[str] | None"]


def carries_download(role: str, permissions_of: RolePermissions) -> bool | None:
    """Whether a role includes downloadArtifacts; None when its permissions are unknown."""
    if role in DOWNLOAD_ROLES:
        return True
    permissions = permissions_of(role)
    return None if permissions is None else DOWNLOAD_PERMISSION in permissions


def explain_policies(
    email: str, chain: Sequence[PolicyRead], permissions_of: RolePermissions
) -> AccessVerdict:
    """The verdict for `serviceAccount:email` over the chain, nearest resource first."""
    member = f"serviceAccount:{email}"
    conditional: list[str] = []
    opaque: list[str] = []
    for read in chain:
        if read.policy is None:
            opaque.append(f"the IAM policy of {read.resource} could not be read ({read.error})")
            continue
        for binding in read.policy.bindings:
            direct = member in binding.members
            public = sorted(binding.members & PUBLIC_MEMBERS)
            hidden = sorted(m for m in binding.members if m.startswith(_OPAQUE))
            if not (direct or public or hidden):
                continue
            carries = carries_download(binding.role, permissions_of)
            if carries is False:
                continue
            where = f"{binding.role} on {read.resource}"
            if carries is None:
                opaque.append(f"{where}: pullfix cannot expand the role's permissions")
                continue
            if direct or public:
                who = member if direct else public[0]
                if binding.condition is None:
                    return AccessVerdict(AccessState.GRANTED, POLICIES, (f"{where} ({who})",))
                conditional.append(f"{where} ({who}) only under condition {binding.condition}")
            else:
                opaque.append(
                    f"{where} held by {', '.join(hidden)}: pullfix cannot tell whether "
                    f"{email} is a member"
                )
    if conditional:
        return AccessVerdict(AccessState.CONDITIONAL, POLICIES, (*conditional, *opaque))
    if opaque:
        return AccessVerdict(AccessState.UNKNOWN, POLICIES, tuple(opaque))
    where = ", ".join(read.resource for read in chain)
    return AccessVerdict(
        AccessState.NOT_GRANTED,
        POLICIES,
        (f"no allow binding gives {email} {DOWNLOAD_PERMISSION} on {where}",),
    )


TROUBLESHOOTER = "Policy Troubleshooter"


def _short(full_name: str) -> str:
    """`//cloudresourcemanager.googleapis.com/folders/1` -> `folders/1`."""
    return full_name.split("/", 3)[-1] if full_name.startswith("//") else full_name


def _condition(binding: Mapping[str, Any]) -> str:
    condition = binding.get("condition") or {}
    title = condition.get("title") or "untitled"
    return f"{title}: {condition.get('expression', '')}"


def verdict_from_troubleshooter(response: object) -> AccessVerdict:
    """Map a TroubleshootIamPolicyResponse, as the REST API answers it (JSON field names,
    enum names), onto pullfix's access states (https://cloud.google.com/policy-intelligence/
    docs/reference/troubleshooter/rest/v3/TroubleshootIamPolicyResponse).

    An answer not of that shape (not an object; a list or a string where the response has
    an object) is one pullfix cannot read: "unknown", which fails closed, rather than an
    exception that would fail the event on every delivery."""
    if not isinstance(response, Mapping):
        return _unreadable(f"it is {type(response).__name__}, not a JSON object")
    try:
        return _verdict(response)
    except (AttributeError, TypeError) as exc:
        return _unreadable(str(exc))


def _unreadable(why: str) -> AccessVerdict:
    return AccessVerdict(
        AccessState.UNKNOWN,
        TROUBLESHOOTER,
        (f"the troubleshooter's answer cannot be read ({why})",),
    )


def _verdict(response: Mapping[str, Any]) -> AccessVerdict:
    boundary = _boundary(response.get("pabPolicyExplanation") or {})
    if not boundary:
        return _iam_verdict(response, response.get("overallAccessState", ""))
    # A boundary refuses whatever the allow policies say: the overall state is then
    # CANNOT_ACCESS, and the allow and deny policies alone say whether a role is missing too.
    allow = (response.get("allowPolicyExplanation") or {}).get("allowAccessState", "")
    deny = (response.get("denyPolicyExplanation") or {}).get("denyAccessState", "")
    iam_alone = {
        ("ALLOW_ACCESS_STATE_GRANTED", "DENY_ACCESS_STATE_NOT_DENIED"): "CAN_ACCESS",
        ("ALLOW_ACCESS_STATE_NOT_GRANTED", "DENY_ACCESS_STATE_NOT_DENIED"): "CANNOT_ACCESS",
    }.get((allow, deny), response.get("overallAccessState", ""))
    found = _iam_verdict(response, iam_alone)
    return AccessVerdict(found.state, found.evaluator, found.via, boundary)


def _boundary(explanation: Mapping[str, Any]) -> tuple[str, ...]:
    """The principal access boundary policies that refuse (or that the troubleshooter cannot
    evaluate), from v3beta's `pabPolicyExplanation` (https://cloud.google.com/policy-
    intelligence/docs/reference/troubleshooter/rest/v3beta/TroubleshootIamPolicyResponse)."""
    state = explanation.get("principalAccessBoundaryAccessState", "")
    if state not in ("PAB_ACCESS_STATE_NOT_ALLOWED", "PAB_ACCESS_STATE_UNKNOWN_INFO"):
        return ()
    named = []
    for item in explanation.get("explainedBindingsAndPolicies") or []:
        if item.get("bindingAndPolicyAccessState") != state:
            continue
        policy = (item.get("explainedPolicy") or {}).get("policy") or {}
        binding = (item.get("explainedPolicyBinding") or {}).get("policyBinding") or {}
        target = (binding.get("target") or {}).get("principalSet", "")
        named.append(
            f"principal access boundary policy {policy.get('name') or '(unnamed)'}"
            + (f" (bound to {target})" if target else "")
        )
    if state == "PAB_ACCESS_STATE_UNKNOWN_INFO":
        return (
            "the troubleshooter cannot tell whether principal access boundary policies allow "
            "the account: " + ("; ".join(named) or "it may not read them"),
        )
    return tuple(named) or ("a principal access boundary policy",)


def _iam_verdict(response: Mapping[str, Any], overall: str) -> AccessVerdict:
    deny = response.get("denyPolicyExplanation") or {}
    allow = response.get("allowPolicyExplanation") or {}
    denied = [
        f"deny policy {policy.get('policy', {}).get('name') or '(unnamed)'} on "
        f"{_short(resource.get('fullResourceName', ''))}"
        for resource in deny.get("explainedResources") or []
        for policy in resource.get("explainedPolicies") or []
        if policy.get("denyAccessState") == "DENY_ACCESS_STATE_DENIED"
    ]
    if deny.get("denyAccessState") == "DENY_ACCESS_STATE_DENIED" or denied:
        return AccessVerdict(
            AccessState.DENIED, TROUBLESHOOTER, tuple(denied) or ("a deny policy",)
        )
    granted: list[str] = []
    conditional: list[str] = []
    unknown: list[str] = []
    for policy in allow.get("explainedPolicies") or []:
        where = _short(policy.get("fullResourceName", ""))
        for binding in policy.get("bindingExplanations") or []:
            state = binding.get("allowAccessState", "")
            role = binding.get("role", "")
            matched = sorted(
                member
                for member, annotated in (binding.get("memberships") or {}).items()
                if annotated.get("membership") == "MEMBERSHIP_MATCHED"
            )
            included = binding.get("rolePermission") == "ROLE_PERMISSION_INCLUDED"
            membership = (binding.get("combinedMembership") or {}).get("membership", "")
            if state == "ALLOW_ACCESS_STATE_GRANTED":
                granted.append(f"{role} on {where} ({', '.join(matched) or 'matched'})")
            elif state == "ALLOW_ACCESS_STATE_UNKNOWN_CONDITIONAL" or (
                included and membership == "MEMBERSHIP_MATCHED" and binding.get("condition")
            ):
                conditional.append(f"{role} on {where} only under condition {_condition(binding)}")
            elif state == "ALLOW_ACCESS_STATE_UNKNOWN_INFO":
                if binding.get("rolePermission") == "ROLE_PERMISSION_UNKNOWN_INFO":
                    unknown.append(f"{role} on {where}: the troubleshooter cannot read the role")
                else:
                    members = sorted(
                        member
                        for member, annotated in (binding.get("memberships") or {}).items()
                        if annotated.get("membership", "").startswith("MEMBERSHIP_UNKNOWN")
                    )
                    unknown.append(
                        f"{role} on {where} held by {', '.join(members) or 'a principal'}: "
                        "the troubleshooter cannot tell whether the account is a member"
                    )
    if overall == "CAN_ACCESS":
        return AccessVerdict(AccessState.GRANTED, TROUBLESHOOTER, tuple(granted))
    if conditional:
        return AccessVerdict(AccessState.CONDITIONAL, TROUBLESHOOTER, (*conditional, *unknown))
    if overall == "CANNOT_ACCESS":
        return AccessVerdict(
            AccessState.NOT_GRANTED,
            TROUBLESHOOTER,
            (f"no allow binding gives the account {DOWNLOAD_PERMISSION}",),
        )
    if granted and deny.get("denyAccessState", "").startswith("DENY_ACCESS_STATE_UNKNOWN"):
        unknown.append("a deny policy may apply: the troubleshooter cannot evaluate it")
    return AccessVerdict(
        AccessState.UNKNOWN,
        TROUBLESHOOTER,
        tuple(unknown) or (f"the troubleshooter's answer is {overall or 'empty'}",),
    )
