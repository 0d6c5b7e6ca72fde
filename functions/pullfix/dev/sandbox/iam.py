"""IAM policy semantics as Google documents them: versions, conditions, etags.

- A policy with conditional bindings is version 3; reading it at version 1 removes the
  conditions and suffixes those bindings' roles with `_withcond_<hash>` ("Policy versions",
  https://cloud.google.com/iam/docs/policies#versions; "Role names with withcond",
  https://cloud.google.com/iam/docs/troubleshooting-withcond). Requested version 3 of a
  policy without conditions answers version 1 (GetPolicyOptions.requestedPolicyVersion).
- A conditional binding is a binding entry of its own: the same role may appear once without
  a condition and once under each condition ("Conditions overview",
  https://cloud.google.com/iam/docs/conditions-overview).
- Writing checks the etag: a stale one is 409 ABORTED, "There were concurrent policy changes".
- "Any operation that affects conditional role bindings must specify version 3": a version-1
  write cannot carry conditions, nor (with the etag it was read with) replace a policy that
  has them. Without an etag, "IAM allows you to overwrite a version 3 policy with a version 1
  policy, and all of the conditions in the version 3 policy are lost" (Policy.version,
  https://cloud.google.com/iam/docs/reference/rest/v1/Policy).
"""

from __future__ import annotations

import hashlib
from typing import Any

from pullfix.dev.sandbox.errors import ApiError
from pullfix.dev.sandbox.world import _MEMBER_RE, _ROLE_RE, Binding, Policy, World

__all__ = ["policy_json", "set_policy"]

VALID_VERSIONS = (0, 1, 3)


def _condition_hash(binding: Binding) -> str:
    text = repr(sorted((binding.condition or {}).items()))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def policy_json(policy: Policy, requested_version: int) -> dict[str, Any]:
    """The policy as getIamPolicy returns it for a requested version."""
    if requested_version not in VALID_VERSIONS:
        raise ApiError(
            400, f"Invalid requested policy version {requested_version}: must be 0, 1 or 3"
        )
    version3 = requested_version == 3 and policy.has_conditions
    bindings = []
    for binding in policy.bindings:
        if binding.condition is not None and not version3:
            role = f"{binding.role}_withcond_{_condition_hash(binding)}"
            bindings.append({"role": role, "members": list(binding.members)})
        else:
            bindings.append(binding.to_dict())
    out: dict[str, Any] = {"version": 3 if version3 else 1, "etag": policy.etag}
    if bindings:
        out["bindings"] = bindings
    return out


def set_policy(policy: Policy, request: Any, world: World) -> dict[str, Any]:
    """Apply a setIamPolicy request body to `policy` in place; return the stored policy."""
    if not isinstance(request, dict) or not isinstance(request.get("policy"), dict):
        raise ApiError(400, "Invalid JSON payload: 'policy' is required")
    new = request["policy"]
    etag = new.get("etag")
    if etag and etag != policy.etag:
        raise ApiError(
            409,
            "There were concurrent policy changes. Please retry the whole read-modify-write "
            "with exponential backoff. The request's ETag "
            f"'{etag}' did not match the current policy's ETag '{policy.etag}'.",
        )
    version = new.get("version", 1) or 1
    if version not in (1, 3):
        raise ApiError(400, f"Invalid policy version {version}: must be 1 or 3")
    bindings = _parse_bindings(new.get("bindings", []), world)
    has_conditions = any(b.condition is not None for b in bindings)
    if has_conditions and version < 3:
        raise ApiError(
            400,
            "Policy version 3 is required for conditional role bindings (set policy.version to 3)",
        )
    if policy.has_conditions and version < 3 and etag:
        raise ApiError(
            400,
            "The policy has conditional role bindings: it can only be replaced "
            "by a version 3 policy read with requestedPolicyVersion 3",
        )
    policy.bindings = bindings
    policy.revision += 1
    return policy_json(policy, 3)


def _parse_bindings(value: Any, world: World) -> list[Binding]:
    if not isinstance(value, list):
        raise ApiError(400, "policy.bindings must be a list")
    merged: dict[tuple[str, str], Binding] = {}
    for index, item in enumerate(value):
        where = f"policy.bindings[{index}]"
        if not isinstance(item, dict):
            raise ApiError(400, f"{where} must be an object")
        role = item.get("role")
        if not isinstance(role, str) or "_withcond_" in role or not _ROLE_RE.fullmatch(role):
            raise ApiError(400, f"{where}.role: {role!r} is not a role that can be granted")
        members = item.get("members") or []
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise ApiError(400, f"{where}.members must be a list of strings")
        for member in members:
            if not _MEMBER_RE.fullmatch(member):
                raise ApiError(400, f"Invalid principal: {member}")
            email = member.partition(":")[2]
            if (
                member.startswith("serviceAccount:")
                and world.owns_service_account(email)
                and world.service_account(email) is None
            ):
                raise ApiError(400, f"Service account {email} does not exist.")
        condition = item.get("condition")
        if condition is not None and (
            not isinstance(condition, dict) or not condition.get("expression")
        ):
            raise ApiError(400, f"{where}.condition needs an expression")
        key = (role, repr(sorted(condition.items())) if condition else "")
        binding = merged.setdefault(
            key,
            Binding(
                role=role,
                members=[],
                condition=({k: str(v) for k, v in condition.items()} if condition else None),
            ),
        )
        for member in members:
            if member not in binding.members:
                binding.members.append(member)
    return [b for b in merged.values() if b.members]
