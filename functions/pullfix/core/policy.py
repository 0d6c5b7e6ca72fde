"""The guardrails (DESIGN.md): may pullfix grant, and exactly what? Pure and fail-closed.

A grant is only ever `roles/artifactregistry.reader`, on the repository (or its project when
configured), to the `serviceAccount:` the GKE API confirmed for the failing node pool, for a
cause that a reader grant fixes, on an allow-listed repository. Anything else: a ticket.
"""

from __future__ import annotations

from dataclasses import dataclass

from pullfix.core.causes import GRANT_FIXABLE, Action
from pullfix.core.classify import Diagnosis
from pullfix.core.config import Config
from pullfix.core.judge import Evidence
from pullfix.core.model import READER_ROLE, AccessState

__all__ = ["Decision", "GrantPlan", "decide"]

_SERVICE_ACCOUNT_DOMAINS = (".gserviceaccount.com",)


@dataclass(frozen=True, slots=True)
class GrantPlan:
    resource: str
    role: str
    member: str

    def to_dict(self) -> dict[str, str]:
        return {"resource": self.resource, "role": self.role, "member": self.member}


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    plan: GrantPlan | None
    reasons: tuple[str, ...]


def decide(
    diagnosis: Diagnosis, evidence: Evidence, config: Config, *, refused_in_text: bool = True
) -> Decision:
    """Grant (or would grant, in dry run) only when every guardrail holds; else a ticket.

    `refused_in_text`: whether the event's own text shows the registry refusing the pull
    (401/403/denied). An event that gives no reason (`Back-off pulling image`) never opens a
    grant: it joins a known incident, or becomes a ticket with the live evidence.
    """
    refusal = _refusal(diagnosis, evidence, config)
    if refusal is None and not refused_in_text:
        refusal = (
            "no grant: the event does not show the registry refusing the pull (401/403/denied); "
            "pullfix grants only on a refusal it can read"
        )
    if refusal is not None:
        return Decision(Action.TICKET, None, (refusal,) if refusal else ())
    assert evidence.repository is not None and evidence.account_email is not None
    resource = evidence.repository
    if config.auto_grant.level == "project":
        resource = f"projects/{evidence.repository_project}"
    plan = GrantPlan(
        resource=resource, role=READER_ROLE, member=f"serviceAccount:{evidence.account_email}"
    )
    if config.dry_run:
        return Decision(Action.WOULD_GRANT, plan, ("dry run: nothing was changed",))
    return Decision(Action.GRANT, plan, ())


def _refusal(diagnosis: Diagnosis, evidence: Evidence, config: Config) -> str | None:
    """Why no grant; "" when the cause simply is not one a grant fixes; None: grant."""
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
    if not config.auto_grant.allows_repository(evidence.repository):
        return f"no grant: {evidence.repository} is not in auto_grant.repositories"
    project = evidence.repository_project
    if config.auto_grant.level == "project" and not config.auto_grant.allows_project_grant(
        str(project)
    ):
        return (
            f"no grant: a project-level grant reaches every repository of {project}; "
            f"auto_grant.repositories must name projects/{project}/locations/*/repositories/*"
        )
    if not config.auto_grant.allows_cluster_project(evidence.cluster.project):
        cluster_project = evidence.cluster.project
        return f"no grant: cluster project {cluster_project} is not in auto_grant.cluster_projects"
    return None
