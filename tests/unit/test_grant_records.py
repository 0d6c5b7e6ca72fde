"""Grants read back (history, audit lines, IAM, Terraform state), grants about to expire, and
each incident's outcomes kept in order: the pure parts and the memory ledger."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pullfix.core.config import config_from_dict
from pullfix.core.grants import (
    grants_from_audit,
    grants_from_history,
    merge_grants,
    terraform_holds,
    terraform_to_keep,
)
from pullfix.core.model import READER_ROLE, Binding, PolicyView
from pullfix.core.outcome import outcome_problem
from pullfix.core.policy import GrantPlan, expiry_condition
from pullfix.engine.expiring import expiring_grants
from pullfix.engine.ledger import MAX_HISTORY, MemoryLedger

REPO = "projects/images/locations/us/repositories/shared"
MEMBER = "serviceAccount:nodes@prod.iam.gserviceaccount.com"
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _outcome(action: str, when: str, **extra: Any) -> dict[str, Any]:
    return {
        "schema": "pullfix.outcome/v1",
        "action": action,
        "cause": "cross_project",
        "fingerprint": "grant-1a2b",
        "reasons": [f"{action} reason"],
        "event": {"timestamp": when, "cluster": "projects/prod/locations/us/clusters/c"},
        **extra,
    }


def test_a_plan_that_expires_round_trips_through_its_outcome() -> None:
    plan = GrantPlan(REPO, READER_ROLE, MEMBER, expiry_condition(NOW, "grant-1a2b"))
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["condition"]["title"] == "pullfix-expires-2026-12-06T12:00:00Z"
    assert GrantPlan(**data) == plan
    assert outcome_problem(_outcome("grant", "2026-12-06T10:00:00Z", grant=data)) is None
    bad = {**data, "condition": {"title": "x"}}
    assert "condition.expression" in str(outcome_problem(_outcome("grant", "t", grant=bad)))
    # A permanent grant's outcome is as it always was.
    assert set(GrantPlan(REPO, READER_ROLE, MEMBER).to_dict()) == {"resource", "role", "member"}


def test_grants_come_from_the_history_and_the_audit_log() -> None:
    condition = expiry_condition(NOW + timedelta(days=7)).to_dict()
    history = [
        _outcome(
            "grant",
            "2026-12-01T10:00:00Z",
            grant={"resource": REPO, "role": READER_ROLE, "member": MEMBER},
        ),
        _outcome("resolved", "2026-12-01T10:05:00Z"),
    ]
    (row,) = grants_from_history([("grant-1a2b", history)])
    assert row["incident"] == "grant-1a2b" and row["resolved_at"] == "2026-12-01T10:05:00+00:00"
    assert row["expires"] is None
    audit = {
        "timestamp": "2026-12-01T10:00:00.5Z",
        "jsonPayload": {
            "audit": {
                "action": "grant",
                "changed": True,
                "resource": REPO,
                "role": READER_ROLE,
                "member": MEMBER,
                "cause": "cross_project",
                "why": ["a reason"],
                "condition": condition,
                "expires": "2026-12-13T12:00:00+00:00",
            }
        },
    }
    unchanged = {"jsonPayload": {"audit": {**audit["jsonPayload"]["audit"], "changed": False}}}
    logged = grants_from_audit([audit, unchanged, {"jsonPayload": "text"}])
    assert len(logged) == 1
    (both,) = merge_grants([row], logged)
    assert both["expires"] == "2026-12-13T12:00:00+00:00"
    assert both["incident"] == "grant-1a2b" and both["source"] == "ledger, audit log"


def _state(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "values": {
            "root_module": {
                "resources": [resources[0]],
                "child_modules": [{"resources": list(resources[1:])}],
            }
        }
    }


@pytest.mark.parametrize(
    ("resource", "held"),
    [
        (
            {
                "type": "google_artifact_registry_repository_iam_member",
                "values": {
                    "project": "images",
                    "location": "us",
                    "repository": "shared",
                    "role": READER_ROLE,
                    "member": MEMBER,
                },
            },
            True,
        ),
        (
            {
                "type": "google_artifact_registry_repository_iam_binding",
                "values": {"repository": REPO, "role": READER_ROLE, "members": [MEMBER]},
            },
            True,
        ),
        (
            {
                "type": "google_artifact_registry_repository_iam_policy",
                "values": {
                    "repository": REPO,
                    "policy_data": json.dumps(
                        {"bindings": [{"role": READER_ROLE, "members": [MEMBER]}]}
                    ),
                },
            },
            True,
        ),
        (  # another repository of the same name elsewhere
            {
                "type": "google_artifact_registry_repository_iam_member",
                "values": {
                    "project": "other",
                    "location": "us",
                    "repository": "shared",
                    "role": READER_ROLE,
                    "member": MEMBER,
                },
            },
            False,
        ),
        (  # a conditional binding is not the permanent grant
            {
                "type": "google_artifact_registry_repository_iam_member",
                "values": {
                    "repository": REPO,
                    "role": READER_ROLE,
                    "member": MEMBER,
                    "condition": [{"title": "t", "expression": "true"}],
                },
            },
            False,
        ),
    ],
)
def test_terraform_state_tells_whether_it_holds_a_grant(
    resource: dict[str, Any], held: bool
) -> None:
    unrelated = {"type": "google_storage_bucket", "values": {"name": "b"}}
    assert terraform_holds(_state(unrelated, resource), REPO, READER_ROLE, MEMBER) is held


def _apis(bindings: tuple[Binding, ...], reads: list[str]) -> Any:
    class Apis:
        def repository_policy(self, resource: str) -> PolicyView:
            reads.append(resource)
            return PolicyView(bindings=bindings, etag=b"e")

    return Apis()


def _incident(grant: dict[str, str] | None) -> Any:
    from pullfix.engine.verify import OpenIncident

    return OpenIncident(
        "grant-1a2b", "grant", "role", "c", "ns", "w", "img", NOW, NOW, "pool", grant
    )


def test_verification_reports_grants_about_to_expire_with_the_terraform_to_keep_them() -> None:
    soon = expiry_condition(NOW + timedelta(hours=5))
    later = expiry_condition(NOW + timedelta(days=3))
    grant = {"resource": REPO, "role": READER_ROLE, "member": MEMBER}
    config = config_from_dict({"auto_grant": {"expires_after": "2d"}})
    reads: list[str] = []
    binding = Binding(READER_ROLE, frozenset({MEMBER}), f"{soon.title}: {soon.expression}")
    (found,) = expiring_grants([_incident(grant)] * 2, _apis((binding,), reads), NOW, config)
    assert reads == [REPO]  # one read per grant, however many incidents
    assert found["expires"] == "2026-12-06T17:00:00+00:00"
    assert found["terraform"] == terraform_to_keep(REPO, READER_ROLE, MEMBER)
    assert 'member     = "serviceAccount:nodes@prod.iam.gserviceaccount.com"' in found["terraform"]
    # Not yet due, kept by an unconditional binding, or grants that never expire: nothing.
    far = Binding(READER_ROLE, frozenset({MEMBER}), f"{later.title}: {later.expression}")
    assert expiring_grants([_incident(grant)], _apis((far,), []), NOW, config) == []
    plain = Binding(READER_ROLE, frozenset({MEMBER}))
    assert expiring_grants([_incident(grant)], _apis((binding, plain), []), NOW, config) == []
    reads.clear()
    assert (
        expiring_grants([_incident(grant)], _apis((binding,), reads), NOW, config_from_dict({}))
        == []
    )
    assert reads == []


def test_the_memory_ledger_keeps_each_incidents_outcomes_in_order_bounded() -> None:
    ledger = MemoryLedger()
    texts = [json.dumps({"n": n}) for n in range(MAX_HISTORY + 5)]
    for n, text in enumerate(texts):
        ledger.record_outcome("k1", text, NOW + timedelta(minutes=n))
        ledger.record_outcome("k1", text, NOW + timedelta(minutes=n))  # published twice
    kept = ledger.incident_history("k1")
    assert kept is not None and len(kept) == MAX_HISTORY
    assert kept[0] == texts[0] and kept[1:] == texts[-(MAX_HISTORY - 1) :]
    ledger.record_outcome("k2", "{}", NOW - timedelta(days=1))
    assert [k for k, _ in ledger.incident_histories(None, 10)] == ["k1", "k2"]
    assert [k for k, _ in ledger.incident_histories(NOW, 10)] == ["k1"]
    assert ledger.incident_history("nope") is None


def test_a_lost_answer_finds_pullfixs_expiring_binding_but_not_a_users_condition() -> None:
    from pullfix.core.causes import Action
    from pullfix.core.policy import Decision
    from pullfix.engine.granter import GrantAttempt, Granter

    mine = expiry_condition(NOW)
    plan = GrantPlan(REPO, READER_ROLE, MEMBER)

    def granter(condition: str) -> Granter:
        class Reader:
            def resource_policy(self, resource: str) -> PolicyView:
                binding = Binding(READER_ROLE, frozenset({MEMBER}), condition)
                return PolicyView(bindings=(binding,), etag=b"e")

        return Granter(Reader(), MemoryLedger(), lambda: config_from_dict({}), Reader())  # type: ignore[arg-type]

    refused = Decision(Action.TICKET, None, ("no grant: dry run",))
    attempt = GrantAttempt(decision=refused, audit={})
    assert granter(f"{mine.title}: {mine.expression}").found(plan, attempt) == refused
    assert attempt.result is not None and attempt.result.changed
    users = GrantAttempt(decision=refused, audit={})
    assert granter("weekdays: request.time.getDayOfWeek() < 5").found(plan, users) is None
    assert users.result is None
