"""Each incident's outcomes kept in order, the same in both ledgers: memory, Firestore's REST
API against the sandbox's Firestore and against Google's emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from pullfix.engine.history import HistoryPublisher
from pullfix.engine.ledger import MAX_HISTORY, FirestoreLedger, MemoryLedger
from pullfix.gcp.clients import GoogleClients
from tests.integration.test_ledgers import emulator_clients

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
History = MemoryLedger | FirestoreLedger


@pytest.fixture(params=["memory", "firestore", "emulator"])
def ledger(request: pytest.FixtureRequest) -> Iterator[History]:
    if request.param == "memory":
        yield MemoryLedger()
        return
    if request.param == "firestore":
        clients: GoogleClients = request.getfixturevalue("clients")
        yield FirestoreLedger(clients.rest, "p1", "(default)", "pullfix-test", timeout=2.0)
        return
    made = emulator_clients(request.getfixturevalue("firestore_emulator"))
    yield FirestoreLedger(made.rest, "p1", "(default)", "pullfix-test", timeout=2.0)
    made.close()


def test_outcomes_are_kept_per_incident_in_order_once_each(ledger: History) -> None:
    published: list[dict[str, object]] = []

    class Topic:
        def publish(self, outcome: dict[str, object]) -> None:
            published.append(outcome)

    clock = iter(T0 + timedelta(minutes=n) for n in range(100))
    publisher = HistoryPublisher(ledger, Topic(), clock=lambda: next(clock))
    first = {"fingerprint": "grant-1", "action": "grant", "n": 0}
    publisher.publish(first)
    publisher.publish(first)  # the outbox publishes again after a lost answer
    publisher.publish({"fingerprint": "ticket-2", "action": "ticket"})
    publisher.publish({"fingerprint": "grant-1", "action": "resolved"})
    assert len(published) == 4
    kept = ledger.incident_history("grant-1")
    assert kept is not None
    assert [json.loads(t)["action"] for t in kept] == ["grant", "resolved"]
    assert [k for k, _ in ledger.incident_histories(None, 10)] == ["grant-1", "ticket-2"]
    # Since the ticket's time (T0 + 2m): both; since just after it: the grant's alone.
    assert len(ledger.incident_histories(T0 + timedelta(minutes=2), 10)) == 2
    assert [k for k, _ in ledger.incident_histories(T0 + timedelta(minutes=3), 10)] == ["grant-1"]
    assert len(ledger.incident_histories(None, 1)) == 1
    assert ledger.incident_history("unknown-3") is None


def test_a_long_incident_keeps_its_first_outcome_and_the_latest(ledger: History) -> None:
    for n in range(MAX_HISTORY + 3):
        ledger.record_outcome("grant-1", json.dumps({"n": n}), T0 + timedelta(minutes=n))
    kept = [json.loads(t)["n"] for t in ledger.incident_history("grant-1") or []]
    assert kept == [0, *range(4, MAX_HISTORY + 3)]
