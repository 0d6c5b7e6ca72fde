"""Both ledgers, with the same meaning: the memory one, and Firestore over the official
client against the sandbox's Firestore service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pullfix.core.model import TransientError
from pullfix.dev.sandbox import Sandbox
from pullfix.engine.ledger import FirestoreLedger, Ledger, MemoryLedger
from pullfix.engine.lifecycle import State, lease_fields
from pullfix.gcp.clients import GoogleClients

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "firestore"])
def ledger(request: pytest.FixtureRequest, clients: GoogleClients) -> Ledger:
    if request.param == "memory":
        return MemoryLedger()
    return FirestoreLedger(clients.firestore, "p1", "(default)", "pullfix-test", timeout=2.0)


def test_the_hourly_cap_is_the_sliding_sixty_minutes_in_both(ledger: Ledger) -> None:
    assert ledger.take_grant_slot(T0 + timedelta(minutes=50), 2)
    assert ledger.take_grant_slot(T0 + timedelta(minutes=70), 2)  # another clock hour
    assert not ledger.take_grant_slot(T0 + timedelta(minutes=80), 2)  # two in the last 60
    assert ledger.take_grant_slot(T0 + timedelta(minutes=111), 2)  # the first is 61 min old
    assert not ledger.take_grant_slot(T0 + timedelta(minutes=112), 0)


def test_a_lease_is_taken_over_only_once_it_ran_out(ledger: Ledger) -> None:
    wall = 1_000_000.0
    first = lease_fields(State.WORKING, "m1", wall, 30)
    assert ledger.claim("incident", T0, 3600, first).new
    assert not ledger.claim("incident", T0, 3600, first).new
    second = lease_fields(State.WORKING, "m2", wall + 10, 30)
    held = ledger.take_over("incident", T0, 3600, second, wall + 10)
    assert not held.new and held.record["holder"] == "m1"
    third = lease_fields(State.WORKING, "m3", wall + 31, 30)
    assert ledger.take_over("incident", T0, 3600, third, wall + 31).new
    assert ledger.get("incident", T0) == third
    # The dedupe window is event time: past it, the record is gone for everyone.
    assert ledger.get("incident", T0 + timedelta(hours=2)) is None


def test_firestore_calls_are_bounded_by_api_timeout(
    sandbox: Sandbox, clients: GoogleClients
) -> None:
    ledger = FirestoreLedger(clients.firestore, "p1", "(default)", "pullfix-test", timeout=1.0)
    sandbox.add_fault(method="firestore.projects.databases.documents.get", status=503, count=None)
    with pytest.raises(TransientError):
        ledger.get("anything", T0)
    # The client's own default retries go on for up to a minute; api_timeout (1 s, backoff
    # from 50 ms doubling to 1 s) leaves room for a handful of attempts. api_core draws each
    # sleep at random below its current bound, so the count varies (about 6 on average);
    # more than 12 would take eleven sleeps in a row near zero.
    attempts = sandbox.stats()["requests"]["firestore.projects.databases.documents.get"]
    assert 1 <= attempts <= 12
