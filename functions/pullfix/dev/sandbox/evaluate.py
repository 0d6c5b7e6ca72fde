"""IAM access evaluation as Google's Policy Troubleshooter (IAM v3) reports it.

Allow policies on the repository, its project, the project's folders and the organization;
roles expanded to permissions (predefined from `roles.py`, custom from the world); members
matched directly and through groups (nested), never through domains (a service account is
in none); conditions evaluated on
`request.time` and `resource.name`/`type`/`service`; IAM deny policies (iam v2 deny rules)
on the project, folders and organization, whose denials win over any allow
(https://cloud.google.com/iam/docs/deny-overview#policy-eval). The response follows
`TroubleshootIamPolicyResponse` of policytroubleshooter v3.

A group absent from the world's `groups` is one the caller cannot expand: its membership
is MEMBERSHIP_UNKNOWN_INFO, as Google answers for a group the caller may not read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pullfix.dev.sandbox.errors import ApiError
from pullfix.dev.sandbox.iam import policy_json
from pullfix.dev.sandbox.roles import predefined_permissions
from pullfix.dev.sandbox.world import Binding, DenyRule, Policy, Project, World

__all__ = ["ConditionError", "evaluate_condition", "troubleshoot"]

GRANTED, NOT_GRANTED = "ALLOW_ACCESS_STATE_GRANTED", "ALLOW_ACCESS_STATE_NOT_GRANTED"
UNKNOWN_CONDITIONAL = "ALLOW_ACCESS_STATE_UNKNOWN_CONDITIONAL"
UNKNOWN_INFO = "ALLOW_ACCESS_STATE_UNKNOWN_INFO"
MATCHED, NOT_MATCHED = "MEMBERSHIP_MATCHED", "MEMBERSHIP_NOT_MATCHED"
MEMBERSHIP_UNKNOWN = "MEMBERSHIP_UNKNOWN_INFO"
UNSUPPORTED = "MEMBERSHIP_UNKNOWN_UNSUPPORTED"
HIGH, NORMAL = "HEURISTIC_RELEVANCE_HIGH", "HEURISTIC_RELEVANCE_NORMAL"
_AR = "//artifactregistry.googleapis.com/"
_CRM = "//cloudresourcemanager.googleapis.com/"


# -- conditions (a CEL subset) --------------------------------------------------------------


class ConditionError(ValueError):
    """An expression outside the subset the sandbox evaluates."""


_TOKEN_RE = re.compile(
    r"\s*(?:(?P<string>\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')|(?P<op>&&|\|\||==|!=|<=|>=|[<>!().,])"
    r"|(?P<ident>[A-Za-z_][A-Za-z0-9_]*))"
)
_ATTRIBUTES = ("request.time", "resource.name", "resource.type", "resource.service")


def _tokens(expression: str) -> list[tuple[str, str]]:
    out, at = [], 0
    text = expression.strip()
    while at < len(text):
        match = _TOKEN_RE.match(text, at)
        if match is None or match.end() == at:
            raise ConditionError(f"cannot read the condition at {text[at : at + 20]!r}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        out.append((kind, value[1:-1] if kind == "string" else value))
        at = match.end()
    return out


class _Parser:
    """Three-valued: True, False, or None (an attribute the context does not give)."""

    def __init__(self, expression: str, context: dict[str, Any]) -> None:
        self.tokens = _tokens(expression)
        self.at = 0
        self.context = context

    def peek(self) -> str | None:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.at >= len(self.tokens):
            raise ConditionError("the condition ends too early")
        token = self.tokens[self.at]
        if expected is not None and token[1] != expected:
            raise ConditionError(f"expected {expected!r}, got {token[1]!r}")
        self.at += 1
        return token

    def parse(self) -> bool | None:
        value = self.disjunction()
        if self.at != len(self.tokens):
            raise ConditionError(f"unexpected {self.peek()!r}")
        return value

    def disjunction(self) -> bool | None:
        value = self.conjunction()
        while self.peek() == "||":
            self.take()
            right = self.conjunction()
            value = (
                True
                if value is True or right is True
                else (None if None in (value, right) else False)
            )
        return value

    def conjunction(self) -> bool | None:
        value = self.unary()
        while self.peek() == "&&":
            self.take()
            right = self.unary()
            value = (
                False
                if value is False or right is False
                else (None if None in (value, right) else True)
            )
        return value

    def unary(self) -> bool | None:
        if self.peek() == "!":
            self.take()
            inner = self.unary()
            return None if inner is None else not inner
        if self.peek() == "(":
            self.take()
            value = self.disjunction()
            self.take(")")
            return value
        return self.predicate()

    def operand(self) -> Any:
        kind, value = self.take()
        if kind == "string":
            return value
        if kind != "ident":
            raise ConditionError(f"unexpected {value!r}")
        if value == "timestamp":
            self.take("(")
            kind, text = self.take()
            self.take(")")
            if kind != "string":
                raise ConditionError("timestamp() takes a string")
            try:
                return datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError as exc:
                raise ConditionError(f"bad timestamp {text!r}") from exc
        if value in ("true", "false"):
            return value == "true"
        name = value
        while self.peek() == "." and self.at + 1 < len(self.tokens):
            following = self.tokens[self.at + 1][1]
            if f"{name}.{following}" not in _ATTRIBUTES and name in ("request", "resource"):
                raise ConditionError(f"the sandbox does not evaluate {name}.{following}")
            if name not in ("request", "resource"):
                break
            self.take(".")
            name = f"{name}.{self.take()[1]}"
        if name not in _ATTRIBUTES:
            raise ConditionError(f"the sandbox does not evaluate {name}")
        return _Attribute(name, self.context.get(name))

    def predicate(self) -> bool | None:
        left = self.operand()
        if self.peek() == ".":
            self.take(".")
            method = self.take()[1]
            self.take("(")
            argument = self.operand()
            self.take(")")
            if method not in ("startsWith", "endsWith", "contains"):
                raise ConditionError(f"the sandbox does not evaluate .{method}()")
            value = left.value if isinstance(left, _Attribute) else left
            if value is None:
                return None
            text = argument.value if isinstance(argument, _Attribute) else argument
            if method == "startsWith":
                return bool(str(value).startswith(text))
            if method == "endsWith":
                return bool(str(value).endswith(text))
            return text in str(value)
        op = self.peek()
        if op not in ("==", "!=", "<", "<=", ">", ">="):
            value = left.value if isinstance(left, _Attribute) else left
            if isinstance(value, bool) or value is None:
                return value
            raise ConditionError("a condition must compare or call a method")
        self.take()
        right = self.operand()
        a = left.value if isinstance(left, _Attribute) else left
        b = right.value if isinstance(right, _Attribute) else right
        if a is None or b is None:
            return None
        try:
            return bool(
                {
                    "==": a == b,
                    "!=": a != b,
                    "<": a < b,
                    "<=": a <= b,
                    ">": a > b,
                    ">=": a >= b,
                }[op]
            )
        except TypeError as exc:
            raise ConditionError(f"cannot compare {a!r} with {b!r}") from exc


@dataclass(frozen=True)
class _Attribute:
    name: str
    value: Any


def evaluate_condition(expression: str, context: dict[str, Any]) -> bool | None:
    """True, False, or None when the context lacks what the expression needs."""
    return _Parser(expression, context).parse()


# -- the troubleshooter ---------------------------------------------------------------------


def _context(tuple_: dict[str, Any]) -> dict[str, Any]:
    context = tuple_.get("conditionContext") or {}
    resource = context.get("resource") or {}
    request = context.get("request") or {}
    out: dict[str, Any] = {
        "resource.name": resource.get("name"),
        "resource.type": resource.get("type"),
        "resource.service": resource.get("service"),
        "request.time": None,
    }
    if request.get("receiveTime"):
        try:
            out["request.time"] = datetime.fromisoformat(
                str(request["receiveTime"]).replace("Z", "+00:00")
            ).astimezone(UTC)
        except ValueError as exc:
            raise ApiError(400, "Invalid conditionContext.request.receiveTime") from exc
    return out


def _chain(world: World, full_name: str) -> tuple[Project, list[tuple[str, Policy]]]:
    """The allow policies IAM evaluates, the resource first, then up the hierarchy."""
    if not full_name.startswith(_AR):
        raise ApiError(
            400, f"The sandbox troubleshoots Artifact Registry repositories, not {full_name}"
        )
    parts = full_name.removeprefix(_AR).split("/")
    if len(parts) != 6 or parts[0::2] != ["projects", "locations", "repositories"]:
        raise ApiError(400, f"Invalid full resource name {full_name}")
    project = world.find_project(parts[1])
    if project is None:
        raise ApiError(404, f"Resource {full_name} not found")
    chain: list[tuple[str, Policy]] = []
    repository = project.repositories.get(parts[5])
    if repository is not None and repository.location == parts[3]:
        chain.append((full_name, repository.policy))
    chain.append((f"{_CRM}projects/{project.project_id}", project.policy))
    for kind, key in _ancestors(world, project):
        if kind == "folders":
            chain.append((f"{_CRM}folders/{key}", world.folders[key].policy))
        elif world.organization is not None:
            chain.append((f"{_CRM}organizations/{key}", world.organization.policy))
    return project, chain


def _ancestors(world: World, project: Project) -> list[tuple[str, str]]:
    out = []
    parent = project.parent
    while parent:
        kind, _, key = parent.partition("/")
        out.append((kind, key))
        parent = world.folders[key].parent if kind == "folders" else None
    return out


def _group_state(world: World, group: str, member: str, seen: frozenset[str]) -> str:
    if group in seen:
        return NOT_MATCHED
    members = world.groups.get(group)
    if members is None:
        return MEMBERSHIP_UNKNOWN  # a group the caller cannot read
    if member in members:
        return MATCHED
    states = [
        _group_state(world, m.removeprefix("group:"), member, seen | {group})
        for m in members
        if m.startswith("group:")
    ]
    if MATCHED in states:
        return MATCHED
    return MEMBERSHIP_UNKNOWN if MEMBERSHIP_UNKNOWN in states else NOT_MATCHED


def _membership(world: World, binding_member: str, email: str) -> str:
    principal = f"serviceAccount:{email}"
    if binding_member in (principal, "allUsers", "allAuthenticatedUsers"):
        return MATCHED
    if binding_member.startswith("group:"):
        return _group_state(world, binding_member.removeprefix("group:"), principal, frozenset())
    if binding_member.startswith("domain:"):
        # `domain:DOMAIN` is the principal of a Google Workspace or Cloud Identity account:
        # its Google Accounts. A service account is a principal type of its own, never a
        # member of a domain, whatever its address ends with (a binding to
        # `domain:my-project.iam.gserviceaccount.com` holds no service account)
        # (https://cloud.google.com/iam/docs/principal-identifiers,
        # https://cloud.google.com/iam/docs/principals-overview). The sandbox evaluates
        # service accounts only.
        return NOT_MATCHED
    if binding_member.startswith(_SET_PREFIX):
        return _service_account_set(world, binding_member, email)
    if binding_member.startswith(("principalSet:", "principal:")):
        return UNSUPPORTED
    return NOT_MATCHED


# "All service accounts in a project, folder, or organization", in allow and deny policies:
# principalSet://cloudresourcemanager.googleapis.com/{projects|folders|organizations}/NUMBER/
# type/ServiceAccount (https://cloud.google.com/iam/docs/principal-identifiers).
_SET_PREFIX = "principalSet://cloudresourcemanager.googleapis.com/"


def _home_project(world: World, email: str) -> Project | None:
    name, _, domain = email.partition("@")
    if domain == "developer.gserviceaccount.com" and name.endswith("-compute"):
        return world.find_project(name.removesuffix("-compute"))
    if domain.endswith(".iam.gserviceaccount.com"):
        return world.find_project(domain.removesuffix(".iam.gserviceaccount.com"))
    return None


def _service_account_set(world: World, principal: str, email: str) -> str:
    parts = principal.removeprefix(_SET_PREFIX).split("/")
    if len(parts) != 4 or parts[2:] != ["type", "ServiceAccount"]:
        return UNSUPPORTED
    kind, number = parts[0], parts[1]
    project = _home_project(world, email)
    if project is None:
        return NOT_MATCHED
    if kind == "projects":
        return MATCHED if str(project.number) == number else NOT_MATCHED
    ancestors = {f"{k}/{key}" for k, key in _ancestors(world, project)}
    return MATCHED if f"{kind}/{number}" in ancestors else NOT_MATCHED


def role_permissions(world: World, role: str) -> tuple[str, ...] | None:
    """A role's permissions; None for a custom role the world does not define."""
    if role.startswith("roles/"):
        return predefined_permissions(role)
    parts = role.split("/")
    if len(parts) == 4 and parts[0] == "projects":
        project = world.find_project(parts[1])
        perms = project.custom_roles.get(parts[3]) if project else None
    elif len(parts) == 4 and parts[0] == "organizations" and world.organization is not None:
        org = world.organization
        perms = org.custom_roles.get(parts[3]) if org.org_id == parts[1] else None
    else:
        perms = None
    return tuple(perms) if perms is not None else None


