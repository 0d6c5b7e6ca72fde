"""Both ledgers, with the same meaning: the memory one, and Firestore's REST API against the
sandbox's Firestore."""

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
    return FirestoreLedger(clients.rest, "p1", "(default)", "pullfix-test", timeout=2.0)


def test_the_hourly_cap_is_the_sliding_sixty_minutes_in_both(ledger: Ledger) -> None:
    assert ledger.take_grant_slot(T0 + timedelta(minutes=50), 2)
    assert ledger.take_grant_slot(T0 + timedelta(minutes=70), 2)  # another clock hour
    assert not ledger.take_grant_slot(T0 + timedelta(minutes=80), 2)  # two in the last 60
    assert ledger.take_grant_slot(T0 + timedelta(minutes=111), 2)  # the first is 61 min old
    assert not ledger.take_grant_slot(T0 + timedelta(minutes=112), 0)


def test_the_cap_holds_whatever_order_the_grant_times_come_in(ledger: Ledger) -> None:
    # Newest first: each grant's hour holds the ones made "after" it too.
    taken = [ledger.take_grant_slot(T0 + timedelta(minutes=59 - i), 2) for i in range(4)]
    assert taken == [True, True, False, False]
    # More than an hour before the latest grant: what it would count may be forgotten.
    assert not ledger.take_grant_slot(T0 - timedelta(minutes=2), 2)
    # The grant at 59 minutes was not forgotten for having come first.
    assert not ledger.take_grant_slot(T0 + timedelta(minutes=100), 2)
    assert ledger.take_grant_slot(T0 + timedelta(minutes=160), 2)
    assert not ledger.take_grant_slot(T0 + timedelta(minutes=90), 2)  # again, too far back
    assert ledger.take_grant_slot(T0 + timedelta(minutes=130), 2)  # only 160 within its hour


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
    ledger = FirestoreLedger(clients.rest, "p1", "(default)", "pullfix-test", timeout=1.0)
    sandbox.add_fault(method="firestore.projects.databases.documents.get", status=503, count=None)
    with pytest.raises(TransientError):
        ledger.get("anything", T0)
    # api_timeout (1 s, backoff from 50 ms doubling to 1 s) leaves room for a handful of
    # attempts. Each sleep is drawn at random below its current bound, so the count varies;
    # more than 12 would take eleven sleeps in a row near zero.
    attempts = sandbox.stats()["requests"]["firestore.projects.databases.documents.get"]
    assert 1 <= attempts <= 12


def test_the_official_client_reads_what_the_ledger_wrote(clients: GoogleClients) -> None:
    # The ledger speaks Firestore's REST JSON itself; the generated client (on its REST
    # transport) must read the same document: string fields, and a timestamp for the TTL.
    ledger = FirestoreLedger(clients.rest, "p1", "(default)", "pullfix-json", timeout=2.0)
    data = lease_fields(State.WORKING, "m1", 1_000_000.5, 30)
    assert ledger.claim("k1", T0, 3600, data).new
    doc = clients.firestore.get_document(
        request={"name": "projects/p1/databases/(default)/documents/pullfix-json/k1"}
    )
    assert {k: v.string_value for k, v in doc.fields.items() if k != "expires_at"} == data
    assert doc.fields["expires_at"].timestamp_value == T0 + timedelta(hours=1)
    ledger.open_incident("k1", {"cause": "role"}, T0 + timedelta(days=1))
    assert ledger.open_incidents(T0, 10) == [("k1", {"cause": "role"})]
    listed = list(
        clients.firestore.list_documents(
            request={
                "parent": "projects/p1/databases/(default)/documents",
                "collection_id": "pullfix-json-open",
            }
        )
    )
    assert [d.fields["cause"].string_value for d in listed] == ["role"]


def test_open_incidents_are_listed_across_pages(clients: GoogleClients) -> None:
    # Firestore answers at most 300 documents a page here: 305 take two pages.
    ledger = FirestoreLedger(clients.rest, "p1", "(default)", "pullfix-pages", timeout=2.0)
    for i in range(305):
        ledger.open_incident(f"k{i:03}", {"n": str(i)}, T0 + timedelta(days=1))
    ledger.open_incident("k999-gone", {"n": "x"}, T0 - timedelta(seconds=1))
    assert [key for key, _ in ledger.open_incidents(T0, 5)] == [
        "k000",
        "k001",
        "k002",
        "k003",
        "k004",
    ]
    found = ledger.open_incidents(T0, 1000)
    assert [key for key, _ in found] == [f"k{i:03}" for i in range(305)]  # not the expired one
