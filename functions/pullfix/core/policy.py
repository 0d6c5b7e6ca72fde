"""The guardrails: may pullfix grant, and exactly what? Pure and fail-closed.

A grant is only ever `roles/artifactregistry.reader`, on the repository (or its project when
configured), to the `serviceAccount:` the GKE API confirmed for the failing node pool, for a
cause that a reader grant fixes, on an allow-listed repository. Anything else: a ticket.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pullfix.core.causes import GRANT_FIXABLE, Action
from pullfix.core.classify import Diagnosis
from pullfix.core.config import Config
from pullfix.core.judge import Evidence
from pullfix.core.model import READER_ROLE, AccessState

__all__ = [
    "EXPIRY_TITLE_PREFIX",
    "Decision",
    "GrantCondition",
    "GrantFacts",
    "GrantPlan",
    "decide",
    "expiry_condition",
    "grant_facts",
    "grant_plan",
    "permit",
    "pullfix_expiry",
    "revoke_refusal",
    "with_expiry",
]

_SERVICE_ACCOUNT_DOMAINS = (".gserviceaccount.com",)
# Where pullfix grants: a repository, or (auto_grant.level: project) its project.
_GRANTABLE = re.compile(r"projects/[^/]+(?:/locations/[^/]+/repositories/[^/]+)?")


# The title of the condition on every grant that expires: pullfix knows its own bindings by it
# (`pullfix grants`, verification), and an administrator reading the policy sees whose it is.
EXPIRY_TITLE_PREFIX = "pullfix-expires-"
_EXPIRY_TITLE = re.compile(re.escape(EXPIRY_TITLE_PREFIX) + r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")


@dataclass(frozen=True, slots=True)
class GrantCondition:
    """An IAM condition (google.type.Expr) on a binding pullfix adds. A conditional binding is
    a binding entry of its own, beside any unconditional one of the same role ("Conditions
    overview", https://cloud.google.com/iam/docs/conditions-overview)."""

    title: str
    expression: str
    description: str = ""

    def to_dict(self) -> dict[str, str]:
        out = {"title": self.title, "expression": self.expression}
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True, slots=True)
class GrantPlan:
    resource: str
    role: str
    member: str
    # Set when the grant expires (auto_grant.expires_after): the binding is conditional.
    condition: GrantCondition | None = None

    def __post_init__(self) -> None:
        # A plan read back from an outcome (`GrantPlan(**outcome["grant"])`) has the
        # condition as its JSON object.
        if isinstance(self.condition, dict):
            condition = GrantCondition(**self.condition)
            object.__setattr__(self, "condition", condition)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"resource": self.resource, "role": self.role, "member": self.member}
        if self.condition is not None:
            out["condition"] = self.condition.to_dict()
        return out


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    plan: GrantPlan | None
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GrantFacts:
    """What the APIs verified for a grant, as of the delivery that makes it."""

    repository: str  # projects/P/locations/L/repositories/R
    account_email: str  # the failing node pool's account, as GKE names it
    cluster_project: str  # the failing cluster's project

    @property
    def repository_project(self) -> str:
        return self.repository.split("/")[1]


def permit(plan: GrantPlan, facts: GrantFacts, config: Config) -> Decision:
    """The one decision every IAM write passes, against the config as it stands at the write:
    the role, the member (the verified account), the level, the allow-list, the cluster
    projects, dry run. GRANT, WOULD_GRANT (dry run: the same plan, not made) or TICKET with
    the reason. The hourly cap is the granter's, counted in the ledger as the grant is made.
    """
    refusal = _config_refusal(plan, facts, config) or _condition_refusal(plan, config)
    if refusal is not None:
        return Decision(Action.TICKET, None, (refusal,))
    if config.dry_run:
        return Decision(Action.WOULD_GRANT, plan, ("dry run: nothing was changed",))
    return Decision(Action.GRANT, plan, ())


def _config_refusal(plan: GrantPlan, facts: GrantFacts, config: Config) -> str | None:
    email = facts.account_email
    if plan.role != READER_ROLE:
        return f"no grant: pullfix grants only {READER_ROLE}, not {plan.role}"
    if plan.member != f"serviceAccount:{email}":
        return f"no grant: {plan.member} is not the node pool's verified account {email}"
    if not email.endswith(_SERVICE_ACCOUNT_DOMAINS):
        return f"no grant: {email} is not a service account"
    if not config.auto_grant.allows_repository(facts.repository):
        return f"no grant: {facts.repository} is not in auto_grant.repositories"
    project = facts.repository_project
    level = config.auto_grant.level
    if level == "project" and not config.auto_grant.allows_project_grant(project):
        return (
            f"no grant: a project-level grant reaches every repository of {project}; "
            f"auto_grant.repositories must name projects/{project}/locations/*/repositories/*"
        )
    expected = grant_plan(facts, config).resource
    if plan.resource != expected:
        return f"no grant: auto_grant.level is {level}, so a grant goes on {expected}"
    if not config.auto_grant.allows_cluster_project(facts.cluster_project):
        return (
            f"no grant: cluster project {facts.cluster_project} is not in "
            "auto_grant.cluster_projects"
        )
    return None


def _condition_refusal(plan: GrantPlan, config: Config) -> str | None:
    """A plan carries a condition only as `with_expiry` builds it, for the configured term."""
    condition = plan.condition
    if condition is None:
        return None
    if config.auto_grant.expires_after is None:
        return "no grant: a grant that expires, but auto_grant.expires_after is not set"
    until = pullfix_expiry(condition.title)
    if until is None or condition.expression != _expiry_expression(until):
        return f"no grant: the condition {condition.title!r} is not one pullfix writes"
    return None


