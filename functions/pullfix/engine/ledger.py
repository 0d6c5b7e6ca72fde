"""The dedupe ledger: incident fingerprints claimed atomically for a window of event time.

`MemoryLedger` serves one instance (and `pullfix replay`); `FirestoreLedger` serves every
instance at once, with Firestore's preconditions making each claim atomic. Records carry
`expires_at` (a Firestore TTL policy on that field deletes them).

Open incidents (kept for verification) form a queue: each pass takes the least recently
checked ones and puts them back at the end (`mark_checked`), so that with `verify_per_run`
N every open incident is checked within ceil(open / N) passes.
"""

from __future__ import annotations

import bisect
import contextlib
import heapq
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pullfix.core.intake import format_timestamp, parse_timestamp
from pullfix.core.ledger import Claim, Ledger
from pullfix.core.model import TransientError
from pullfix.gcp.errors import Conflict, FailedPrecondition, NotFound
from pullfix.gcp.retries import bounded_retry

__all__ = [
    "HISTORY_KEPT",
    "MAX_HISTORY",
    "Claim",
    "FirestoreLedger",
    "IncidentHistory",
    "Ledger",
    "MemoryLedger",
]

_ATTEMPTS = 6

# The document that counts grants for the hourly cap.
_GRANT_TIMES = "cap-grant-times"
# How many open incidents MemoryLedger keeps (about 7 KB each, the stored outcome mostly:
# some 35 MB); past it, the incident that would be given up first is forgotten.
MAX_OPEN_IN_MEMORY = 5000
# Where an open incident stands in the verification queue (FirestoreLedger): when it was
# opened or last checked.
_CHECKED = "checked_at"
# Firestore's limit on the writes of one commit.
_WRITES_PER_COMMIT = 500
# Incident history (`pullfix incidents`): each incident's outcomes as published, in order, at
# most MAX_HISTORY of them (the first, and the latest after it: an outcome is some 7 KB, and
# a Firestore document at most 1 MiB), kept HISTORY_KEPT after the incident's last outcome.
MAX_HISTORY = 20
HISTORY_KEPT = timedelta(days=90)
_UPDATED = "updated_at"


def _appended(outcomes: list[str], text: str) -> list[str] | None:
    """`outcomes` with `text` added (bounded), or None when it is there already (an outcome
    published twice, as the outbox may)."""
    if text in outcomes:
        return None
    kept = [*outcomes, text]
    if len(kept) > MAX_HISTORY:
        kept = [kept[0], *kept[len(kept) - MAX_HISTORY + 1 :]]
    return kept


class IncidentHistory(Protocol):
    """Every outcome of each incident, in the order published (both ledgers keep it)."""

    def record_outcome(self, key: str, text: str, now: datetime) -> None:
        """Add an outcome (its JSON text) to incident `key`'s history; one already there
        is not added again."""
        ...

    def incident_history(self, key: str) -> list[str] | None:
        """The outcomes of incident `key`, oldest first; None for an incident not kept."""
        ...

    def incident_histories(self, since: datetime | None, limit: int) -> list[tuple[str, list[str]]]:
        """Up to `limit` incidents with an outcome at or after `since`, the latest first."""
        ...


def _leased(record: dict[str, str], wall: float) -> bool:
    """Whether a worker's lease on the record still runs at wall-clock `wall`."""
    return float(record.get("lease_until") or 0) > wall


