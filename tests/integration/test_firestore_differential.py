"""The sandbox's Firestore held to Google's Firestore emulator: the same ledger operations and
the same raw writes on both give the same results, the same error codes and the same
documents (times aside: each server has its own clock)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pullfix.core.model import GoogleApiError as ApiError
from pullfix.dev.sandbox import Sandbox
from pullfix.engine.ledger import FirestoreLedger
from pullfix.gcp.clients import GoogleClients
from pullfix.gcp.endpoints import emulator_hosts, sandbox_endpoint
from tests.emulators import Running

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
DB = "projects/p1/databases/(default)/documents"
COLLECTIONS = ("ledger", "ledger-open", "raw")
_TIMES = ("createTime", "updateTime", "readTime", "commitTime")


@pytest.fixture
def both(sandbox: Sandbox, firestore_emulator: Running) -> Iterator[list[GoogleClients]]:
    double = GoogleClients(sandbox_endpoint(sandbox.endpoint))
    google = GoogleClients(
        None, emulator_hosts({"FIRESTORE_EMULATOR_HOST": firestore_emulator.host})
    )
    yield [double, google]
    double.close()
    google.close()


def _timeless(value: Any) -> Any:
    """`value` without server times (each server's clock is its own)."""
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items() if k not in _TIMES}
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    return value


def _outcome(step: Callable[[], Any]) -> Any:
    """A step's result, or its error as Google's HTTP code and status."""
    try:
        return ("ok", _timeless(step()))
    except ApiError as exc:
        return ("error", exc.code, exc.status)


def _documents(clients: GoogleClients) -> dict[str, Any]:
    """Every document of the collections the steps write, as `documents.get` answers it."""
    found: dict[str, Any] = {}
    for collection in COLLECTIONS:
        page = clients.rest.get(
            "firestore",
            "/v1/projects/{}/databases/{}/documents/{}",
            "p1",
            "(default)",
            collection,
            fields="documents",
            timeout=5.0,
        )
        for doc in page.get("documents", []):
            found[doc["name"]] = _timeless(doc)
    return found


def _commit(clients: GoogleClients, *writes: dict[str, Any]) -> Any:
    return clients.rest.post(
        "firestore",
        "/v1/projects/{}/databases/{}/documents:commit",
        "p1",
        "(default)",
        body={"writes": list(writes)},
        timeout=5.0,
    )