def _expiry_expression(until: datetime) -> str:
    # CEL's timestamp() takes RFC 3339; "Configure temporary access"
    # (https://cloud.google.com/iam/docs/configuring-temporary-access) writes it so.
    return f'request.time < timestamp("{_stamp(until)}")'


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def expiry_condition(until: datetime, incident: str | None = None) -> GrantCondition:
    """The condition of a grant that ends at `until` (to the second, UTC)."""
    until = until.astimezone(UTC).replace(microsecond=0)
    description = "granted by pullfix; expires by itself"
    if incident:
        description = f"granted by pullfix for incident {incident}; expires by itself"
    return GrantCondition(
        EXPIRY_TITLE_PREFIX + _stamp(until), _expiry_expression(until), description[:256]
    )


def pullfix_expiry(title: str | None) -> datetime | None:
    """When a binding whose condition has this title expires, if the title is pullfix's."""
    match = _EXPIRY_TITLE.fullmatch(title or "")
    if match is None:
        return None
    return datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def with_expiry(
    plan: GrantPlan, config: Config, now: datetime, incident: str | None = None
) -> GrantPlan:
    """The plan as it is written at `now`: conditional on time when grants expire."""
    term = config.auto_grant.expires_after
    if term is None:
        return GrantPlan(plan.resource, plan.role, plan.member)
    condition = expiry_condition(now + timedelta(seconds=term), incident)
    return GrantPlan(plan.resource, plan.role, plan.member, condition)


def revoke_refusal(plan: GrantPlan) -> str | None:
    """Why pullfix will not remove this binding: it removes only what it grants (the reader
    role to a service account, unconditional or with its own expiry condition), on a repository
    or a project (never a folder or an organization)."""
    if not _GRANTABLE.fullmatch(plan.resource):
        return (
            "pullfix grants only on a repository (projects/P/locations/L/repositories/R) or "
            f"a project (projects/P), not on {plan.resource!r:.200}"
        )
    if plan.role != READER_ROLE:
        return f"pullfix revokes only {READER_ROLE}, which is all it grants, not {plan.role}"
    email = plan.member.removeprefix("serviceAccount:")
    if email == plan.member or not email.endswith(_SERVICE_ACCOUNT_DOMAINS):
        return f"pullfix grants only to service accounts; {plan.member} is not one"
    if plan.condition is not None and pullfix_expiry(plan.condition.title) is None:
        return f"the condition {plan.condition.title!r} is not pullfix's"
    return None


def decide(
    diagnosis: Diagnosis, evidence: Evidence, config: Config, *, refused_in_text: bool = True
) -> Decision:
    """Grant (or would grant, in dry run) only when every guardrail holds; else a ticket.

    `refused_in_text`: whether the event's own text shows the registry refusing the pull
    (401/403/denied). An event that gives no reason (`Back-off pulling image`) never opens a
    grant: it joins a known incident, or becomes a ticket with the live evidence. The
    config's guardrails are `permit`'s, which the granter asks again at the write.
    """
    refusal = _refusal(diagnosis, evidence, config)
    if refusal is None and not refused_in_text:
        refusal = (
            "no grant: the event does not show the registry refusing the pull (401/403/denied); "
            "pullfix grants only on a refusal it can read"
        )
    if refusal is not None:
        return Decision(Action.TICKET, None, (refusal,) if refusal else ())
    facts = grant_facts(evidence)
    assert facts is not None
    return permit(grant_plan(facts, config), facts, config)


def grant_plan(facts: GrantFacts, config: Config) -> GrantPlan:
    """The one grant the facts call for: the reader role, on the repository (or its project
    at `auto_grant.level: project`), to the verified account."""
    resource = facts.repository
    if config.auto_grant.level == "project":
        resource = f"projects/{facts.repository_project}"
    return GrantPlan(resource, READER_ROLE, f"serviceAccount:{facts.account_email}")


def grant_facts(evidence: Evidence) -> GrantFacts | None:
    """The verified facts a grant rests on, when the evidence has them all."""
    if evidence.repository is None or evidence.account_email is None or evidence.cluster is None:
        return None
    return GrantFacts(evidence.repository, evidence.account_email, evidence.cluster.project)


def _refusal(diagnosis: Diagnosis, evidence: Evidence, config: Config) -> str | None:
    """Why no grant, as the evidence shows it; "" when the cause simply is not one a grant
    fixes; None: the evidence allows a grant (`permit` decides the rest)."""
    if diagnosis.cause not in GRANT_FIXABLE:
        return ""
    email = evidence.account_email
    account = evidence.account
    if (
        evidence.cluster is None
        or evidence.pool is None
        or email is None
        or account is None
        or not account.exists
        or account.disabled
    ):
        return "no grant: the node service account is not confirmed by the APIs"
    if not email.endswith(_SERVICE_ACCOUNT_DOMAINS):
        return f"no grant: {email} is not a service account"
    if evidence.repository is None:
        return "no grant: the image is not in Artifact Registry"
    if evidence.policy_error is not None:
        return "no grant: the repository's IAM policy could not be read"
    verdict = evidence.verdict
    if verdict is None:
        return "no grant: the node account's access to the repository was not verified"
    if verdict.state is AccessState.CONDITIONAL and not config.auto_grant.beside_conditions:
        return (
            f"no grant: {email}'s access is conditional ({verdict.describe()}); an admin scoped "
            "it, so pullfix adds no unconditional binding beside it "
            "(auto_grant.beside_conditions: true allows it)"
        )
    if verdict.state not in (AccessState.NOT_GRANTED, AccessState.CONDITIONAL):
        return (
            f"no grant: pullfix cannot verify that {email} lacks access "
            f"({verdict.describe()}); it fails closed"
        )
    return None
