"""The sandbox's Firestore: documents in memory, served over Firestore's REST API (v1).

The methods pullfix's ledger calls (`documents.get`, `documents.listDocuments`, `documents.commit`,
`documents.runQuery`) and those a transaction of the official client adds (`batchGet`,
`beginTransaction`, `rollback`), https://firebase.google.com/docs/firestore/reference/rest.
Requests and answers
are read and written with the client library's own messages (`google.cloud.firestore_v1.
types`, through protobuf's JSON mapping), so their JSON is the wire format the official
client's REST transport sends and parses.

Where Google's Firestore emulator showed the two differ, the sandbox follows Firestore
(tests/integration/test_firestore_differential.py holds it to the emulator): the limits of
https://cloud.google.com/firestore/quotas on ids and values, field paths in update masks
(quoting, nesting) and the locks a transaction's reads take.
"""

from __future__ import annotations

import re
import secrets
import threading
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from google.cloud.firestore_v1.types import common, document, firestore, write
from google.protobuf import json_format

from pullfix.core.intake import parse_timestamp
from pullfix.dev.sandbox.errors import ApiError

__all__ = ["FirestoreStore"]

M = TypeVar("M")


def _which(message: Any, oneof: str) -> str | None:
    result: str | None = type(message).pb(message).WhichOneof(oneof)
    return result


def _micros(moment: Any) -> int:
    """A timestamp (proto-plus gives a datetime) in microseconds since the epoch."""
    since: timedelta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return since // timedelta(microseconds=1)


def parse(kind: type[M], body: Any) -> M:
    """A request message from its JSON body; 400 INVALID_ARGUMENT when it is none."""
    message = kind.pb()()  # type: ignore[attr-defined]
    try:
        json_format.ParseDict(body if isinstance(body, dict) else {}, message)
    except json_format.ParseError as exc:
        raise ApiError(400, f"Invalid JSON payload received. {exc}") from exc
    return kind.wrap(message)  # type: ignore[attr-defined,no-any-return]


def to_json(message: Any) -> dict[str, Any]:
    """A message as the REST API writes it: camelCase names, RFC 3339 times, base64 bytes."""
    found: dict[str, Any] = json_format.MessageToDict(type(message).pb(message))
    return found


