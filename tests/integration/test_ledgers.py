"""Both ledgers, with the same meaning: the memory one, and Firestore's REST API against the
sandbox's Firestore and against Google's Firestore emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pullfix.core.lifecycle import State, lease_fields
from pullfix.core.model import TransientError
from pullfix.dev.sandbox import Sandbox
from pullfix.engine.ledger import FirestoreLedger, Ledger, MemoryLedger
from pullfix.gcp.clients import GoogleClients
from pullfix.gcp.endpoints import emulator_hosts
from tests.emulators import Running

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def run_query(clients: GoogleClients, request: dict[str, Any]) -> list[Any]:
    """`runQuery` as the official client sends it and reads its answer. The emulator's answer
    is one JSON array followed by a newline, which the REST transport's stream reader
    refuses ("Can only parse array of JSON objects"): there, the same request and answer
    messages go over the ledger's JSON client."""
    if "firestore" not in clients.emulators:
        return list(clients.firestore.run_query(request=request))
    from google.cloud.firestore_v1.types import RunQueryRequest, RunQueryResponse

    message = RunQueryRequest(request)
    parts = message.parent.split("/")
    path = "/".join(parts[5:])
    body = json.loads(RunQueryRequest.to_json(message))
    del body["parent"]
    answers = clients.rest.post(
        "firestore",
        "/v1/projects/{}/databases/{}/documents" + ("/" + path if path else "") + ":runQuery",
        parts[1],
        parts[3],
        body=body,
        timeout=2.0,
    )
    return [
        RunQueryResponse.from_json(json.dumps(answer), ignore_unknown_fields=True)
        for answer in answers
    ]


def emulator_clients(emulator: Running) -> GoogleClients:
    """Clients as FIRESTORE_EMULATOR_HOST makes them (no other API is called)."""
    return GoogleClients(None, emulator_hosts({"FIRESTORE_EMULATOR_HOST": emulator.host}))


@pytest.fixture(params=["sandbox", "emulator"])
def store(request: pytest.FixtureRequest) -> Iterator[GoogleClients]:
    """Clients whose Firestore is the sandbox's, or Google's emulator (empty)."""
    if request.param == "sandbox":
        yield request.getfixturevalue("clients")
        return
    made = emulator_clients(request.getfixturevalue("firestore_emulator"))
    yield made
    made.close()


@pytest.fixture(params=["memory", "firestore", "emulator"])
def ledger(request: pytest.FixtureRequest) -> Iterator[Ledger]:
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


def test_the_official_client_reads_what_the_ledger_wrote(store: GoogleClients) -> None:
    clients = store
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
    # The query a pass makes, as the official client sends it and reads the answer.
    answers = run_query(
        clients,
        {
            "parent": "projects/p1/databases/(default)/documents",
            "structured_query": {
                "from_": [{"collection_id": "pullfix-json-open"}],
                "order_by": [{"field": {"field_path": "checked_at"}}],
                "limit": 5,
            },
        },
    )
    assert [a.document.fields["cause"].string_value for a in answers] == ["role"]


def test_incidents_past_their_keep_time_take_no_place_in_a_pass(ledger: Ledger) -> None:
    # The first three in the queue are past their keep time: the pass reads on past them
    # (in Firestore, a second query from a cursor after the first answer's last document).
    for i in range(3):
        ledger.open_incident(f"gone{i}", {"n": "x"}, T0 - timedelta(seconds=1))
    for i in range(305):
        ledger.open_incident(f"k{i:03}", {"n": str(i)}, T0 + timedelta(days=1))
    assert [key for key, _ in ledger.open_incidents(T0, 5)] == [f"k{i:03}" for i in range(5)]
    found = ledger.open_incidents(T0, 1000)
    assert [key for key, _ in found] == [f"k{i:03}" for i in range(305)]


class _AnotherWriter:
    """A ledger's REST client, with another writer that changes `key`'s record (a field of
    its own, as a lease renewal does) just before each of this ledger's commits."""

    def __init__(self, rest: Any, other: FirestoreLedger, key: str) -> None:
        self.rest, self.other, self.key = rest, other, key
        self.renewals = 0

    def get(self, *args: Any, **kwargs: Any) -> Any:
        return self.rest.get(*args, **kwargs)

    def post(self, api: str, template: str, *parts: str, body: Any, timeout: float) -> Any:
        if template.endswith(":commit"):
            self.renewals += 1
            self.other.update(self.key, {"lease_until": str(self.renewals)})
        return self.rest.post(api, template, *parts, body=body, timeout=timeout)


def test_a_flag_is_said_taken_only_when_another_writer_set_it(store: GoogleClients) -> None:
    clients = store
    other = FirestoreLedger(clients.rest, "p1", "(default)", "pullfix-flag", timeout=2.0)
    assert other.claim("grant", T0, 3600, {"state": "granted"}).new
    busy = _AnotherWriter(clients.rest, other, "grant")
    ledger = FirestoreLedger(busy, "p1", "(default)", "pullfix-flag", timeout=2.0)
    # The record keeps changing, but nobody sets the flag: no answer can be given, so the
    # delivery is retried (never "someone else escalated").
    with pytest.raises(TransientError):
        ledger.set_flag_once("grant", "escalated", T0, "message:m1")
    assert busy.renewals >= 2
    assert "escalated" not in (other.get("grant", T0) or {})
    # Another writer's value, read: that is what "someone else set it" means.
    assert other.set_flag_once("grant", "escalated", T0, "message:m2")
    assert not FirestoreLedger(
        clients.rest, "p1", "(default)", "pullfix-flag", timeout=2.0
    ).set_flag_once("grant", "escalated", T0, "message:m1")
    assert (other.get("grant", T0) or {})["escalated"] == "message:m2"