def _update(
    name: str, fields: dict[str, Any], mask: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    write: dict[str, Any] = {"update": {"name": f"{DB}/raw/{name}", "fields": fields}, **extra}
    if mask is not None:
        write["updateMask"] = {"fieldPaths": mask}
    return write


def _text(value: str) -> dict[str, Any]:
    return {"stringValue": value}


def _ledger_steps(ledger: FirestoreLedger) -> list[Callable[[], Any]]:
    later = T0 + timedelta(hours=2)
    return [
        lambda: ledger.claim("k1", T0, 3600, {"state": "working", "lease_until": "100.000"}),
        lambda: ledger.claim("k1", T0, 3600, {"state": "working", "lease_until": "200.000"}),
        lambda: ledger.get("k1", T0),
        lambda: ledger.take_over("k1", T0, 3600, {"state": "working", "holder": "b"}, 50.0),
        lambda: ledger.take_over("k1", T0, 3600, {"state": "working", "holder": "c"}, 150.0),
        lambda: ledger.update("k1", {"state": "acted", "result": "x"}),
        lambda: ledger.update("gone", {"state": "acted"}),
        lambda: ledger.set_flag_once("k1", "escalated", T0, "m1"),
        lambda: ledger.set_flag_once("k1", "escalated", T0, "m2"),
        lambda: ledger.claim("k1", later, 60, {"state": "working"}),  # expired: taken over
        lambda: ledger.take_grant_slot(T0, 2),
        lambda: ledger.take_grant_slot(T0 + timedelta(minutes=1), 2),
        lambda: ledger.take_grant_slot(T0 + timedelta(minutes=2), 2),
        lambda: ledger.open_incident("i1", {"cause": "role"}, T0 + timedelta(days=1)),
        lambda: ledger.open_incident("i2", {"cause": "scope"}, T0 + timedelta(days=1)),
        lambda: ledger.open_incident("i1", {"escalated": "true"}, T0 + timedelta(days=2)),
        lambda: ledger.open_incidents(T0, 10),
        lambda: ledger.mark_checked(["i1", "gone"]),
        lambda: ledger.open_incidents(T0, 10),
        lambda: ledger.close_incident("i2"),
        lambda: ledger.release("k1"),
        lambda: ledger.get("k1", T0),
    ]


def test_every_ledger_operation_gives_the_same_results_and_documents(
    both: list[GoogleClients],
) -> None:
    transcripts = []
    for clients in both:
        ticks = iter(range(1_000_000, 2_000_000, 10))  # the same wall clock for both
        ledger = FirestoreLedger(
            clients.rest, "p1", "(default)", "ledger", timeout=5.0, clock=ticks.__next__
        )
        transcript = []
        for step in _ledger_steps(ledger):
            transcript.append((_outcome(step), _documents(clients)))
        transcripts.append(transcript)
    for number, (double, google) in enumerate(zip(*transcripts, strict=True)):
        assert double == google, f"step {number}"


RAW_WRITES: dict[str, list[dict[str, Any]]] = {
    "create": [_update("a", {"n": _text("1")}, currentDocument={"exists": False})],
    "create again": [_update("a", {"n": _text("2")}, currentDocument={"exists": False})],
    "update a missing document": [_update("none", {}, currentDocument={"exists": True})],
    "stale update time": [_update("a", {}, currentDocument={"updateTime": "2020-01-01T00:00:00Z"})],
    "delete a missing document": [{"delete": f"{DB}/raw/none"}],
    # Firestore's limits (https://cloud.google.com/firestore/quotas): a field value of at
    # most 1 MiB - 89 bytes, a document id of at most 1,500 bytes, not . or .., not __.*__.
    "a value of 1 MiB - 89 bytes": [_update("big", {"s": _text("x" * (2**20 - 89))})],
    "a value of 1 MiB - 88 bytes": [_update("big", {"s": _text("x" * (2**20 - 88))})],
    # A document of at most 1 MiB, sized as https://cloud.google.com/firestore/docs/storage-size
    # says: here 16 + 4 ("raw") + 5 ("big2") for the name, 2 + 2 for the field names, each
    # string's bytes + 1, and 32: 1,048,576 bytes with 1,048,513 bytes of text.
    "a document of 1 MiB": [
        _update("big2", {"a": _text("x" * 524_257), "b": _text("y" * 524_256)})
    ],
    "a document of 1 MiB + 1 byte": [
        _update("big2", {"a": _text("x" * 524_257), "b": _text("y" * 524_257)})
    ],
    "a reserved field name": [_update("a", {"__n__": _text("v")})],
    "a reserved field name in a map": [
        _update("a", {"m": {"mapValue": {"fields": {"__n__": _text("v")}}}})
    ],
    "an empty field name": [_update("a", {"": _text("v")})],
    "an id of 1,500 bytes": [_update("k" * 1500, {})],
    "an id of 1,501 bytes": [_update("k" * 1501, {})],
    "a reserved id": [_update("__reserved__", {})],
    "an id of two periods": [_update("..", {})],
    # Field paths in a mask: a segment that is not a letter, digit or _ must be quoted; a
    # `.` separates the segments of a nested field.
    "an unquoted - in a mask": [_update("a", {"a-b": _text("v")}, ["a-b"])],
    "a quoted - in a mask": [_update("a", {"a-b": _text("v")}, ["`a-b`"])],
    "a nested path in a mask": [
        _update("a", {"m": {"mapValue": {"fields": {"x": _text("1"), "y": _text("2")}}}}, ["m.x"])
    ],
    "a nested path deleted by a mask": [_update("a", {}, ["m.y"])],
    "a field named with a period, without a mask": [_update("b", {"p.q": _text("v")})],
}


def test_raw_writes_meet_the_same_limits_and_field_path_rules(
    both: list[GoogleClients],
) -> None:
    transcripts = []
    for clients in both:
        transcript = {}
        for what, writes in RAW_WRITES.items():
            outcome = _outcome(lambda w=writes, c=clients: _commit(c, *w))
            transcript[what] = (outcome, _documents(clients))
        transcripts.append(transcript)
    double, google = transcripts
    for what in RAW_WRITES:
        assert double[what] == google[what], what


def test_a_transaction_s_reads_lock_out_other_writers(both: list[GoogleClients]) -> None:
    # Firestore's server clients lock what a transaction reads: a write to it waits for the
    # transaction, and is aborted if it does not end in time.
    name = f"{DB}/raw/locked"

    def call(clients: GoogleClients, method: str, body: dict[str, Any]) -> Any:
        return clients.rest.post(
            "firestore",
            "/v1/projects/{}/databases/{}/documents:" + method,
            "p1",
            "(default)",
            body=body,
            timeout=30.0,
        )

    def begin_and_read(clients: GoogleClients) -> str:
        transaction = str(call(clients, "beginTransaction", {})["transaction"])
        call(clients, "batchGet", {"documents": [name], "transaction": transaction})
        return transaction

    def write(clients: GoogleClients, n: str, transaction: str | None = None) -> Any:
        body: dict[str, Any] = {"writes": [_update("locked", {"n": _text(n)})]}
        if transaction:
            body["transaction"] = transaction
        return _outcome(lambda: call(clients, "commit", body))

    transcripts = []
    for clients in both:
        transcript = [write(clients, "0")]
        first = begin_and_read(clients)
        transcript.append(write(clients, "plain"))  # locked out: aborted
        transcript.append(write(clients, "1", first))
        second, third = begin_and_read(clients), begin_and_read(clients)
        transcript.append(write(clients, "2", second))  # third holds a lock: aborted
        transcript.append(write(clients, "3", third))  # second ended: free
        transcript.append(write(clients, "4", second))  # second is over
        transcripts.append((transcript, _documents(clients)))
    assert transcripts[0] == transcripts[1]
    (steps, documents) = transcripts[1]
    assert [step[:2] for step in steps] == [
        ("ok", {"writeResults": [{}]}),
        ("error", 409),
        ("ok", {"writeResults": [{}]}),
        ("error", 409),
        ("ok", {"writeResults": [{}]}),
        ("error", 400),
    ]
    assert documents[name]["fields"] == {"n": _text("3")}
