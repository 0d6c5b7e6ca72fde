"""Grants that expire and grants revoked: IAM policy version 3 and conditional bindings as
Google documents them, through the granter (the one IAM writer) and the Google adapter over
the official clients, against the strict sandbox. Nothing a user had is ever lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions

from pullfix.core.config import config_from_dict
from pullfix.core.model import READER_ROLE
from pullfix.core.policy import GrantCondition, GrantFacts, GrantPlan, expiry_condition
from pullfix.dev.sandbox import Sandbox
from pullfix.engine.granter import GrantAttempt, Granter, RevokeRefused
from pullfix.engine.ledger import MemoryLedger
from pullfix.gcp.adapter import GoogleAdapter
from pullfix.gcp.clients import GoogleClients
from tests.integration.pipeline import CONFIG, IMAGES, event, pipeline

pytestmark = pytest.mark.integration

APPS = "projects/shop-prod/locations/us-central1/repositories/apps"
DEFAULT_SA = "111111111111-compute@developer.gserviceaccount.com"
MEMBER = f"serviceAccount:{DEFAULT_SA}"
NODES = "serviceAccount:gke-nodes@shop-prod.iam.gserviceaccount.com"
FACTS = GrantFacts(APPS, DEFAULT_SA, "shop-prod")
PLAN = GrantPlan(APPS, READER_ROLE, MEMBER)
NOW = datetime(2026, 12, 6, 15, 0, tzinfo=UTC)
GET_POLICY = "artifactregistry.projects.locations.repositories.getIamPolicy"
WEEKDAYS = {
    "title": "weekdays",
    "expression": "request.time.getDayOfWeek() < 5",
    "description": "CI pushes on weekdays",
}


def _config(**auto_grant: Any) -> Any:
    return config_from_dict(
        {
            "auto_grant": {
                "repositories": ["projects/shop-prod/locations/*/repositories/*"],
                "cluster_projects": ["shop-prod"],
                **auto_grant,
            }
        }
    )


def _policy(clients: GoogleClients, version: int = 3) -> Any:
    return clients.artifact_registry.get_iam_policy(
        request={"resource": APPS, "options": {"requested_policy_version": version}}
    )


Condition = tuple[tuple[str, str], ...]


def _cond(condition: dict[str, str]) -> Condition:
    return tuple(sorted(condition.items()))


def _bindings(clients: GoogleClients) -> list[tuple[str, frozenset[str], Condition]]:
    """Every binding as read at version 3: role, members, the whole condition object."""
    return [
        (
            b.role,
            frozenset(b.members),
            _cond(
                {
                    "title": b.condition.title,
                    "expression": b.condition.expression,
                    "description": b.condition.description,
                }
            )
            if b.condition.expression
            else (),
        )
        for b in _policy(clients).bindings
    ]


def _granter(clients: GoogleClients, **auto_grant: Any) -> Granter:
    config = _config(**auto_grant)
    return Granter(GoogleAdapter(clients), MemoryLedger(), lambda: config)


def test_an_expiring_grant_is_a_conditional_binding_of_its_own(clients: GoogleClients) -> None:
    before = _bindings(clients)
    attempt = _granter(clients, expires_after="2h").grant(
        PLAN, FACTS, NOW, {}, GrantAttempt(), incident="abc123"
    )
    assert attempt.result is not None and attempt.result.changed
    after = _bindings(clients)
    # Everything that was there is there exactly, plus one binding under pullfix's condition.
    assert set(before) <= set(after) and len(after) == len(before) + 1
    (added,) = set(after) - set(before)
    assert added == (
        READER_ROLE,
        frozenset({MEMBER}),
        _cond(
            {
                "title": "pullfix-expires-2026-12-06T17:00:00Z",
                "expression": 'request.time < timestamp("2026-12-06T17:00:00Z")',
                "description": "granted by pullfix for incident abc123; expires by itself",
            }
        ),
    )
    # The unconditional reader binding beside it is untouched: the member is not in it.
    plain = next(
        b for b in _policy(clients).bindings if b.role == READER_ROLE and not b.condition.expression
    )
    assert list(plain.members) == [NODES]
    # The same grant again changes nothing.
    again = _granter(clients, expires_after="2h").grant(PLAN, FACTS, NOW, {}, GrantAttempt())
    assert again.result is not None and not again.result.changed


def test_later_grants_keep_expiring_grants_and_their_conditions(
    clients: GoogleClients, sandbox: Sandbox
) -> None:
    _granter(clients, expires_after="1d").grant(PLAN, FACTS, NOW, {}, GrantAttempt())
    first = _bindings(clients)
    # A later expiring grant of another account, then a permanent one of the same account,
    # each raced by a concurrent writer between its read and its write (a 409, retried).
    other = "retired-nodes@shop-prod.iam.gserviceaccount.com"
    sandbox.add_fault(method=GET_POLICY, race=True, count=1)
    later = _granter(clients, expires_after="1d").grant(
        GrantPlan(APPS, READER_ROLE, f"serviceAccount:{other}"),
        GrantFacts(APPS, other, "shop-prod"),
        NOW + timedelta(hours=1),
        {},
        GrantAttempt(),
    )
    assert later.result is not None and later.result.attempts == 2
    sandbox.add_fault(method=GET_POLICY, race=True, count=1)
    permanent = _granter(clients).grant(PLAN, FACTS, NOW, {}, GrantAttempt())
    assert permanent.result is not None and permanent.result.attempts == 2
    after = _bindings(clients)
    conditional = [b for b in first if b[2]]
    assert len(conditional) == 2  # the user's `weekdays` and pullfix's expiring grant
    for binding in conditional:
        assert binding in after, binding
    assert len([b for b in after if b[2]]) == 3
    plain = next(b for b in after if b[0] == READER_ROLE and not b[2])
    assert plain[1] == {NODES, MEMBER}


def test_a_version_1_read_hides_conditions_and_its_write_is_refused(
    clients: GoogleClients,
) -> None:
    _granter(clients, expires_after="2h").grant(PLAN, FACTS, NOW, {}, GrantAttempt())
    old = _policy(clients, 1)
    assert old.version == 1
    roles = sorted(b.role for b in old.bindings)
    assert sum("_withcond_" in role for role in roles) == 2
    assert all(not b.condition.expression for b in old.bindings)
    # Written back without version 3 but with its etag: refused, nothing lost.
    kept = [b for b in old.bindings if "_withcond_" not in b.role]
    del old.bindings[:]
    old.bindings.extend(kept)
    with pytest.raises(exceptions.BadRequest, match="conditional role bindings"):
        clients.artifact_registry.set_iam_policy(request={"resource": APPS, "policy": old})
    assert sum(1 for b in _policy(clients).bindings if b.condition.expression) == 2
    # Without an etag, IAM lets a version 1 policy overwrite: the conditions are gone. This
    # is why every write pullfix makes carries the etag and version 3.
    old.etag = b""
    clients.artifact_registry.set_iam_policy(request={"resource": APPS, "policy": old})
    assert not any(b.condition.expression for b in _policy(clients).bindings)


def test_a_condition_pullfix_does_not_write_is_refused_by_the_one_decision() -> None:
    from pullfix.core.policy import permit

    forged = GrantPlan(
        APPS, READER_ROLE, MEMBER, GrantCondition("pullfix-expires-2026-12-06T17:00:00Z", "true")
    )
    decision = permit(forged, FACTS, _config(expires_after="2h"))
    assert decision.action.value == "ticket"
    assert "not one pullfix writes" in decision.reasons[0]
    honest = GrantPlan(APPS, READER_ROLE, MEMBER, expiry_condition(NOW))
    assert "expires_after is not set" in permit(honest, FACTS, _config()).reasons[0]


# -- revoke ---------------------------------------------------------------------------------


def _seed(clients: GoogleClients) -> None:
    """The member pullfix granted beside others: in the unconditional reader binding with a
    user's account, and in an expiring binding of its own."""
    _granter(clients, expires_after="2h").grant(PLAN, FACTS, NOW, {}, GrantAttempt())
    policy = _policy(clients)
    reader = next(b for b in policy.bindings if b.role == READER_ROLE)
    reader.members.append(MEMBER)
    policy.version = 3
    clients.artifact_registry.set_iam_policy(request={"resource": APPS, "policy": policy})
    assert len([b for b in _bindings(clients) if MEMBER in b[1]]) == 2


