"""Event intake: a LogEntry, Pub/Sub push body or CloudEvent in; a typed pull failure out.

Pure: no I/O. Nothing malformed raises out of this module; every input becomes either
a `PullFailure` or a `Rejection` that says why it was not one.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from pullfix.core import fastjson

__all__ = [
    "MAX_EVENT_BYTES",
    "IntakeResult",
    "PodEvent",
    "PullFailure",
    "Rejection",
    "RejectionKind",
    "decode_push",
    "format_timestamp",
    "parse_cloudevent",
    "parse_event",
    "parse_json",
    "parse_timestamp",
]

# A Cloud Logging entry is at most 256 KiB; a push body adds base64 and an envelope.
MAX_EVENT_BYTES = 512 * 1024

CONTROLLER_KIND_LABEL = "logging.gke.io/top_level_controller_type"
CONTROLLER_NAME_LABEL = "logging.gke.io/top_level_controller_name"
PUBSUB_TIMESTAMP_ATTRIBUTE = "logging.googleapis.com/timestamp"

# Kubelet's image-pull event messages (pkg/kubelet/images and older manager.go), each
# naming the image in double quotes. A JSON-decoded message has plain quotes; a message
# quoted once more (a journal line inside a log) has backslashes before them.
# The image is taken as written, even empty, spaced or between typographic quotes (text
# pasted through a document): kubelet reports the pod spec's string, and a string that is
# no reference is itself the finding (`invalid_name`).
_Q = r'(?:\\*"|[“”])'
_IMAGE_CHARS = r'[^"“”\\]{0,2048}'
_IMAGE_MESSAGE_RE = re.compile(
    r"(?:Failed to pull image|Back-off pulling image|Failed to apply default image tag"
    r"|Failed to inspect image|failed to pull image|failed to get sandbox image)"
    rf"\s+{_Q}(?P<image>{_IMAGE_CHARS}){_Q}"
    # "Container image X already present" is a success; only the Never-policy miss counts.
    rf"|Container image\s+{_Q}(?P<never>{_IMAGE_CHARS}){_Q} is not present"
)
# Every wording above names "image" within this many characters of where it starts.
_IMAGE_WORD_OFFSET = 32


def _image_message(text: str) -> re.Match[str] | None:
    """`_IMAGE_MESSAGE_RE.search`, started where a match can begin: a text without the
    word costs one substring scan instead of the expression tried at every position."""
    first = text.find("image")
    if first < 0:
        return None
    return _IMAGE_MESSAGE_RE.search(text, max(0, first - _IMAGE_WORD_OFFSET))


# Kubelet's container waiting reasons that only an image problem produces ("Error: X").
_PULL_WAITING_REASONS = (
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "ImageInspectError",
    "RegistryUnavailable",
)
_PULL_WAITING_RE = re.compile(r"\b(?:" + "|".join(_PULL_WAITING_REASONS) + r")\b")
_PULL_EVENT_REASONS = frozenset({"ErrImageNeverPull", "InspectFailed", "InvalidImageName"})
_CONTAINER_FIELD_RE = re.compile(r"spec\.(?:initContainers|containers|ephemeralContainers)\{(.+)\}")
_FRACTION_RE = re.compile(r"(\.\d{1,6})\d*")


class RejectionKind(StrEnum):
    """Why an input is not a pull failure pullfix acts on."""

    MALFORMED = "malformed"
    NOT_A_PULL_FAILURE = "not_a_pull_failure"


@dataclass(frozen=True, slots=True)
class PodEvent:
    """A Kubernetes event about a pod, with where it happened, as the log entry states it."""

    reason: str
    message: str
    project: str | None = None
    location: str | None = None
    cluster: str | None = None
    namespace: str | None = None
    pod: str | None = None
    container: str | None = None
    node: str | None = None
    controller_kind: str | None = None
    controller_name: str | None = None
    image: str | None = None
    timestamp: datetime | None = None
    insert_id: str | None = None
    severity: str | None = None
    message_id: str | None = None
    log_project: str | None = None  # the project of `logName`, where the entry was written

    @property
    def cluster_resource(self) -> str | None:
        """`projects/P/locations/L/clusters/C`, when the entry names all three."""
        if self.project and self.location and self.cluster:
            return f"projects/{self.project}/locations/{self.location}/clusters/{self.cluster}"
        return None

    @property
    def workload(self) -> str | None:
        """The top-level controller (`Deployment/web`), else the pod."""
        if self.controller_kind and self.controller_name:
            return f"{self.controller_kind}/{self.controller_name}"
        return f"Pod/{self.pod}" if self.pod else None

    @property
    def incident_workload(self) -> str | None:
        """The workload an incident is keyed on: the controller, else the pod's name without
        the suffixes Kubernetes generates (`web-7d9f8c5b4-xk2p9` → `web`), so that the pods
        of one Deployment are one workload even when the controller labels are missing."""
        if (self.controller_kind and self.controller_name) or not self.pod:
            return self.workload
        return f"Pods/{_GENERATED_SUFFIX_RE.sub('', self.pod) or self.pod}"


# A ReplicaSet's pod-template-hash and the random suffix of a pod name (or just the latter,
# for DaemonSets and Jobs), in the alphabet Kubernetes generates them from (no vowels, no
# 0/1/3: k8s.io/apimachinery/pkg/util/rand); StatefulSet ordinals are kept.
_K8S_RAND = "[bcdfghjklmnpqrstvwxz2456789]"
_GENERATED_SUFFIX_RE = re.compile(rf"(?:-{_K8S_RAND}{{6,10}})?-{_K8S_RAND}{{5}}$")


@dataclass(frozen=True, slots=True)
class PullFailure(PodEvent):
    """A kubelet event saying that an image could not be pulled."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """An input that is not a pull failure, and why."""

    kind: RejectionKind
    detail: str
    event: PodEvent | None = field(default=None)


IntakeResult = PullFailure | Rejection


class _Malformed(Exception):
    """Raised inside intake only; always turned into a Rejection."""


# Fields that become parts of Google resource names: a value that cannot be an id (a path
# separator, `..`, whitespace or control characters) never reaches a client library.
_ID_FIELDS = ("project", "log_project", "location", "cluster", "namespace", "pod", "node")
_BAD_ID_RE = re.compile(r"[/\\\s\x00-\x1f\x7f]|\.\.")


def _check_id(value: str | None, key: str) -> None:
    if value is not None and (not value or len(value) > 253 or _BAD_ID_RE.search(value)):
        raise _Malformed(f"{key} {_short(value)!r} cannot be a resource id")


def _check_ids(values: tuple[str | None, ...]) -> None:
    """`_check_id` on the id fields (`_ID_FIELDS`, in order). Fields are never empty here
    (absent is None); the usual case is settled by substring tests on their join, and
    only a join that fails them is looked at field by field, with the expression."""
    joined = "|".join([v for v in values if v is not None])
    # Printable excludes control characters and every whitespace but the space; "|" is no
    # id character and cannot complete a "..". Short enough in all means each is short.
    if (
        len(joined) <= 253
        and joined.isprintable()
        and " " not in joined
        and "/" not in joined
        and "\\" not in joined
        and ".." not in joined
    ):
        return
    for key, value in zip(_ID_FIELDS, values, strict=True):
        _check_id(value, key)


def parse_json(text: str | bytes) -> IntakeResult:
    """Intake one JSON document (a LogEntry, a push body or a structured CloudEvent)."""
    if len(text) > MAX_EVENT_BYTES:
        return _malformed(f"input is {len(text)} bytes; the limit is {MAX_EVENT_BYTES}")
    try:
        value = fastjson.loads(text)
    except (ValueError, RecursionError) as exc:
        return _malformed(f"not JSON: {_short(str(exc))}")
    return parse_event(value)


def parse_event(value: object) -> IntakeResult:
    """Intake one decoded JSON value of any of the accepted shapes."""
    try:
        return _parse_any(value, attributes={}, message_id=None, depth=0)
    except _Malformed as exc:
        return _malformed(str(exc))
    except RecursionError:
        return _malformed("input is nested too deeply")


def parse_cloudevent(attributes: Mapping[str, Any], data: object) -> IntakeResult:
    """Intake a CloudEvent already split into attributes and data (binary content mode)."""
    try:
        if isinstance(data, bytes | bytearray):
            data = _decode_json_bytes(bytes(data), "CloudEvent data")
        if not isinstance(data, dict):
            raise _Malformed("CloudEvent data must be a JSON object (a Pub/Sub push body)")
        return _parse_any(data, attributes={}, message_id=_opt_str(attributes, "id"), depth=1)
    except _Malformed as exc:
        return _malformed(str(exc))
    except RecursionError:
        return _malformed("input is nested too deeply")


def decode_push(data: object) -> object | Rejection:
    """The JSON payload of a Pub/Sub push body (or its bytes), or why it has none."""
    try:
        if isinstance(data, bytes | bytearray):
            data = _decode_json_bytes(bytes(data), "CloudEvent data")
        if not isinstance(data, dict) or not isinstance(data.get("message"), dict):
            raise _Malformed("CloudEvent data must be a Pub/Sub push body with a 'message'")
        payload, _, _ = _pubsub_message(data["message"])
        return payload
    except _Malformed as exc:
        return _malformed(str(exc))
    except RecursionError:
        return _malformed("input is nested too deeply")


def _parse_any(
    value: object, attributes: Mapping[str, str], message_id: str | None, depth: int
) -> IntakeResult:
    if depth > 3:
        raise _Malformed("envelopes nested more than three deep")
    if not isinstance(value, dict):
        raise _Malformed(f"expected a JSON object, got {_json_type(value)}")
    if "specversion" in value:
        return _parse_any(
            _structured_cloudevent_data(value),
            attributes,
            message_id or _opt_str(value, "id"),
            depth + 1,
        )
    if "message" in value and "jsonPayload" not in value:
        message = value["message"]
        if not isinstance(message, dict):
            raise _Malformed("Pub/Sub push body: 'message' must be an object")
        entry, attrs, msg_id = _pubsub_message(message)
        return _parse_any(entry, attrs, message_id or msg_id, depth + 1)
    return _parse_log_entry(value, attributes, message_id)


def _structured_cloudevent_data(event: dict[str, Any]) -> object:
    if "data" in event:
        data = event["data"]
        if isinstance(data, str):
            return _decode_json_bytes(data.encode(), "CloudEvent data")
        return data
    if "data_base64" in event:
        encoded = event["data_base64"]
        if not isinstance(encoded, str):
            raise _Malformed("CloudEvent 'data_base64' must be a string")
        return _decode_json_bytes(_b64decode(encoded, "CloudEvent data_base64"), "CloudEvent data")
    raise _Malformed("CloudEvent has no data")


def _pubsub_message(message: dict[str, Any]) -> tuple[object, dict[str, str], str | None]:
    data = message.get("data")
    if data is None:
        raise _Malformed("Pub/Sub message has no data")
    if not isinstance(data, str):
        raise _Malformed("Pub/Sub message 'data' must be a base64 string")
    raw_attributes = message.get("attributes")
    if raw_attributes is None:
        raw_attributes = {}
    if not isinstance(raw_attributes, dict):
        raise _Malformed("Pub/Sub message 'attributes' must be an object")
    attributes = {str(k): str(v) for k, v in raw_attributes.items()}
    message_id = _opt_str(message, "messageId") or _opt_str(message, "message_id")
    entry = _decode_json_bytes(_b64decode(data, "Pub/Sub message data"), "Pub/Sub message data")
    return entry, attributes, message_id


def _b64decode(text: str, what: str) -> bytes:
    if len(text) > MAX_EVENT_BYTES * 4 // 3 + 4:
        raise _Malformed(f"{what} is larger than {MAX_EVENT_BYTES} bytes")
    try:
        # Pub/Sub uses standard base64; some tools emit the URL-safe alphabet.
        alphabet = b"-_" if ("-" in text or "_" in text) else None
        return base64.b64decode(text, altchars=alphabet, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _Malformed(f"{what} is not base64: {exc}") from exc


def _decode_json_bytes(raw: bytes, what: str) -> object:
    if len(raw) > MAX_EVENT_BYTES:
        raise _Malformed(f"{what} is {len(raw)} bytes; the limit is {MAX_EVENT_BYTES}")
    try:
        return fastjson.loads_utf8(raw)
    except UnicodeDecodeError as exc:
        raise _Malformed(f"{what} is not UTF-8: {exc.reason} at byte {exc.start}") from exc
    except ValueError as exc:
        raise _Malformed(f"{what} is not JSON: {_short(str(exc))}") from exc


def _parse_log_entry(
    entry: dict[str, Any], attributes: Mapping[str, str], message_id: str | None
) -> IntakeResult:
    payload = entry.get("jsonPayload")
    if payload is None:
        if "textPayload" in entry or "protoPayload" in entry:
            return Rejection(
                RejectionKind.NOT_A_PULL_FAILURE,
                "log entry has no jsonPayload: not a Kubernetes event",
            )
        raise _Malformed("not a LogEntry, Pub/Sub push body or CloudEvent (no jsonPayload)")
    if not isinstance(payload, dict):
        raise _Malformed("LogEntry 'jsonPayload' must be an object")
    resource_labels = _opt_dict(_opt_dict(entry, "resource"), "labels")
    involved = _opt_dict(payload, "involvedObject")
    source = _opt_dict(payload, "source")
    labels = _opt_dict(entry, "labels")
    # Every string field read from every entry, fetched and checked at once (the hot path):
    # the names, in this order, are _STRING_FIELDS.
    values = [
        payload.get("reason"),
        payload.get("message"),
        resource_labels.get("project_id"),
        resource_labels.get("location"),
        resource_labels.get("cluster_name"),
        resource_labels.get("namespace_name"),
        resource_labels.get("pod_name"),
        entry.get("logName"),
        entry.get("insertId"),
        entry.get("severity"),
        involved.get("fieldPath"),
        source.get("host"),
        labels.get(CONTROLLER_KIND_LABEL),
        labels.get(CONTROLLER_NAME_LABEL),
    ]
    _strings(values)
    (
        reason,
        message,
        project,
        location,
        cluster,
        namespace,
        pod,
        log_name,
        insert_id,
        severity,
        field_path,
        node,
        controller_kind,
        controller_name,
    ) = values
    if reason is None and message is None:
        raise _Malformed("LogEntry jsonPayload is not a Kubernetes Event (no reason or message)")

    log_project = None
    if log_name and log_name.startswith("projects/"):
        log_project = log_name.split("/")[1] or None
    if project is None:
        project = log_project
    # The involved object's kind and name are read (and checked) only where no label names a pod.
    if pod is None and _opt_str(involved, "kind", "jsonPayload.involvedObject.kind") == "Pod":
        pod = _opt_str(involved, "name", "jsonPayload.involvedObject.name")
    if namespace is None:
        namespace = _opt_str(involved, "namespace", "jsonPayload.involvedObject.namespace")
    if node is None:
        node = _opt_str(payload, "reportingInstance", "jsonPayload.reportingInstance")
    container_match = _CONTAINER_FIELD_RE.fullmatch(field_path) if field_path else None
    ids = (project, log_project, location, cluster, namespace, pod, node)
    _check_ids(ids)

    text = message or ""
    image_match = _image_message(text)
    image = None
    if image_match is not None:
        image = image_match.group("image")
        if image is None:
            image = image_match.group("never")
    # Positional, in PodEvent's field order: a frozen dataclass built from keywords costs
    # twice as much, and intake is the hot path of `pullfix classify` and the function.
    event = (
        reason or "",
        text,
        project,
        location,
        cluster,
        namespace,
        pod,
        container_match.group(1) if container_match else None,
        node,
        controller_kind,
        controller_name,
        image,
        _event_time(entry, payload, attributes),
        insert_id,
        severity,
        message_id,
        log_project,
    )
    is_pull = (
        image_match is not None or reason in _PULL_EVENT_REASONS or _names_waiting_reason(text)
    )
    if not is_pull:
        return Rejection(
            RejectionKind.NOT_A_PULL_FAILURE,
            f"kubelet event {reason or '(no reason)'!s} is not an image pull failure",
            PodEvent(*event),
        )
    if pod is None and namespace is None:
        # The kubelet reports pull failures on pods; without one there is no workload.
        raise _Malformed("pull failure names no pod or namespace")
    return PullFailure(*event)


_STRING_FIELDS = (
    "jsonPayload.reason",
    "jsonPayload.message",
    "resource.labels.project_id",
    "resource.labels.location",
    "resource.labels.cluster_name",
    "resource.labels.namespace_name",
    "resource.labels.pod_name",
    "logName",
    "insertId",
    "severity",
    "jsonPayload.involvedObject.fieldPath",
    "jsonPayload.source.host",
    CONTROLLER_KIND_LABEL,
    CONTROLLER_NAME_LABEL,
)


def _strings(values: list[Any]) -> None:
    """`_opt_str` of the `_STRING_FIELDS` values in place: "" becomes None, and anything
    but a string or null is malformed, named by its field."""
    for index, value in enumerate(values):
        if value.__class__ is not str:
            if value is not None:
                raise _Malformed(
                    f"'{_STRING_FIELDS[index]}' must be a string, got {_json_type(value)}"
                )
        elif not value:
            values[index] = None


def _names_waiting_reason(text: str) -> bool:
    """Whether the text names a container waiting reason only a pull failure produces;
    every one names "Image" or is RegistryUnavailable, so most texts need no expression."""
    if "Image" not in text and "RegistryUnavailable" not in text:
        return False
    return _PULL_WAITING_RE.search(text) is not None


def _event_time(
    entry: Mapping[str, Any], payload: Mapping[str, Any], attributes: Mapping[str, str]
) -> datetime | None:
    """The first of the entry's times that is present (LogEntry `timestamp` nearly always)."""
    value = entry.get("timestamp")
    if value is not None:
        return _time_field("timestamp", value)
    candidates = (
        ("jsonPayload.lastTimestamp", payload.get("lastTimestamp")),
        ("jsonPayload.eventTime", payload.get("eventTime")),
        ("receiveTimestamp", entry.get("receiveTimestamp")),
        (PUBSUB_TIMESTAMP_ATTRIBUTE, attributes.get(PUBSUB_TIMESTAMP_ATTRIBUTE)),
    )
    for name, value in candidates:
        if value is not None:
            return _time_field(name, value)
    return None


