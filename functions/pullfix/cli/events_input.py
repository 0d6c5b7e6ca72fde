"""What `pullfix classify` and `pullfix replay` read, told apart by the input itself.

- JSON Lines: one event a line (a LogEntry, a Pub/Sub push body or a structured CloudEvent).
- One JSON array of such events: what `gcloud logging read --format=json` prints.
- `kubectl get events -o json`: a `v1` List (or an EventList) whose items are Kubernetes
  Events. Each becomes the LogEntry GKE would have written for it (`jsonPayload` is the
  Event), without a project, location or cluster: kubectl's output names none.

Anything else that is one JSON document (a List of Pods, a pretty-printed object) is an
`EventInputError`, raised before any event is read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from pullfix.core import fastjson
from pullfix.core.intake import IntakeResult, Rejection, RejectionKind, parse_event, parse_json
from pullfix.errors import PullfixError

__all__ = ["EventInput", "EventInputError", "kubectl_event_entry", "read_event_input"]

# The kinds `kubectl get events -o json` prints: a List (kubectl's own wrapper), or the
# API's EventList (`kubectl get --raw /api/v1/events`, `kubectl cluster-info dump`).
_LIST_KINDS = ("List", "EventList")
# core/v1 Events, and events.k8s.io/v1 (`kubectl get events.v1.events.k8s.io -o json`).
_EVENT_API_VERSIONS = ("v1", "events.k8s.io/v1")
# How the user gets the JSON Lines the error names.
_SHAPES = (
    "pullfix reads JSON Lines (one event a line; `jq -c .` makes them), one JSON array "
    "(gcloud logging read --format=json) or `kubectl get events -o json`"
)


class EventInputError(PullfixError, ValueError):
    """An input that is one JSON document, but neither an array nor a List of Events."""


@dataclass
class EventInput:
    """The input, of one of three shapes: `lines` (JSON Lines, read as they come) or, for
    `array` and `kubectl`, every event already decoded."""

    shape: str
    lines: Iterable[bytes] = ()
    events: list[tuple[str, IntakeResult]] = field(default_factory=list)

    def results(self) -> Iterator[tuple[str, IntakeResult]]:
        """Each event's place (`line 3`, `element 2`, `item 4`) and its intake, in order."""
        if self.shape != "lines":
            yield from self.events
            return
        for number, raw in enumerate(self.lines, start=1):
            line = raw.strip()
            result = parse_json(line) if line else Rejection(RejectionKind.MALFORMED, "empty line")
            yield f"line {number}", result


def read_event_input(source: BinaryIO) -> EventInput:
    """Tell the input's shape from its first line that is not blank: `[` starts an array;
    a `{` line that is a JSON document by itself starts JSON Lines; a `{` line that is not
    starts one document over many lines (kubectl's). Anything else is JSON Lines, whose
    lines that are not events become error records, as they always have."""
    head: list[bytes] = []  # blank lines before the first document, then that line
    while line := source.readline():
        head.append(line)
        if line.strip():
            break
    first = head[-1].strip() if head else b""
    if first.startswith(b"["):
        return _array(b"".join(head) + source.read())
    if first.startswith(b"{") and not _is_event_line(first):
        document = b"".join(head) + source.read()
        try:
            value = json.loads(document)
        except (ValueError, RecursionError):
            # Not one document either: JSON Lines whose first line is broken (or a List
            # compacted by `jq -c` with more after it).
            return EventInput("lines", lines=document.splitlines(keepends=True))
        return _kubectl(value)
    return EventInput("lines", lines=_chain(head, source))


def _is_event_line(line: bytes) -> bool:
    """Whether `line` is a JSON document by itself that is not a kubectl object (a List
    compacted onto one line by `jq -c` is still kubectl's)."""
    try:
        value = fastjson.loads(line)
    except (ValueError, RecursionError):
        return False
    return not (isinstance(value, dict) and value.get("kind") in (*_LIST_KINDS, "Event"))


def _array(document: bytes) -> EventInput:
    try:
        values = json.loads(document)
    except (ValueError, RecursionError) as exc:
        raise EventInputError(f"input starts with [ but is not a JSON array: {exc}") from exc
    if not isinstance(values, list):  # pragma: no cover - starts with "[", so a list
        raise EventInputError(f"input starts with [ but is not a JSON array; {_SHAPES}")
    return EventInput(
        "array",
        events=[(f"element {n}", parse_event(value)) for n, value in enumerate(values, start=1)],
    )


