"""The one decision every IAM write passes, the granter that holds the write, and how a
permanent Google answer reads as a fix."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pullfix.core.causes import Action
from pullfix.core.config import Config, config_from_dict
from pullfix.core.model import READER_ROLE, AccessDenied, GrantResult
from pullfix.core.policy import GrantFacts, GrantPlan, permit
from pullfix.core.refusals import ApiRefusal, api_refusal
from pullfix.engine.granter import GrantAttempt, Granter
from pullfix.gcp.errors import FailedPrecondition, error_from_response

REPO = "projects/images/locations/us/repositories/shared"
EMAIL = "nodes@prod.iam.gserviceaccount.com"
FACTS = GrantFacts(REPO, EMAIL, "prod")
PLAN = GrantPlan(REPO, READER_ROLE, f"serviceAccount:{EMAIL}")
LIVE = {
    "auto_grant": {
        "repositories": ["projects/images/locations/*/repositories/*"],
        "cluster_projects": ["prod"],
    }
}


def _config(**auto_grant: Any) -> Config:
    return config_from_dict({"auto_grant": {**LIVE["auto_grant"], **auto_grant}})


@pytest.mark.parametrize(
    ("plan", "facts", "config", "action", "reason"),
    [
        (PLAN, FACTS, _config(), Action.GRANT, None),
        (PLAN, FACTS, config_from_dict({**LIVE, "dry_run": True}), Action.WOULD_GRANT, "dry run"),
        (
            GrantPlan(REPO, "roles/artifactregistry.writer", PLAN.member),
            FACTS,
            _config(),
            Action.TICKET,
            "grants only roles/artifactregistry.reader",
        ),
        (
            GrantPlan(REPO, READER_ROLE, "serviceAccount:other@prod.iam.gserviceaccount.com"),
            FACTS,
            _config(),
            Action.TICKET,
            "not the node pool's verified account",
        ),
        (
            GrantPlan(REPO, READER_ROLE, "serviceAccount:me@example.com"),
            GrantFacts(REPO, "me@example.com", "prod"),
            _config(),
            Action.TICKET,
            "is not a service account",
        ),
        (PLAN, FACTS, _config(repositories=[]), Action.TICKET, "not in auto_grant.repositories"),
        (PLAN, FACTS, _config(cluster_projects=["x"]), Action.TICKET, "cluster project prod"),
        (
            PLAN,
            FACTS,
            _config(level="project", repositories=["projects/images/locations/*/repositories/*"]),
            Action.TICKET,
            "a grant goes on projects/images",
        ),
        (
            GrantPlan("projects/images", READER_ROLE, PLAN.member),
            FACTS,
            _config(),
            Action.TICKET,
            "a grant goes on " + REPO,
        ),
        (
            PLAN,
            FACTS,
            _config(level="project", repositories=[REPO]),
            Action.TICKET,
            "reaches every repository",
        ),
    ],
)
def test_permit_is_every_guardrail_of_the_config(
    plan: GrantPlan, facts: GrantFacts, config: Config, action: Action, reason: str | None
) -> None:
    decision = permit(plan, facts, config)
    assert decision.action is action
    if reason is not None:
        assert reason in " ".join(decision.reasons)


class Writer:
    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error
        self.calls: list[tuple[str, str, str]] = []

    def add_member(self, resource: str, role: str, member: str, first: Any = None) -> GrantResult:
        self.calls.append((resource, role, member))
        if self.error is not None:
            raise self.error
        return GrantResult(changed=True, attempts=1)


class Cap:
    def __init__(self, free: int) -> None:
        self.free = free

    def take_grant_slot(self, now: datetime, limit: int) -> bool:
        if self.free <= 0 or limit <= 0:
            return False
        self.free -= 1
        return True


NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_granter_reads_the_config_at_each_grant() -> None:
    current = {"config": _config()}
    writer = Writer()
    granter = Granter(writer, Cap(10), lambda: current["config"])
    assert granter.grant(PLAN, FACTS, NOW, {}, GrantAttempt()).result is not None
    current["config"] = config_from_dict({**LIVE, "dry_run": True})
    dry = granter.grant(PLAN, FACTS, NOW, {}, GrantAttempt())
    assert dry.result is None and dry.decision is not None
    assert dry.decision.action is Action.WOULD_GRANT
    assert len(writer.calls) == 1


def test_the_cap_and_the_confirmed_plans_come_before_the_write() -> None:
    writer = Writer()
    capped = Granter(writer, Cap(0), _config).grant(PLAN, FACTS, NOW, {}, GrantAttempt())
    assert capped.decision is not None and "cap of 20" in capped.decision.reasons[0]
    granter = Granter(writer, Cap(5), _config)
    granter.confirmed = frozenset({GrantPlan(REPO, READER_ROLE, "serviceAccount:x@y.com")})
    unconfirmed = granter.grant(PLAN, FACTS, NOW, {}, GrantAttempt())
    assert unconfirmed.decision is not None
    assert "not among the grants confirmed" in unconfirmed.decision.reasons[0]
    assert writer.calls == []


def test_an_organization_policy_refusal_is_a_refusal_naming_the_constraint() -> None:
    body = {
        "error": {
            "code": 400,
            "status": "FAILED_PRECONDITION",
            "message": "One or more users named in the policy do not belong to a permitted "
            "customer.",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.PreconditionFailure",
                    "violations": [
                        {
                            "type": "constraints/iam.allowedPolicyMemberDomains",
                            "subject": "orgpolicy:projects/images",
                            "description": "User nodes@prod is not in permitted organization.",
                        }
                    ],
                }
            ],
        }
    }
    error = error_from_response(400, json.dumps(body).encode())
    assert isinstance(error, FailedPrecondition)
    error.call = f"writing the IAM policy of {REPO}"
    attempt = Granter(Writer(error), Cap(5), _config).grant(PLAN, FACTS, NOW, {}, GrantAttempt())
    assert attempt.result is None and not attempt.reached_iam
    assert attempt.refusal is not None
    assert attempt.refusal.constraint == "constraints/iam.allowedPolicyMemberDomains"
    assert attempt.decision is not None and attempt.decision.action is Action.TICKET


def test_a_transient_write_failure_raises_and_says_iam_may_have_been_reached() -> None:
    from pullfix.core.model import TransientError

    attempt = GrantAttempt()
    granter = Granter(Writer(TransientError("503")), Cap(5), _config)
    with pytest.raises(TransientError):
        granter.grant(PLAN, FACTS, NOW, {}, attempt)
    assert attempt.reached_iam


def test_a_denial_names_the_permission_and_the_roles_that_carry_it() -> None:
    denied = AccessDenied(
        "x",
        call=f"writing the IAM policy of {REPO}",
        needs=("artifactregistry.repositories.setIamPolicy",),
        answer="Permission denied",
    )
    refusal = api_refusal(denied)
    assert refusal is not None
    fix = refusal.fix()
    assert "artifactregistry.repositories.setIamPolicy" in fix
    assert "repository_granter" in fix and "roles/artifactregistry.admin" in fix
    # The ledger's own errors are not answers about the world: they raise as they are.
    assert api_refusal(AccessDenied("x", call="ledger commit")) is None
    assert ApiRefusal("c", 404, "NOT_FOUND", "gone").not_found


def test_the_custom_roles_named_in_a_fix_carry_their_permissions() -> None:
    from pullfix.core.refusals import CUSTOM_ROLES

    repo = Path(__file__).parents[2]
    # Terraform's custom roles are the generated file's (terraform/iam.tf reads it).
    iam = (repo / "terraform" / "iam.tf").read_text()
    assert re.search(r'permissions\s*=\s*jsondecode\(file\(".*/permissions\.json"\)\)', iam)
    roles = json.loads((repo / "functions" / "pullfix" / "permissions.json").read_text())
    for permission, role in CUSTOM_ROLES.items():
        assert role in roles, role
        assert permission in roles[role], (role, permission)


def test_only_the_granter_calls_the_iam_write() -> None:
    package = Path(__file__).parents[2] / "functions" / "pullfix"
    callers = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if any(write in path.read_text() for write in (".add_member(", ".remove_member("))
        and "dev" not in path.parts
    )
    assert callers == ["engine/granter.py"]


def test_only_googles_permanent_answers_about_the_world_end_an_incident() -> None:
    from pullfix.gcp.errors import Conflict, Retryable

    proxy = error_from_response(404, b"<html>Not Found</html>")
    proxy.call = "reading a tag"
    assert api_refusal(proxy) is None  # a proxy's page says nothing about the tag
    assert isinstance(error_from_response(408, b"timeout"), Retryable)
    raced = Conflict(409, "ABORTED", "concurrent change")
    raced.call = "reading the cluster"
    assert api_refusal(raced) is None
    # pullfix's own topic and ledger: their errors raise for Pub/Sub to redeliver.
    published = AccessDenied("x", call="publishing to projects/p/topics/t")
    assert api_refusal(published) is None
    real = error_from_response(
        404, json.dumps({"error": {"status": "NOT_FOUND", "message": "gone"}}).encode()
    )
    real.call = "reading a tag"
    refusal = api_refusal(real)
    assert refusal is not None and refusal.not_found