def _time_field(name: str, value: object) -> datetime:
    if not isinstance(value, str):
        raise _Malformed(f"{name} must be an RFC 3339 string")
    parsed = parse_timestamp(value)
    if parsed is None:
        raise _Malformed(f"{name} is not an RFC 3339 timestamp: {_short(value)!r}")
    return parsed


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, as Google APIs write it."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.isoformat()[:-6] + "Z"  # "+00:00" is the last six characters


def parse_timestamp(text: str) -> datetime | None:
    """RFC 3339 with up to nanosecond precision, as Google APIs write it; None if invalid."""
    if len(text) > 64:
        return None
    try:  # the usual shape ("2026-11-20T10:00:07.123456789Z") needs no rewriting
        parsed = datetime.fromisoformat(text)
    except ValueError:
        pass
    else:
        if parsed.tzinfo is not None:
            return parsed.astimezone(UTC)
    trimmed = _FRACTION_RE.sub(r"\1", text.strip(), count=1)
    if trimmed.endswith(("Z", "z")):
        trimmed = trimmed[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(trimmed)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.astimezone(UTC)


def _opt_dict(container: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = container.get(key)
    if value.__class__ is dict:
        return value
    if value is None:
        return _EMPTY
    if not isinstance(value, dict):
        raise _Malformed(f"'{key}' must be an object, got {_json_type(value)}")
    return value


_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _opt_str(container: Mapping[str, Any], key: str, name: str | None = None) -> str | None:
    value = container.get(key)
    if type(value) is str:
        return value or None
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Malformed(f"'{name or key}' must be a string, got {_json_type(value)}")
    return value


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _malformed(detail: str) -> Rejection:
    return Rejection(RejectionKind.MALFORMED, detail)