def test_revoke_removes_only_pullfixs_member_keeping_every_other_binding_exactly(
    clients: GoogleClients,
) -> None:
    _seed(clients)
    before = _bindings(clients)
    granter = _granter(clients)
    result = granter.revoke(PLAN, {})
    assert result.changed
    after = _bindings(clients)
    expected = [
        (role, members - {MEMBER} if role == READER_ROLE and not cond else members, cond)
        for role, members, cond in before
    ]
    assert after == expected
    # The conditional one next, by its title: its binding goes, nothing else changes.
    conditional = GrantPlan(
        APPS, READER_ROLE, MEMBER, expiry_condition(datetime(2026, 12, 6, 17, tzinfo=UTC))
    )
    assert granter.revoke(conditional, {}).changed
    assert _bindings(clients) == [
        b for b in expected if "pullfix" not in dict(b[2]).get("title", "")
    ]
    assert (
        "roles/artifactregistry.writer",
        frozenset({"group:ci@example.com"}),
        _cond(WEEKDAYS),
    ) in _bindings(clients)
    # Nothing left to remove: no write.
    assert not granter.revoke(PLAN, {}).changed


def test_revoke_retries_a_concurrent_change_and_keeps_it(
    clients: GoogleClients, sandbox: Sandbox
) -> None:
    _seed(clients)
    sandbox.add_fault(method=GET_POLICY, race=True, count=1)
    result = _granter(clients).revoke(PLAN, {})
    assert result.changed and result.attempts == 2
    writers = [b for b in _bindings(clients) if b[0] == "roles/artifactregistry.writer"]
    assert any("user:concurrent-writer-1@example.com" in b[1] for b in writers)
    assert _cond(WEEKDAYS) in [b[2] for b in writers]


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (GrantPlan(APPS, "roles/artifactregistry.writer", "group:ci@example.com"), "revokes only"),
        (GrantPlan(APPS, READER_ROLE, "user:owner@example.com"), "only to service accounts"),
        (
            GrantPlan(APPS, READER_ROLE, MEMBER, GrantCondition("weekdays", "true")),
            "not pullfix's",
        ),
        (GrantPlan("folders/123", READER_ROLE, MEMBER), "only on a repository"),
    ],
)
def test_revoke_refuses_what_pullfix_does_not_grant(
    clients: GoogleClients, plan: GrantPlan, message: str
) -> None:
    before = _bindings(clients)
    with pytest.raises(RevokeRefused, match=message):
        _granter(clients).revoke(plan, {})
    assert _bindings(clients) == before


def test_an_expiring_grants_outcome_says_until_when(tmp_path: Path) -> None:
    """The outcome notify tells the team, and `pullfix grants list` reads back, carries the
    grant's condition: the binding pullfix wrote and when it ends, naming the incident."""
    config = {**CONFIG, "auto_grant": {**CONFIG["auto_grant"], "expires_after": "2h"}}
    with pipeline(tmp_path, config) as (pipe,):
        entry = event("default-pool", f"us-docker.pkg.dev/{IMAGES}/shared/web:1.4")
        assert pipe.post(entry) == 200
        (outcome,) = pipe.outcomes()
        assert outcome["action"] == "grant"
        condition = outcome["grant"]["condition"]
        assert condition["title"].startswith("pullfix-expires-")
        assert condition["expression"].startswith('request.time < timestamp("')
        assert outcome["fingerprint"] in condition.get("description", "")
        bindings = pipe.sandbox.world.projects[IMAGES].repositories["shared"].policy.bindings
        written = [b.to_dict() for b in bindings if b.condition is not None]
        assert [b["condition"] for b in written] == [condition]