def _binding(
    world: World, binding: Binding, email: str, permission: str, context: dict[str, Any]
) -> dict[str, Any]:
    permissions = role_permissions(world, binding.role)
    if permissions is None:
        included = "ROLE_PERMISSION_UNKNOWN_INFO"
    else:
        included = (
            "ROLE_PERMISSION_INCLUDED"
            if permission in permissions
            else "ROLE_PERMISSION_NOT_INCLUDED"
        )
    memberships = {m: _membership(world, m, email) for m in binding.members}
    states = set(memberships.values())
    combined = (
        MATCHED
        if MATCHED in states
        else MEMBERSHIP_UNKNOWN
        if MEMBERSHIP_UNKNOWN in states
        else UNSUPPORTED
        if UNSUPPORTED in states
        else NOT_MATCHED
    )
    out: dict[str, Any] = {
        "role": binding.role,
        "rolePermission": included,
        "rolePermissionRelevance": HIGH if included == "ROLE_PERMISSION_INCLUDED" else NORMAL,
        "memberships": {
            m: {"membership": s, "relevance": HIGH if s == MATCHED else NORMAL}
            for m, s in memberships.items()
        },
        "combinedMembership": {
            "membership": combined,
            "relevance": HIGH if combined == MATCHED else NORMAL,
        },
    }
    if included == "ROLE_PERMISSION_NOT_INCLUDED" or combined == NOT_MATCHED:
        state = NOT_GRANTED
    elif included == "ROLE_PERMISSION_UNKNOWN_INFO" or combined != MATCHED:
        state = UNKNOWN_INFO
    elif binding.condition is None:
        state = GRANTED
    else:
        try:
            value = evaluate_condition(binding.condition["expression"], context)
        except ConditionError as exc:
            value = None
            out["conditionExplanation"] = {"errors": [{"code": 3, "message": str(exc)}]}
        else:
            out["conditionExplanation"] = {"value": value} if value is not None else {}
        state = {True: GRANTED, False: NOT_GRANTED, None: UNKNOWN_CONDITIONAL}[value]
    if binding.condition is not None:
        out["condition"] = dict(binding.condition)
    out["allowAccessState"] = state
    out["relevance"] = HIGH if state != NOT_GRANTED else NORMAL
    return out