def _kubectl(value: object) -> EventInput:
    if not isinstance(value, dict):  # pragma: no cover - starts with "{", so an object
        raise EventInputError(f"input is one JSON value over several lines; {_SHAPES}")
    kind = value.get("kind")
    items = value.get("items")
    if kind == "Event":  # `kubectl get event NAME -o json`
        items = [value]
    elif kind not in _LIST_KINDS or not isinstance(items, list):
        what = f"a {kind}" if isinstance(kind, str) and kind else "a JSON object"
        raise EventInputError(
            f"input is {what} over several lines, not a kubectl List of Events; {_SHAPES}"
        )
    kinds = {item.get("kind") for item in items if isinstance(item, dict)}
    if items and not kinds & {"Event", None}:
        others = ", ".join(sorted(str(k) for k in kinds)) or "no objects"
        raise EventInputError(f"input is a kubectl List of {others}, not Events; {_SHAPES}")
    events: list[tuple[str, IntakeResult]] = []
    for number, item in enumerate(items, start=1):
        where = f"item {number}"
        if not isinstance(item, dict):
            problem = "expected a Kubernetes Event (a JSON object)"
            events.append((where, Rejection(RejectionKind.MALFORMED, problem)))
        elif item.get("kind", "Event") != "Event" or (
            item.get("apiVersion", "v1") not in _EVENT_API_VERSIONS
        ):
            problem = (
                f"a {item.get('apiVersion')} {item.get('kind')}, not a Kubernetes Event "
                f"({' or '.join(_EVENT_API_VERSIONS)})"
            )
            events.append((where, Rejection(RejectionKind.MALFORMED, problem)))
        else:
            events.append((where, parse_event(kubectl_event_entry(item))))
    return EventInput("kubectl", events=events)


def kubectl_event_entry(event: dict[str, Any]) -> dict[str, Any]:
    """The LogEntry GKE writes for a Kubernetes Event (tests/data/examples/README.md): the
    Event is the `jsonPayload`; `severity` WARNING for a Warning, else INFO; the time is the
    Event's last; the resource a `k8s_pod` with the pod's namespace and name. kubectl names
    no project, location or cluster, so neither does the entry."""
    if event.get("apiVersion") == "events.k8s.io/v1":
        event = _core_event(event)
    involved = event.get("involvedObject")
    involved = involved if isinstance(involved, dict) else {}
    labels = {}
    if isinstance(involved.get("namespace"), str):
        labels["namespace_name"] = involved["namespace"]
    if involved.get("kind") == "Pod" and isinstance(involved.get("name"), str):
        labels["pod_name"] = involved["name"]
    entry: dict[str, Any] = {
        "jsonPayload": event,
        "resource": {
            "type": "k8s_pod" if "pod_name" in labels else "k8s_cluster",
            "labels": labels,
        },
        "severity": "WARNING" if event.get("type") == "Warning" else "INFO",
    }
    when = _event_time(event)
    if when is not None:
        entry["timestamp"] = when
    metadata = event.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("uid"), str):
        entry["insertId"] = metadata["uid"]
    return entry


def _event_time(event: dict[str, Any]) -> object:
    """The Event's latest time: lastTimestamp, else its series' last, else eventTime, else
    when it was first recorded or created."""
    series = event.get("series")
    metadata = event.get("metadata")
    for value in (
        event.get("lastTimestamp"),
        series.get("lastObservedTime") if isinstance(series, dict) else None,
        event.get("eventTime"),
        event.get("firstTimestamp"),
        metadata.get("creationTimestamp") if isinstance(metadata, dict) else None,
    ):
        if value:
            return value
    return None


def _core_event(event: dict[str, Any]) -> dict[str, Any]:
    """An events.k8s.io/v1 Event in core/v1's field names (`note` is `message`, `regarding`
    is `involvedObject`, the deprecated fields are core's own)."""
    renames = {
        "note": "message",
        "regarding": "involvedObject",
        "deprecatedSource": "source",
        "deprecatedLastTimestamp": "lastTimestamp",
        "deprecatedFirstTimestamp": "firstTimestamp",
        "deprecatedCount": "count",
    }
    core = {renames.get(key, key): value for key, value in event.items()}
    core["apiVersion"] = "v1"
    if "reportingController" in event and "reportingComponent" not in core:
        core["reportingComponent"] = event["reportingController"]
    return core


def _chain(head: list[bytes], rest: Iterable[bytes]) -> Iterator[bytes]:
    yield from head
    yield from rest