def test_passes_take_the_least_recently_checked_incidents_first(ledger: Ledger) -> None:
    until = T0 + timedelta(days=1)
    for n in range(5):
        ledger.open_incident(f"k{n}", {"n": str(n)}, until)
    passes = []
    for _ in range(3):
        keys = [key for key, _ in ledger.open_incidents(T0, 2)]
        ledger.mark_checked(keys)
        passes.append(keys)
    # Oldest first, then round and round: nobody waits more than ceil(5 / 2) passes.
    assert passes == [["k0", "k1"], ["k2", "k3"], ["k4", "k0"]]
    # Refreshing an incident (a redelivery, an escalation) keeps its place in the queue,
    # and a new one queues behind the incidents already waiting.
    ledger.open_incident("k1", {"escalated": "true"}, until)
    ledger.open_incident("k5", {"n": "5"}, until)
    assert [key for key, _ in ledger.open_incidents(T0, 3)] == ["k1", "k2", "k3"]
    assert dict(ledger.open_incidents(T0, 10))["k1"] == {"n": "1", "escalated": "true"}
    ledger.close_incident("k2")
    ledger.mark_checked(["k2", "k1"])  # a closed incident stays closed
    assert [key for key, _ in ledger.open_incidents(T0, 10)] == ["k3", "k4", "k0", "k5", "k1"]
    # Past its keep time an incident is no longer listed (and takes no place in a pass).
    ledger.open_incident("k6", {"n": "6"}, T0 + timedelta(minutes=1))
    later = T0 + timedelta(minutes=2)
    assert "k6" not in [key for key, _ in ledger.open_incidents(later, 10)]


def test_the_memory_ledger_keeps_a_bounded_number_of_open_incidents() -> None:
    ledger = MemoryLedger(max_open=3)
    for n in range(5):
        ledger.open_incident(f"k{n}", {"n": str(n)}, T0 + timedelta(hours=n + 1))
    # The ones that would have been given up first are forgotten first.
    assert sorted(key for key, _ in ledger.open_incidents(T0, 10)) == ["k2", "k3", "k4"]
    ledger.open_incident("k4", {"escalated": "true"}, T0 + timedelta(hours=9))  # a refresh
    assert sorted(key for key, _ in ledger.open_incidents(T0, 10)) == ["k2", "k3", "k4"]


def test_run_query_is_answered_as_firestore_documents_it(store: GoogleClients) -> None:
    clients = store
    # Ordering by a field leaves out documents without it; `__name__` follows the last
    # direction; a cursor's `before` includes the rows equal to it.
    parent = "projects/p1/databases/(default)/documents"
    writes = [
        {"update": {"name": f"{parent}/q/{name}", "fields": fields}}
        for name, fields in [
            ("a", {"n": {"integerValue": "2"}}),
            ("b", {"n": {"doubleValue": 1.5}}),
            ("c", {"n": {"integerValue": "2"}}),
            ("d", {"other": {"stringValue": "no n"}}),
            ("e", {"n": {"stringValue": "text sorts after numbers"}}),
            ("a/sub/s1", {"n": {"integerValue": "0"}}),  # a subcollection's: not in q
        ]
    ]
    clients.rest.post(
        "firestore",
        "/v1/projects/{}/databases/{}/documents:commit",
        "p1",
        "(default)",
        body={"writes": writes},
        timeout=2.0,
    )

    def names(**query: Any) -> list[str]:
        answers = run_query(
            clients,
            {"parent": parent, "structured_query": {"from_": [{"collection_id": "q"}], **query}},
        )
        return [a.document.name.rsplit("/", 1)[1] for a in answers if a.document.name]

    by_n = [{"field": {"field_path": "n"}}]
    assert names(order_by=by_n) == ["b", "a", "c", "e"]
    assert names(order_by=[{"field": {"field_path": "n"}, "direction": "DESCENDING"}]) == [
        "e",
        "c",
        "a",
        "b",
    ]
    assert names(order_by=by_n, start_at={"values": [{"integer_value": 2}], "before": True}) == [
        "a",
        "c",
        "e",
    ]
    assert names(order_by=by_n, start_at={"values": [{"integer_value": 2}]}) == ["e"]
    assert names(order_by=by_n, offset=1, limit=2) == ["a", "c"]
    assert names(order_by=by_n, end_at={"values": [{"integer_value": 2}], "before": True}) == ["b"]
    assert names() == ["a", "b", "c", "d", "e"]  # no order: by name, all of them
    under_a = run_query(
        clients,
        {
            "parent": f"{parent}/q/a",
            "structured_query": {"from_": [{"collection_id": "sub"}], "order_by": by_n},
        },
    )
    assert [a.document.name.rsplit("/", 1)[1] for a in under_a] == ["s1"]