def _combine_allow(states: list[str]) -> str:
    for state in (GRANTED, UNKNOWN_CONDITIONAL, UNKNOWN_INFO):
        if state in states:
            return state
    return NOT_GRANTED


# -- deny policies --------------------------------------------------------------------------

DENIED, NOT_DENIED = "DENY_ACCESS_STATE_DENIED", "DENY_ACCESS_STATE_NOT_DENIED"
DENY_CONDITIONAL, DENY_UNKNOWN = (
    "DENY_ACCESS_STATE_UNKNOWN_CONDITIONAL",
    "DENY_ACCESS_STATE_UNKNOWN_INFO",
)


def _deny_principal(world: World, principal: str, email: str) -> str:
    if principal == f"principal://iam.googleapis.com/projects/-/serviceAccounts/{email}":
        return MATCHED
    if principal == "principalSet://goog/public:all":
        return MATCHED
    if principal.startswith("principalSet://goog/group/"):
        group = principal.removeprefix("principalSet://goog/group/")
        return _group_state(world, group, f"serviceAccount:{email}", frozenset())
    if principal.startswith(_SET_PREFIX):
        state = _service_account_set(world, principal, email)
        return NOT_MATCHED if state == UNSUPPORTED else state
    return NOT_MATCHED


def _permission_matches(pattern: str, permission: str) -> bool:
    """`artifactregistry.googleapis.com/repositories.downloadArtifacts` for the v1 name
    `artifactregistry.repositories.downloadArtifacts`, with `*` for a resource or verb."""
    service, _, rest = permission.partition(".")
    fqdn = f"{service}.googleapis.com/{rest}"
    if pattern in (fqdn, f"{service}.googleapis.com/*"):
        return True
    return pattern.endswith(".*") and fqdn.startswith(pattern[:-1])