class MemoryLedger:
    """A ledger in this process's memory."""

    def __init__(self, max_open: int = MAX_OPEN_IN_MEMORY) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, tuple[datetime, dict[str, str]]] = {}
        # (expiry, key) of every record written: expired ones are dropped a few per claim,
        # so a claim costs O(log n) and memory follows the live records.
        self._expiries: list[tuple[datetime, str]] = []
        self._grants: list[datetime] = []  # sorted
        # Open incidents: (kept until, data, place in the verification queue).
        self._open: dict[str, tuple[datetime, dict[str, str], int]] = {}
        self._max_open = max_open
        self._turn = 0  # the last place given out
        # Incident history: key -> (last outcome's time, outcomes); bounded as open ones are.
        self._history: dict[str, tuple[datetime, list[str]]] = {}

    def _store(self, key: str, now: datetime, window: int, data: dict[str, str]) -> None:
        expires = now + timedelta(seconds=window)
        self._records[key] = (expires, dict(data))
        heapq.heappush(self._expiries, (expires, key))
        for _ in range(2):  # amortised: two pops for every push keep the heap bounded
            if not self._expiries or self._expiries[0][0] > now:
                break
            expired, old = heapq.heappop(self._expiries)
            held = self._records.get(old)
            if held is not None and held[0] == expired:
                del self._records[old]

    def claim(self, key: str, now: datetime, window: int, data: dict[str, str]) -> Claim:
        with self._lock:
            held = self._records.get(key)
            if held is not None and held[0] > now:
                return Claim(False, dict(held[1]))
            self._store(key, now, window, data)
            return Claim(True, dict(data))

    def get(self, key: str, now: datetime) -> dict[str, str] | None:
        with self._lock:
            held = self._records.get(key)
            return dict(held[1]) if held is not None and held[0] > now else None

    def take_over(
        self, key: str, now: datetime, window: int, data: dict[str, str], wall: float
    ) -> Claim:
        with self._lock:
            held = self._records.get(key)
            if held is not None and held[0] > now and _leased(held[1], wall):
                return Claim(False, dict(held[1]))
            self._store(key, now, window, data)
            return Claim(True, dict(data))

    def update(self, key: str, data: dict[str, str]) -> None:
        with self._lock:
            if key in self._records:
                self._records[key][1].update(data)

    def release(self, key: str) -> None:
        with self._lock:
            self._records.pop(key, None)

    def set_flag_once(self, key: str, flag: str, now: datetime, value: str = "true") -> bool:
        with self._lock:
            held = self._records.get(key)
            if held is None or held[0] <= now or held[1].get(flag):
                return False
            held[1][flag] = value
            return True

    def take_grant_slot(self, now: datetime, limit: int) -> bool:
        with self._lock:
            # Kept sorted: counting is two bisections. Only grants more than two hours before
            # the latest one are dropped; an hour either side of `now` is what counts, so a
            # `now` more than an hour before the latest grant cannot be counted: refused.
            hour = timedelta(hours=1)
            latest = max(now, self._grants[-1]) if self._grants else now
            if now < latest - hour:
                return False
            del self._grants[: bisect.bisect_right(self._grants, latest - 2 * hour)]
            within = bisect.bisect_right(self._grants, now + hour) - bisect.bisect_right(
                self._grants, now - hour
            )
            if within >= limit:
                return False
            bisect.insort(self._grants, now)
            return True

    def open_incident(self, key: str, data: dict[str, str], until: datetime) -> None:
        with self._lock:
            held = self._open.get(key)
            if held is not None:  # a refresh keeps the incident's place in the queue
                self._open[key] = (until, {**held[1], **data}, held[2])
                return
            if len(self._open) >= self._max_open:
                # Bounded: forget the incident that would have been given up first.
                del self._open[min(self._open, key=lambda k: self._open[k][0])]
            self._turn += 1
            self._open[key] = (until, dict(data), self._turn)

    def open_incidents(self, now: datetime, limit: int) -> list[tuple[str, dict[str, str]]]:
        with self._lock:
            for key in [k for k, (until, _, _) in self._open.items() if until <= now]:
                del self._open[key]
            keys = heapq.nsmallest(limit, self._open, key=lambda k: (self._open[k][2], k))
            return [(key, dict(self._open[key][1])) for key in keys]

    def mark_checked(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                held = self._open.get(key)
                if held is not None:
                    self._turn += 1
                    self._open[key] = (held[0], held[1], self._turn)

    def close_incident(self, key: str) -> None:
        with self._lock:
            self._open.pop(key, None)

    def record_outcome(self, key: str, text: str, now: datetime) -> None:
        with self._lock:
            held = self._history.get(key)
            kept = _appended(held[1] if held else [], text)
            if kept is None:
                return
            if held is None and len(self._history) >= self._max_open:
                del self._history[min(self._history, key=lambda k: self._history[k][0])]
            self._history[key] = (max(now, held[0]) if held else now, kept)

    def incident_history(self, key: str) -> list[str] | None:
        with self._lock:
            held = self._history.get(key)
            return list(held[1]) if held else None

    def incident_histories(self, since: datetime | None, limit: int) -> list[tuple[str, list[str]]]:
        with self._lock:
            keys = [k for k, (when, _) in self._history.items() if since is None or when >= since]
            keys.sort(key=lambda k: (self._history[k][0], k), reverse=True)
            return [(k, list(self._history[k][1])) for k in keys[:limit]]


class FirestoreLedger:
    """A ledger in Firestore, shared by every instance: Firestore's REST API (v1
    `documents.get`, `documents.commit`, `documents.runQuery`,
    https://firebase.google.com/docs/firestore/reference/rest) as JSON over `RestClient`.

    Each claim is one `commit` with a precondition: `currentDocument.exists: false` to
    create, `currentDocument.updateTime` (as read) to take over or change; Firestore refuses
    the write, atomically, when the precondition fails (409 ALREADY_EXISTS, 400
    FAILED_PRECONDITION). The generated Firestore client would send the same requests over
    gRPC, but importing it takes longer than the rest of a cold start.

    Open incidents carry `checked_at` (a timestamp: when the incident was opened, then when a
    pass last checked it), and a pass asks `runQuery` for the least recently checked, ordered
    by that field (Firestore's automatic single-field index serves it; `__name__` breaks
    ties). `checked_at` is wall-clock time, written only by the incident's creation and by
    `mark_checked`, so a refresh keeps the incident's place.

    The permissions these calls need are `pullfix.gcp.adapter.PERMISSIONS["ledger"]`, beside
    the adapter's own (Terraform's roles are held to that table).
    """

    def __init__(
        self,
        rest: Any,
        project: str,
        database: str,
        collection: str,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rest = rest
        self.project = project
        self.database_id = database
        self.database = f"projects/{project}/databases/{database}"
        self.collection = collection
        # `api_timeout` bounds each call, retries included.
        self.timeout = timeout
        self.retry = bounded_retry(timeout)
        self.clock = clock

    def _name(self, key: str, collection: str | None = None) -> str:
        return f"{self.database}/documents/{collection or self.collection}/{key}"

    @property
    def _open_collection(self) -> str:
        """Open incidents live in a collection of their own, listed by verification."""
        return f"{self.collection}-open"

    def _call(self, what: str, call: Any) -> Any:
        from pullfix.gcp.adapter import guard

        return guard(f"ledger {what}", call)

    def _commit(self, writes: list[dict[str, Any]]) -> Any:
        return self._call(
            "commit",
            lambda: self.retry(self.rest.post)(
                "firestore",
                "/v1/projects/{}/databases/{}/documents:commit",
                self.project,
                self.database_id,
                body={"writes": writes},
                timeout=self.timeout,
            ),
        )

    def _write(
        self,
        name: str,
        fields: dict[str, Any],
        precondition: dict[str, Any] | None = None,
        mask: list[str] | None = None,
    ) -> None:
        """One document write: `fields` (only the `mask` paths, if given), only while the
        `precondition` holds."""
        write: dict[str, Any] = {"update": {"name": name, "fields": fields}}
        if mask is not None:
            write["updateMask"] = {"fieldPaths": mask}
        if precondition is not None:
            write["currentDocument"] = precondition
        self._commit([write])

    def _read(self, key: str, collection: str | None = None) -> dict[str, Any] | None:
        """The document `key` of `collection` (the ledger's own by default), or None."""
        try:
            doc: dict[str, Any] = self._call(
                "read",
                lambda: self.retry(self.rest.get)(
                    "firestore",
                    "/v1/projects/{}/databases/{}/documents/{}/{}",
                    self.project,
                    self.database_id,
                    collection or self.collection,
                    key,
                    fields="name,fields,updateTime",
                    timeout=self.timeout,
                ),
            )
        except NotFound:
            return None
        return doc

    @staticmethod
    def _fields(data: dict[str, str], expires: datetime | None = None) -> dict[str, Any]:
        fields: dict[str, Any] = {k: {"stringValue": v} for k, v in data.items()}
        if expires is not None:
            fields["expires_at"] = {"timestampValue": format_timestamp(expires)}
        return fields

    @staticmethod
    def _data(doc: dict[str, Any]) -> dict[str, str]:
        fields = doc.get("fields") or {}
        return {
            k: str(v.get("stringValue", ""))
            for k, v in fields.items()
            if k not in ("expires_at", _CHECKED)
        }

    @staticmethod
    def _expires(doc: dict[str, Any]) -> datetime:
        """The record's expiry; a record without a readable one counts as expired."""
        value = ((doc.get("fields") or {}).get("expires_at") or {}).get("timestampValue")
        parsed = parse_timestamp(value) if isinstance(value, str) else None
        return parsed if parsed is not None else datetime.min.replace(tzinfo=UTC)

    @staticmethod
    def _as_read(doc: dict[str, Any]) -> dict[str, Any]:
        """The precondition that holds only while the document is as `doc` read it."""
        return {"updateTime": doc["updateTime"]}

    def claim(self, key: str, now: datetime, window: int, data: dict[str, str]) -> Claim:
        name = self._name(key)
        fields = self._fields(data, now + timedelta(seconds=window))
        for _ in range(_ATTEMPTS):
            try:
                self._write(name, fields, {"exists": False})
                return Claim(True, dict(data))
            except Conflict:  # ALREADY_EXISTS
                pass
            doc = self._read(key)
            if doc is None:
                continue  # released meanwhile: try to create it again
            if self._expires(doc) > now:
                return Claim(False, self._data(doc))
            try:  # an expired record: take it over, unless someone else just did
                self._write(name, fields, self._as_read(doc))
                return Claim(True, dict(data))
            except FailedPrecondition:
                continue
        raise TransientError(f"ledger: {key} kept changing while being claimed")

    def get(self, key: str, now: datetime) -> dict[str, str] | None:
        doc = self._read(key)
        if doc is None or self._expires(doc) <= now:
            return None
        return self._data(doc)

    def take_over(
        self, key: str, now: datetime, window: int, data: dict[str, str], wall: float
    ) -> Claim:
        fields = self._fields(data, now + timedelta(seconds=window))
        for _ in range(_ATTEMPTS):
            doc = self._read(key)
            if doc is None:
                return self.claim(key, now, window, data)
            if self._expires(doc) > now and _leased(self._data(doc), wall):
                return Claim(False, self._data(doc))
            try:  # only if nobody changed it since it was read
                self._write(self._name(key), fields, self._as_read(doc))
                return Claim(True, dict(data))
            except FailedPrecondition:
                continue
        raise TransientError(f"ledger: {key} kept changing while being taken over")

    def update(self, key: str, data: dict[str, str]) -> None:
        # NotFound: the record expired and was deleted; nothing is left to annotate.
        with contextlib.suppress(NotFound):
            self._write(self._name(key), self._fields(data), {"exists": True}, list(data))

    def release(self, key: str) -> None:
        self._commit([{"delete": self._name(key)}])

    def set_flag_once(self, key: str, flag: str, now: datetime, value: str = "true") -> bool:
        for _ in range(_ATTEMPTS):
            doc = self._read(key)
            if doc is None or self._expires(doc) <= now or self._data(doc).get(flag):
                return False
            try:
                fields = self._fields({flag: value})
                self._write(self._name(key), fields, self._as_read(doc), [flag])
                return True
            except FailedPrecondition:
                continue
        # The record kept changing and no flag was read: nobody is known to have set it, so
        # there is no answer to give but "try again" (the delivery is retried).
        raise TransientError(f"ledger: {key} kept changing while its {flag} was being set")

    def take_grant_slot(self, now: datetime, limit: int) -> bool:
        """The cap as MemoryLedger counts it (see `Ledger.take_grant_slot`): one document
        holds the times of the grants of the two hours up to the latest."""
        if limit <= 0:
            return False
        hour = timedelta(hours=1)
        for _ in range(_ATTEMPTS):
            doc = self._read(_GRANT_TIMES)
            times = []
            if doc is not None:
                times = [
                    datetime.fromisoformat(text)
                    for text in self._data(doc).get("times", "").split()
                ]
            latest = max([now, *times])
            if now < latest - hour:
                return False  # as MemoryLedger: its hour may reach before what is kept
            times = [when for when in times if when > latest - 2 * hour]
            if sum(1 for when in times if now - hour < when <= now + hour) >= limit:
                return False
            kept = " ".join(when.isoformat() for when in sorted([*times, now]))
            fields = self._fields({"times": kept}, latest + 2 * hour)
            precondition = {"exists": False} if doc is None else self._as_read(doc)
            try:
                self._write(self._name(_GRANT_TIMES), fields, precondition)
                return True
            except (Conflict, FailedPrecondition):
                continue
        raise TransientError("ledger: the grant counter kept changing")

    def _wall(self, offset: int = 0) -> dict[str, str]:
        """A `checked_at` value: the wall clock, plus `offset` microseconds."""
        when = datetime.fromtimestamp(self.clock(), UTC) + timedelta(microseconds=offset)
        return {"timestampValue": format_timestamp(when)}

    def open_incident(self, key: str, data: dict[str, str], until: datetime) -> None:
        # Created with its place in the queue (now); a refresh (a redelivery, an escalation)
        # changes only the fields given, so the incident keeps its place.
        name = self._name(key, self._open_collection)
        fields = self._fields(data, until)
        for _ in range(_ATTEMPTS):
            try:
                self._write(name, {**fields, _CHECKED: self._wall()}, {"exists": False})
                return
            except Conflict:  # ALREADY_EXISTS: open already
                pass
            try:
                self._write(name, fields, {"exists": True}, [*data, "expires_at"])
                return
            except NotFound:  # closed meanwhile: open it again
                continue
        raise TransientError(f"ledger: open incident {key} kept changing while being kept")

    def open_incidents(self, now: datetime, limit: int) -> list[tuple[str, dict[str, str]]]:
        """`runQuery`, least recently checked first: a page of `limit` at a time, each after
        the last one read (a cursor on `checked_at` and `__name__`), until `limit` live
        incidents are found. Documents without `checked_at` (none that `open_incident`
        writes) are not in the answer: ordering by a field leaves out documents without it."""
        found: list[tuple[str, dict[str, str]]] = []
        after: list[dict[str, Any]] | None = None
        while len(found) < limit:
            query: dict[str, Any] = {
                "from": [{"collectionId": self._open_collection}],
                "orderBy": [
                    {"field": {"fieldPath": _CHECKED}, "direction": "ASCENDING"},
                    {"field": {"fieldPath": "__name__"}, "direction": "ASCENDING"},
                ],
                "limit": limit - len(found),
            }
            if after is not None:
                query["startAt"] = {"values": after, "before": False}
            answers: list[dict[str, Any]] = self._call(
                "query",
                lambda q=query: self.retry(self.rest.post)(
                    "firestore",
                    "/v1/projects/{}/databases/{}/documents:runQuery",
                    self.project,
                    self.database_id,
                    body={"structuredQuery": q},
                    timeout=self.timeout,
                ),
            )
            docs = [answer["document"] for answer in answers if answer.get("document")]
            for doc in docs:
                key = str(doc["name"]).rsplit("/", 1)[1]
                if "expires_at" in (doc.get("fields") or {}) and self._expires(doc) <= now:
                    # Past its keep time: closed, though Firestore's TTL may take a day to
                    # delete it; deleted here so that it takes no place in later passes.
                    self.close_incident(key)
                    continue
                found.append((key, self._data(doc)))
            if len(docs) < query["limit"]:
                break
            last = docs[-1]
            after = [(last.get("fields") or {})[_CHECKED], {"referenceValue": last["name"]}]
        return found

    def mark_checked(self, keys: list[str]) -> None:
        """`checked_at` now, in the order of `keys`, a commit per 500; an incident closed
        meanwhile is not opened again (`exists` precondition)."""
        writes = [
            {
                "update": {
                    "name": self._name(key, self._open_collection),
                    "fields": {_CHECKED: self._wall(number)},
                },
                "updateMask": {"fieldPaths": [_CHECKED]},
                "currentDocument": {"exists": True},
            }
            for number, key in enumerate(keys)
        ]
        for start in range(0, len(writes), _WRITES_PER_COMMIT):
            chunk = writes[start : start + _WRITES_PER_COMMIT]
            try:
                self._commit(chunk)
            except NotFound:
                # One was closed meanwhile, and a commit is all or nothing: one at a time.
                for write in chunk:
                    with contextlib.suppress(NotFound):
                        self._commit([write])

    def close_incident(self, key: str) -> None:
        self._commit([{"delete": self._name(key, self._open_collection)}])

    # -- incident history ----------------------------------------------------------------

    @property
    def _history_collection(self) -> str:
        return f"{self.collection}-history"

    @staticmethod
    def _outcomes(doc: dict[str, Any]) -> list[str]:
        values = ((doc.get("fields") or {}).get("outcomes") or {}).get("arrayValue") or {}
        return [str(v.get("stringValue", "")) for v in values.get("values") or []]

    def record_outcome(self, key: str, text: str, now: datetime) -> None:
        """One document per incident in the `-history` collection: `outcomes` (an array of
        JSON strings), `updated_at` (the latest outcome's time, which `incident_histories`
        orders by) and `expires_at` (for a TTL policy), changed only as read."""
        name = self._name(key, self._history_collection)
        for _ in range(_ATTEMPTS):
            doc = self._read(key, self._history_collection)
            kept = _appended(self._outcomes(doc) if doc else [], text)
            if kept is None:
                return
            fields = {
                "outcomes": {"arrayValue": {"values": [{"stringValue": t} for t in kept]}},
                _UPDATED: {"timestampValue": format_timestamp(now)},
                "expires_at": {"timestampValue": format_timestamp(now + HISTORY_KEPT)},
            }
            precondition = {"exists": False} if doc is None else self._as_read(doc)
            try:
                self._write(name, fields, precondition)
                return
            except (Conflict, FailedPrecondition):
                continue
        raise TransientError(f"ledger: the history of {key} kept changing")

    def incident_history(self, key: str) -> list[str] | None:
        doc = self._read(key, self._history_collection)
        return self._outcomes(doc) if doc is not None else None

    def incident_histories(self, since: datetime | None, limit: int) -> list[tuple[str, list[str]]]:
        """`runQuery` ordered by `updated_at`, latest first, ending at `since` (a cursor, so
        the automatic single-field index serves it)."""
        query: dict[str, Any] = {
            "from": [{"collectionId": self._history_collection}],
            "orderBy": [{"field": {"fieldPath": _UPDATED}, "direction": "DESCENDING"}],
            "limit": limit,
        }
        if since is not None:
            query["endAt"] = {
                "values": [{"timestampValue": format_timestamp(since)}],
                "before": False,
            }
        answers: list[dict[str, Any]] = self._call(
            "query",
            lambda: self.retry(self.rest.post)(
                "firestore",
                "/v1/projects/{}/databases/{}/documents:runQuery",
                self.project,
                self.database_id,
                body={"structuredQuery": query},
                timeout=self.timeout,
            ),
        )
        return [
            (str(answer["document"]["name"]).rsplit("/", 1)[1], self._outcomes(answer["document"]))
            for answer in answers
            if answer.get("document")
        ]