class FirestoreStore:
    """Documents by full name, with commit times that strictly increase."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        # Signalled whenever a transaction ends (its locks are released).
        self.ended = threading.Condition(self.lock)
        self.documents: dict[str, document.Document] = {}
        # Open transactions, each with the documents it read: Firestore's server clients
        # take a lock on what a transaction reads (pessimistic concurrency,
        # https://cloud.google.com/firestore/docs/transaction-data-contention): a write to
        # such a document waits for the transaction to end, and is ABORTED if it does not
        # end within LOCK_WAIT seconds.
        self.transactions: dict[bytes, set[str]] = {}
        self._clock = datetime.now(UTC)

    def tick(self) -> datetime:
        with self.lock:
            now = datetime.now(UTC)
            self._clock = max(now, self._clock + timedelta(microseconds=1))
            return self._clock

    # -- the REST methods, by their discovery ids -------------------------------------------

    def get(self, name: str) -> dict[str, Any]:
        """`documents.get`."""
        with self.lock:
            found = self.documents.get(name)
            if found is None:
                raise ApiError(404, f'Document "{name}" not found.')
            return to_json(found)

    def list_page(self, parent: str, collection: str, size: int, token: str) -> dict[str, Any]:
        """`documents.listDocuments`: one collection under `parent`, in name order, a page at a time
        (the page token is the last name of the page before)."""
        prefix = f"{parent}/{collection}/"
        with self.lock:
            names = sorted(
                name
                for name in self.documents
                if name.startswith(prefix) and "/" not in name[len(prefix) :] and name > token
            )
            size = size or 300
            page = [to_json(self.documents[name]) for name in names[:size]]
        answer: dict[str, Any] = {"documents": page} if page else {}
        if len(names) > size:
            answer["nextPageToken"] = names[size - 1]
        return answer

    def run_query(self, database: str, body: Any, parent: str = "") -> list[dict[str, Any]]:
        """`documents.runQuery` on a collection of the database (`parent` "") or of a document
        (`parent` "/collection/id"): a server stream, over REST one JSON array of
        responses. Served: one collection (`from`), `orderBy`, the cursors
        `startAt` and `endAt`, `offset`, `limit` and `select`; a `where` is answered 501.

        As Firestore documents it (https://cloud.google.com/firestore/docs/reference/rest/v1/
        StructuredQuery): `__name__` is appended to the ordering, in the direction of the last
        order given (ascending without any); ordering by a field leaves out the documents that
        lack it (https://firebase.google.com/docs/firestore/query-data/order-limit-data);
        values of different types order null, booleans, numbers, timestamps, strings, bytes,
        references (https://firebase.google.com/docs/firestore/manage-data/data-types); a
        cursor names values of the ordering's first fields, `before` meaning "just before
        them". With no result, one response with only `readTime`
        (https://cloud.google.com/firestore/docs/reference/rest/v1/projects.databases.documents/runQuery).
        """
        request = to_json(parse(firestore.RunQueryRequest, body))
        query = request.get("structuredQuery")
        if not isinstance(query, dict):
            raise ApiError(400, "structuredQuery is required")
        if "where" in query or "findNearest" in query:
            raise ApiError(501, "the sandbox's runQuery serves no where or findNearest")
        sources = query.get("from") or []
        if len(sources) != 1 or sources[0].get("allDescendants"):
            raise ApiError(501, "the sandbox's runQuery reads exactly one collection")
        prefix = f"{database}/documents{parent}/{sources[0].get('collectionId', '')}/"
        orders = [
            (str(order["field"]["fieldPath"]), order.get("direction") == "DESCENDING")
            for order in query.get("orderBy") or []
        ]
        if not any(path == "__name__" for path, _ in orders):
            orders.append(("__name__", orders[-1][1] if orders else False))
        with self.lock:
            read_time = self.tick()
            docs = [
                to_json(doc)
                for name, doc in self.documents.items()
                if name.startswith(prefix) and "/" not in name[len(prefix) :]
            ]
        rows = []
        for doc in docs:
            values = [_field_value(doc, path) for path, _ in orders]
            present = [value for value in values if value is not None]
            if len(present) == len(orders):  # ordering by a field needs the field
                keys = [_order_key(v, desc) for v, (_, desc) in zip(present, orders, strict=True)]
                rows.append((keys, doc))
        rows.sort(key=lambda row: row[0])
        start, end = query.get("startAt"), query.get("endAt")
        if start is not None:
            rows = [row for row in rows if _past_cursor(row[0], start, orders, after=True)]
        if end is not None:
            rows = [row for row in rows if _past_cursor(row[0], end, orders, after=False)]
        found = [doc for _, doc in rows][int(query.get("offset") or 0) :]
        if "limit" in query:
            found = found[: int(query["limit"])]
        selected = (query.get("select") or {}).get("fields")
        if selected is not None:
            paths = {str(field.get("fieldPath")) for field in selected}
            for doc in found:
                doc["fields"] = {k: v for k, v in (doc.get("fields") or {}).items() if k in paths}
        stamp = to_json(firestore.RunQueryResponse(read_time=read_time))["readTime"]
        if not found:
            return [{"readTime": stamp}]
        return [{"document": doc, "readTime": stamp} for doc in found]

    def commit_request(self, database: str, body: Any) -> dict[str, Any]:
        """`documents.commit`: every write, atomically, or none."""
        request = parse(firestore.CommitRequest, body)
        with self.lock:
            if request.transaction and request.transaction not in self.transactions:
                raise ApiError(400, "Transaction is invalid or has expired.")
            names = []
            for item in request.writes:
                name = item.update.name if _which(item, "operation") == "update" else item.delete
                if not name.startswith(f"{database}/documents/"):
                    raise ApiError(400, f"Document {name!r} is not in database {database!r}")
                names.append(name)
            try:
                self._wait_for_locks(names, request.transaction)
                commit_time, results = self.commit(list(request.writes))
            finally:
                self._end(request.transaction)
        return to_json(firestore.CommitResponse(write_results=results, commit_time=commit_time))

    def batch_get(self, database: str, body: Any) -> list[dict[str, Any]]:
        """`documents.batchGet`: a server stream, over REST one JSON array of responses."""
        request = parse(firestore.BatchGetDocumentsRequest, body)
        transaction = b""
        selector = _which(request, "consistency_selector")
        if selector == "new_transaction":
            transaction = self.new_transaction()
        with self.lock:
            held = transaction or (request.transaction if selector == "transaction" else b"")
            if held:
                if held not in self.transactions:
                    raise ApiError(400, "Transaction is invalid or has expired.")
                self.transactions[held].update(request.documents)
            read_time = self.tick()
            found = {name: self.documents.get(name) for name in request.documents}
        answers = []
        for index, name in enumerate(request.documents):
            response = firestore.BatchGetDocumentsResponse(read_time=read_time)
            if index == 0 and transaction:
                response.transaction = transaction
            doc = found[name]
            if doc is None:
                response.missing = name
            else:
                response.found = document.Document(doc)
            answers.append(to_json(response))
        return answers

    def begin_transaction(self) -> dict[str, Any]:
        """`documents.beginTransaction`."""
        return to_json(firestore.BeginTransactionResponse(transaction=self.new_transaction()))

    def rollback(self, body: Any) -> dict[str, Any]:
        """`documents.rollback`."""
        request = parse(firestore.RollbackRequest, body)
        self._end(request.transaction)
        return {}

    # -- the store ----------------------------------------------------------------------------

    def new_transaction(self) -> bytes:
        transaction = secrets.token_bytes(16)
        with self.lock:
            self.transactions[transaction] = set()
        return transaction

    def _end(self, transaction: bytes) -> None:
        """End a transaction (if one): its locks are released."""
        if transaction:
            with self.lock:
                if self.transactions.pop(transaction, None) is not None:
                    self.ended.notify_all()

    def _wait_for_locks(self, names: list[str], mine: bytes) -> None:
        """Wait until no other open transaction holds a lock on `names`; 409 ABORTED
        "Transaction lock timeout." after LOCK_WAIT seconds, as the emulator answers."""
        wanted = set(names)

        def free() -> bool:
            return not any(
                wanted & read for other, read in self.transactions.items() if other != mine
            )

        with self.lock:
            if not self.ended.wait_for(free, timeout=LOCK_WAIT):
                raise ApiError(409, "Transaction lock timeout.", status="ABORTED")

    def commit(self, writes: list[write.Write]) -> tuple[datetime, list[write.WriteResult]]:
        """Apply all writes atomically, or none: every precondition is checked first, and
        every write is held to Firestore's limits (`_check_write`)."""
        with self.lock:
            for item in writes:
                name = item.update.name if _which(item, "operation") == "update" else item.delete
                _check_write(name, item)
                self._check_precondition(name, item.current_document)
                if _which(item, "operation") not in ("update", "delete"):
                    raise ApiError(501, "the sandbox supports update and delete writes only")
                if item.update_transforms:
                    raise ApiError(501, "the sandbox does not apply field transforms")
            # Every resulting document is held to the size limit before any is stored.
            staged: dict[str, document.Document | None] = {}
            for item in writes:
                if _which(item, "operation") == "delete":
                    staged[item.delete] = None
                    continue
                name = item.update.name
                current = staged[name] if name in staged else self.documents.get(name)
                updated = _updated(item, current)
                if document_size(updated) > MAX_DOCUMENT_BYTES:
                    raise _invalid(f"maximum entity size is {MAX_DOCUMENT_BYTES} bytes")
                staged[name] = updated
            commit_time = self.tick()
            for name, doc in staged.items():
                if doc is None:
                    self.documents.pop(name, None)
                    continue
                current = self.documents.get(name)
                self.documents[name] = document.Document(
                    name=name,
                    fields=doc.fields,
                    create_time=current.create_time if current is not None else commit_time,
                    update_time=commit_time,
                )
            results = [write.WriteResult(update_time=commit_time) for _ in writes]
            return commit_time, results

    def _check_precondition(self, name: str, precondition: common.Precondition) -> None:
        kind = _which(precondition, "condition_type")
        current = self.documents.get(name)
        if kind == "exists":
            if precondition.exists and current is None:
                raise ApiError(404, f"No document to update: {name}")
            if not precondition.exists and current is not None:
                raise ApiError(409, f"Document already exists: {name}", status="ALREADY_EXISTS")
        elif kind == "update_time" and (
            current is None or current.update_time != precondition.update_time
        ):
            # Firestore's words, versions in microseconds, 0 for a document that is gone
            # (GoogleCloudPlatform/spring-cloud-gcp#2163, firebase/firebase-tools#1971).
            stored = _micros(current.update_time) if current is not None else 0
            raise ApiError(
                400,
                f"the stored version ({stored}) does not match the required base version "
                f"({_micros(precondition.update_time)})",
                status="FAILED_PRECONDITION",
            )


def _updated(item: write.Write, current: document.Document | None) -> document.Document:
    """The document an update write leaves (times unset)."""
    name = item.update.name
    if item.update_mask and item.update_mask.field_paths:
        # Each path names a field, nested under maps by its segments: set from the update
        # where it has the field, deleted where it has not.
        mine = to_json(current).get("fields", {}) if current is not None else {}
        given = to_json(item.update).get("fields", {})
        for path in item.update_mask.field_paths:
            segments = field_path(path)
            _put(mine, segments, _nested(given, segments))
        fields = document.Document(parse(document.Document, {"fields": mine})).fields
    else:
        fields = item.update.fields
    return document.Document(name=name, fields=fields)


def _name_size(name: str) -> int:
    """A document name's size: each collection and document id, in UTF-8, plus 1 byte;
    plus 16 bytes."""
    path = name.split("/documents/", 1)[1] if "/documents/" in name else name
    return sum(len(segment.encode()) + 1 for segment in path.split("/")) + 16


def _value_size(value: dict[str, Any]) -> int:
    """A value's size (JSON), by Firestore's rules."""
    kind, raw = next(iter(value.items()), ("nullValue", None))
    if kind == "stringValue":
        return len(str(raw).encode()) + 1
    if kind == "bytesValue":
        import base64

        return len(base64.b64decode(str(raw)))
    if kind == "referenceValue":
        return _name_size(str(raw))
    if kind == "mapValue":
        return _fields_size((raw or {}).get("fields") or {})
    if kind == "arrayValue":
        return sum(_value_size(v) for v in (raw or {}).get("values") or [])
    if kind == "geoPointValue":
        return 16
    if kind in ("booleanValue", "nullValue"):
        return 1
    return 8  # integer, double, timestamp


def _fields_size(fields: dict[str, Any]) -> int:
    return sum(len(k.encode()) + 1 + _value_size(v) for k, v in fields.items())


def document_size(doc: document.Document) -> int:
    """A document's storage size (https://cloud.google.com/firestore/docs/storage-size): its
    name's, its fields' names and values', and 32 bytes."""
    return _name_size(doc.name) + _fields_size(to_json(doc).get("fields", {})) + 32


# Firestore's limits (https://cloud.google.com/firestore/quotas, "Collections, documents, and
# fields"), as Google's Firestore emulator enforces them with these answers.
# How long a write waits for another transaction's lock (Google's emulator: 2 s).
LOCK_WAIT = 2.0
MAX_VALUE_BYTES = 2**20 - 89  # a field value: 1 MiB - 89 bytes
MAX_DOCUMENT_BYTES = 2**20  # a document, by `document_size`: 1 MiB
MAX_ID_BYTES = 1500  # a collection or document id
_RESERVED_ID = re.compile(r"__.*__", re.DOTALL)
# A field path's segment: unquoted, a letter or _ then letters, digits and _; else quoted in
# backticks, \` and \\ escaping (https://cloud.google.com/firestore/docs/reference/rest/v1/
# DocumentMask).
_SEGMENT = re.compile(r"([A-Za-z_][A-Za-z_0-9]*)|`((?:[^`\\]|\\.)+)`")


def _invalid(message: str) -> ApiError:
    return ApiError(400, message, status="INVALID_ARGUMENT")


def field_path(path: str) -> list[str]:
    """The segments of a field path, unquoted; 400 INVALID_ARGUMENT when it is not one."""
    segments: list[str] = []
    at = 0
    while True:
        found = _SEGMENT.match(path, at)
        if found is None:
            raise _invalid(
                f'Invalid property path "{path}". Unquoted property paths must match regex '
                "([a-zA-Z_][a-zA-Z_0-9]*), and quoted property paths must match regex "
                "(`(?:[^`\\\\]|(?:\\\\.))+`)"
            )
        plain, quoted = found.groups()
        segments.append(plain if plain is not None else re.sub(r"\\(.)", r"\1", quoted))
        at = found.end()
        if at == len(path):
            return segments
        if path[at] != ".":
            raise _invalid(f'Invalid property path "{path}".')
        at += 1


def _nested(fields: dict[str, Any], segments: list[str]) -> dict[str, Any] | None:
    """The value at `segments` under `fields` (JSON), or None."""
    value: Any = {"mapValue": {"fields": fields}}
    for segment in segments:
        value = ((value or {}).get("mapValue") or {}).get("fields", {}).get(segment)
        if value is None:
            return None
    found: dict[str, Any] = value
    return found


def _put(fields: dict[str, Any], segments: list[str], value: dict[str, Any] | None) -> None:
    """Set (or, for None, delete) the value at `segments` under `fields` (JSON)."""
    *parents, last = segments
    for segment in parents:
        holder = fields.get(segment)
        if holder is None or "mapValue" not in holder:
            if value is None:
                return
            holder = fields[segment] = {"mapValue": {"fields": {}}}
        fields = holder["mapValue"].setdefault("fields", {})
    if value is None:
        fields.pop(last, None)
    else:
        fields[last] = value


def _check_write(name: str, item: write.Write) -> None:
    """Firestore's limits on a write: its document's ids, its values, its mask's paths."""
    path = name.split("/documents/", 1)[1] if "/documents/" in name else ""
    for segment in path.split("/"):
        if segment in (".", ".."):
            raise _invalid(f'Document name "{name}" contains a resource id "{segment}".')
        if _RESERVED_ID.fullmatch(segment):
            raise _invalid(f'Resource id "{segment}" is invalid because it is reserved.')
        if len(segment.encode()) > MAX_ID_BYTES:
            raise _invalid(f"The key path element name is longer than {MAX_ID_BYTES} bytes.")
    if _which(item, "operation") != "update":
        return
    fields = to_json(item.update).get("fields", {})
    _check_names(fields)
    for field, value in fields.items():
        if _value_bytes(value) > MAX_VALUE_BYTES:
            raise _invalid(
                f'The value of property "{field}" is longer than {MAX_VALUE_BYTES} bytes.'
            )
    for mask_path in item.update_mask.field_paths if item.update_mask else []:
        field_path(mask_path)


def _check_names(fields: dict[str, Any]) -> None:
    """Field names, in maps too: not empty, not __.*__."""
    for field, value in fields.items():
        if not field:
            raise _invalid("The property.name is the empty string.")
        if _RESERVED_ID.fullmatch(field):
            raise _invalid(f"field name {field} is reserved")
        nested = (value.get("mapValue") or {}).get("fields")
        if nested:
            _check_names(nested)


def _value_bytes(value: dict[str, Any]) -> int:
    """The size of a string (UTF-8) or bytes value; 0 for other values."""
    if "stringValue" in value:
        return len(str(value["stringValue"]).encode())
    if "bytesValue" in value:
        import base64

        return len(base64.b64decode(str(value["bytesValue"])))
    return 0


# Firestore's order of value types (https://firebase.google.com/docs/firestore/manage-data/
# data-types): each kind of value JSON names, and its rank.
_TYPE_RANK = {
    "nullValue": 0,
    "booleanValue": 1,
    "integerValue": 2,
    "doubleValue": 2,
    "timestampValue": 3,
    "stringValue": 4,
    "bytesValue": 5,
    "referenceValue": 6,
    "geoPointValue": 7,
    "arrayValue": 8,
    "mapValue": 9,
}


def _field_value(doc: dict[str, Any], path: str) -> dict[str, Any] | None:
    """A document's value at a top-level field path (`__name__`: its name), or None."""
    if path == "__name__":
        return {"referenceValue": doc["name"]}
    value: dict[str, Any] | None = (doc.get("fields") or {}).get(path)
    return value


def _order_key(value: dict[str, Any], descending: bool) -> Any:
    """A sort key for one Firestore value (JSON), inverted for a descending order."""
    kind, raw = next(iter(value.items()))
    rank = _TYPE_RANK.get(kind)
    if rank is None:
        raise ApiError(501, f"the sandbox's runQuery does not order {kind}")
    key: Any
    if rank == 2:
        key = float(raw)
    elif kind == "timestampValue":
        moment = parse_timestamp(str(raw))
        if moment is None:
            raise ApiError(400, f"invalid timestamp {raw!r}")
        key = _micros(moment)
    elif kind in ("stringValue", "bytesValue"):
        key = str(raw).encode()
    elif kind == "referenceValue":
        key = tuple(str(raw).split("/"))
    elif kind == "booleanValue":
        key = bool(raw)
    elif rank == 0:
        key = 0
    else:
        raise ApiError(501, f"the sandbox's runQuery does not order {kind}")
    return _Inverted((rank, key)) if descending else (rank, key)


class _Inverted:
    """A sort key that orders the other way round."""

    def __init__(self, key: Any) -> None:
        self.key = key

    def __lt__(self, other: _Inverted) -> bool:
        return bool(other.key < self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Inverted) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)


def _past_cursor(
    key: list[Any], cursor: dict[str, Any], orders: list[tuple[str, bool]], *, after: bool
) -> bool:
    """Whether a row is on the kept side of a start (`after`) or end cursor: the cursor's
    values are a prefix of the ordering; `before` places it just before rows equal to them."""
    values = cursor.get("values") or []
    if len(values) > len(orders):
        raise ApiError(400, "the cursor has more values than the query has orders")
    bound = [_order_key(v, desc) for v, (_, desc) in zip(values, orders, strict=False)]
    row = key[: len(bound)]
    before = bool(cursor.get("before"))
    if row == bound:
        return before if after else not before
    return (bound < row) if after else (row < bound)