def _deny_rule(
    world: World, rule: DenyRule, email: str, permission: str, context: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    principals = {p: _deny_principal(world, p, email) for p in rule.denied_principals}
    exceptions = {p: _deny_principal(world, p, email) for p in rule.exception_principals}
    permission_hit = any(_permission_matches(p, permission) for p in rule.denied_permissions)
    principal_states = set(principals.values())
    if (
        not permission_hit
        or MATCHED in exceptions.values()
        or (MATCHED not in principal_states and MEMBERSHIP_UNKNOWN not in principal_states)
    ):
        state = NOT_DENIED
    elif MATCHED not in principal_states:
        state = DENY_UNKNOWN
    elif rule.denial_condition is None:
        state = DENIED
    else:
        try:
            value = evaluate_condition(rule.denial_condition["expression"], context)
        except ConditionError:
            value = None
        state = {True: DENIED, False: NOT_DENIED, None: DENY_CONDITIONAL}[value]
    body: dict[str, Any] = {
        "denyAccessState": state,
        "combinedDeniedPermission": {
            "permissionMatchingState": "PERMISSION_PATTERN_MATCHED"
            if permission_hit
            else "PERMISSION_PATTERN_NOT_MATCHED"
        },
        "relevance": HIGH if state != NOT_DENIED else NORMAL,
    }
    if rule.denial_condition is not None:
        body["condition"] = dict(rule.denial_condition)
    return state, body


def _combine_deny(states: list[str]) -> str:
    for state in (DENIED, DENY_CONDITIONAL, DENY_UNKNOWN):
        if state in states:
            return state
    return NOT_DENIED


def _deny_explanation(
    world: World, project: Project, email: str, permission: str, context: dict[str, Any]
) -> dict[str, Any]:
    attached: list[tuple[str, str, list[DenyRule]]] = [
        (
            f"{_CRM}projects/{project.project_id}",
            f"projects%2F{project.project_id}",
            project.deny_policies,
        )
    ]
    for kind, key in _ancestors(world, project):
        if kind == "folders":
            attached.append(
                (f"{_CRM}folders/{key}", f"folders%2F{key}", world.folders[key].deny_policies)
            )
        elif world.organization is not None:
            attached.append(
                (
                    f"{_CRM}organizations/{key}",
                    f"organizations%2F{key}",
                    world.organization.deny_policies,
                )
            )
    resources, overall = [], []
    for full_name, attachment, rules in attached:
        policies, states = [], []
        for rule in rules:
            state, body = _deny_rule(world, rule, email, permission, context)
            states.append(state)
            policies.append(
                {
                    "denyAccessState": state,
                    "policy": {
                        "name": f"policies/cloudresourcemanager.googleapis.com%2F{attachment}"
                        f"/denypolicies/{rule.name}",
                        "displayName": rule.name,
                        "kind": "DenyPolicy",
                        "rules": [
                            {
                                "denyRule": {
                                    "deniedPrincipals": list(rule.denied_principals),
                                    "deniedPermissions": list(rule.denied_permissions),
                                    **(
                                        {"exceptionPrincipals": list(rule.exception_principals)}
                                        if rule.exception_principals
                                        else {}
                                    ),
                                    **(
                                        {"denialCondition": dict(rule.denial_condition)}
                                        if rule.denial_condition
                                        else {}
                                    ),
                                }
                            }
                        ],
                    },
                    "ruleExplanations": [body],
                    "relevance": body["relevance"],
                }
            )
        state = _combine_deny(states)
        overall.append(state)
        resources.append(
            {
                "denyAccessState": state,
                "fullResourceName": full_name,
                "explainedPolicies": policies,
                "relevance": HIGH if state != NOT_DENIED else NORMAL,
            }
        )
    state = _combine_deny(overall)
    return {
        "denyAccessState": state,
        "explainedResources": resources,
        "permissionDeniable": True,
        "relevance": HIGH if state != NOT_DENIED else NORMAL,
    }


def troubleshoot(world: World, body: Any) -> dict[str, Any]:
    """The TroubleshootIamPolicyResponse for a TroubleshootIamPolicyRequest body."""
    tuple_ = body.get("accessTuple") if isinstance(body, dict) else None
    if not isinstance(tuple_, dict):
        raise ApiError(400, "accessTuple is required")
    for required in ("principal", "fullResourceName", "permission"):
        if not isinstance(tuple_.get(required), str) or not tuple_[required]:
            raise ApiError(400, f"accessTuple.{required} is required")
    email, full_name, permission = (
        tuple_["principal"],
        tuple_["fullResourceName"],
        tuple_["permission"],
    )
    if not re.fullmatch(r"[a-z]+\.[a-zA-Z]+\.[a-zA-Z]+", permission):
        raise ApiError(400, f"Invalid permission {permission}")
    context = _context(tuple_)
    project, chain = _chain(world, full_name)
    explained, allow_states = [], []
    for resource, policy in chain:
        bindings = [_binding(world, b, email, permission, context) for b in policy.bindings]
        state = _combine_allow([b["allowAccessState"] for b in bindings])
        allow_states.append(state)
        explained.append(
            {
                "allowAccessState": state,
                "fullResourceName": resource,
                "bindingExplanations": bindings,
                "policy": policy_json(policy, 3),
                "relevance": HIGH if state != NOT_GRANTED else NORMAL,
            }
        )
    allow = _combine_allow(allow_states)
    deny = _deny_explanation(world, project, email, permission, context)
    deny_state = deny["denyAccessState"]
    if deny_state == DENIED:
        overall = "CANNOT_ACCESS"
    elif allow == GRANTED:
        overall = {
            NOT_DENIED: "CAN_ACCESS",
            DENY_CONDITIONAL: "UNKNOWN_CONDITIONAL",
        }.get(deny_state, "UNKNOWN_INFO")
    elif allow == NOT_GRANTED:
        overall = "CANNOT_ACCESS"
    else:
        overall = "UNKNOWN_CONDITIONAL" if allow == UNKNOWN_CONDITIONAL else "UNKNOWN_INFO"
    return {
        "overallAccessState": overall,
        "accessTuple": {
            **tuple_,
            "permissionFqdn": "{}.googleapis.com/{}".format(*permission.split(".", 1)),
        },
        "allowPolicyExplanation": {
            "allowAccessState": allow,
            "explainedPolicies": explained,
            "relevance": HIGH,
        },
        "denyPolicyExplanation": deny,
    }


def troubleshoot_v3beta(world: World, body: Any) -> dict[str, Any]:
    """v3beta's answer: v3's, with `pabPolicyExplanation` (principal access boundary policies
    bound to a principal set the account is in; a boundary that does not include the
    repository's project, folders or organization refuses, whatever the allow policies say).
    Principal sets modelled: `//cloudresourcemanager.googleapis.com/projects/P` (the
    service accounts of project P) and `…/organizations/ORG` (every account of the world)."""
    answer = troubleshoot(world, body)
    email = body["accessTuple"]["principal"]
    project, _ = _chain(world, body["accessTuple"]["fullResourceName"])
    org = world.organization
    eligible_at = {f"{_CRM}projects/{project.project_id}", f"{_CRM}projects/{project.number}"}
    eligible_at.update(f"{_CRM}{kind}/{key}" for kind, key in _ancestors(world, project))
    explained, states = [], []
    for pid, spec in (org.principal_access_boundaries if org is not None else {}).items():
        target = next((s for s in spec["principal_sets"] if _in_set(world, email, s)), None)
        if target is None:
            continue
        included = bool(eligible_at & set(spec["resources"]))
        state = "PAB_ACCESS_STATE_ALLOWED" if included else "PAB_ACCESS_STATE_NOT_ALLOWED"
        states.append(state)
        name = f"organizations/{org.org_id}/locations/global/principalAccessBoundaryPolicies/{pid}"  # type: ignore[union-attr]
        explained.append(
            {
                "bindingAndPolicyAccessState": state,
                "explainedPolicy": {
                    "policyAccessState": state,
                    "policy": {
                        "name": name,
                        "details": {
                            "enforcementVersion": "latest",
                            "rules": [{"effect": "ALLOW", "resources": spec["resources"]}],
                        },
                    },
                    "relevance": HIGH,
                },
                "explainedPolicyBinding": {
                    "policyBinding": {
                        "target": {"principalSet": target},
                        "policy": name,
                        "policyKind": "PRINCIPAL_ACCESS_BOUNDARY",
                    },
                    "policyBindingState": "POLICY_BINDING_STATE_ENFORCED",
                    "relevance": HIGH,
                },
                "relevance": HIGH,
            }
        )
    if not states:
        overall_pab = "PAB_ACCESS_STATE_NOT_ENFORCED"
    elif "PAB_ACCESS_STATE_ALLOWED" in states:
        overall_pab = "PAB_ACCESS_STATE_ALLOWED"  # eligible through any bound policy
    else:
        overall_pab = "PAB_ACCESS_STATE_NOT_ALLOWED"
        answer["overallAccessState"] = "CANNOT_ACCESS"
    answer["pabPolicyExplanation"] = {
        "principalAccessBoundaryAccessState": overall_pab,
        "explainedBindingsAndPolicies": explained,
        "relevance": HIGH if overall_pab == "PAB_ACCESS_STATE_NOT_ALLOWED" else NORMAL,
    }
    return answer


def _in_set(world: World, email: str, principal_set: str) -> bool:
    kind, _, key = principal_set.removeprefix(_CRM).partition("/")
    if kind == "organizations":
        return world.organization is not None and world.organization.org_id == key
    if kind != "projects":
        return False
    project = world.find_project(key)
    if project is None:
        return False
    return email.endswith(f"@{project.project_id}.iam.gserviceaccount.com") or (
        email == f"{project.number}-compute@developer.gserviceaccount.com"
    )
