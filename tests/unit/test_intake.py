"""Event intake: every accepted shape, every kubelet wording, and every way input goes bad."""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pullfix.core.intake import (
    MAX_EVENT_BYTES,
    PullFailure,
    Rejection,
    RejectionKind,
    parse_cloudevent,
    parse_event,
    parse_json,
    parse_timestamp,
)
from pullfix.dev.events import log_entry, push_body, structured_cloudevent

IMAGE = "us-central1-docker.pkg.dev/p1/app/web:1.4"


def entry(message: str, reason: str = "Failed", **overrides: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "project": "p1",
        "location": "us-central1",
        "cluster": "c1",
        "namespace": "default",
        "pod": "web-7d9f8c-xk2p",
        "node": "gke-c1-default-pool-1a2b3c4d-x7k9",
        "message": message,
        "reason": reason,
        "controller": ("Deployment", "web"),
        "container": "web",
    }
    kwargs.update(overrides)
    return log_entry(**kwargs)


def failure(value: object) -> PullFailure:
    result = parse_event(value)
    assert isinstance(result, PullFailure), result
    return result


def rejection(value: object, kind: RejectionKind) -> Rejection:
    result = parse_event(value)
    assert isinstance(result, Rejection), result
    assert result.kind is kind, result
    return result


def test_shared_example_log_entry(example_log_entry: dict[str, Any]) -> None:
    got = failure(example_log_entry)
    assert got.cluster_resource == "projects/p1/locations/us-central1/clusters/c1"
    assert (got.namespace, got.pod, got.container) == ("default", "web-7d9f8c-xk2p", "web")
    assert got.node == "gke-c1-default-pool-1a2b3c4d-x7k9"
    assert got.workload == "Deployment/web"
    assert got.image == IMAGE
    assert got.reason == "Failed"
    assert got.insert_id == "1x9yq2kf3a8b7c"
    assert got.timestamp == datetime(2026, 11, 20, 10, 0, 7, tzinfo=UTC)


def test_shared_example_eventarc_delivery(
    example_eventarc_request: tuple[dict[str, str], bytes], example_log_entry: dict[str, Any]
) -> None:
    headers, body = example_eventarc_request
    attributes = {k[3:]: v for k, v in headers.items() if k.startswith("ce-")}
    got = parse_cloudevent(attributes, json.loads(body))
    assert isinstance(got, PullFailure)
    assert got.message_id == "2070443601311540"
    assert got.image == failure(example_log_entry).image
    # Binary mode may hand over the raw bytes too.
    assert parse_cloudevent(attributes, body) == got


def test_all_envelopes_give_the_same_failure() -> None:
    raw = entry(f'Failed to pull image "{IMAGE}": 403 Forbidden')
    body = push_body(raw, message_id="42")
    plain = failure(raw)
    from_push = failure(body)
    from_structured = failure(structured_cloudevent(body))
    assert from_push.message_id == from_structured.message_id == "42"
    for other in (from_push, from_structured):
        assert other.image == plain.image
        assert other.cluster_resource == plain.cluster_resource
    data_b64 = base64.b64encode(json.dumps(body).encode()).decode()
    as_base64 = {"specversion": "1.0", "id": "7", "data_base64": data_b64}
    assert failure(as_base64).message_id == "7"


KUBELET_SHAPES = [
    ("Failed", f'Failed to pull image "{IMAGE}": rpc error: code = Unknown desc = x', IMAGE),
    ("BackOff", f'Back-off pulling image "{IMAGE}"', IMAGE),
    (
        "InspectFailed",
        'Failed to apply default image tag "Bad/Name": couldn\'t parse image reference',
        "Bad/Name",
    ),
    ("InspectFailed", f'Failed to inspect image "{IMAGE}": rpc error', IMAGE),
    (
        "ErrImageNeverPull",
        f'Container image "{IMAGE}" is not present with pull policy of Never',
        IMAGE,
    ),
    ("Failed", "Error: ErrImagePull", None),
    ("Failed", "Error: ImagePullBackOff", None),
    ("Failed", "Error: InvalidImageName", None),
    (
        "FailedSync",
        'Error syncing pod, skipping: failed to "StartContainer" for "x" with ErrImagePull: "boom"',
        None,
    ),
    ("FailedCreatePodSandBox", f'failed to get sandbox image "{IMAGE}": failed to pull', IMAGE),
]


@pytest.mark.parametrize(("reason", "message", "image"), KUBELET_SHAPES)
def test_kubelet_pull_failure_shapes(reason: str, message: str, image: str | None) -> None:
    got = failure(entry(message, reason))
    assert got.image == image
    assert got.reason == reason


def test_back_off_pulling_is_an_info_entry_and_still_a_failure() -> None:
    raw = entry(f'Back-off pulling image "{IMAGE}"', "BackOff")
    assert raw["severity"] == "INFO"
    assert failure(raw).image == IMAGE


NOT_PULLS = [
    ("BackOff", "Back-off restarting failed container web in pod web_default(abc)"),
    ("Pulling", f'Pulling image "{IMAGE}"'),
    ("Pulled", f'Container image "{IMAGE}" already present on machine'),
    ("Failed", "Error: failed to create containerd task: OCI runtime create failed"),
    ("FailedScheduling", "0/3 nodes are available: 3 Insufficient cpu."),
    ("Killing", "Stopping container web"),
]


@pytest.mark.parametrize(("reason", "message"), NOT_PULLS)
def test_other_events_are_not_pull_failures(reason: str, message: str) -> None:
    got = rejection(entry(message, reason), RejectionKind.NOT_A_PULL_FAILURE)
    assert got.event is not None
    assert got.event.pod == "web-7d9f8c-xk2p"


def test_missing_optional_fields_are_tolerated(example_log_entry: dict[str, Any]) -> None:
    raw = copy.deepcopy(example_log_entry)
    del raw["labels"], raw["timestamp"], raw["jsonPayload"]["lastTimestamp"]
    del raw["jsonPayload"]["source"], raw["insertId"]
    got = failure(raw)
    assert got.workload == "Pod/web-7d9f8c-xk2p"
    assert got.node == "gke-c1-default-pool-1a2b3c4d-x7k9"  # from reportingInstance
    assert got.timestamp == datetime(2026, 11, 20, 10, 0, 8, 123456, tzinfo=UTC)
    del raw["receiveTimestamp"], raw["jsonPayload"]["reportingInstance"]
    got = failure(raw)
    assert (got.node, got.timestamp, got.insert_id) == (None, None, None)


def test_project_falls_back_to_the_log_name(example_log_entry: dict[str, Any]) -> None:
    raw = copy.deepcopy(example_log_entry)
    del raw["resource"]["labels"]["project_id"]
    assert failure(raw).project == "p1"


def _b64(value: object) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


MALFORMED = [
    ([], "expected a JSON object, got an array"),
    ("text", "expected a JSON object, got a string"),
    ({}, "no jsonPayload"),
    ({"message": "hi"}, "'message' must be an object"),
    ({"message": {}}, "Pub/Sub message has no data"),
    ({"message": {"data": 5}}, "'data' must be a base64 string"),
    ({"message": {"data": "%%%"}}, "not base64"),
    ({"message": {"data": base64.b64encode(b"\xff\xfe").decode()}}, "not UTF-8"),
    ({"message": {"data": base64.b64encode(b"{nope").decode()}}, "not JSON"),
    ({"message": {"data": _b64([1]), "attributes": []}}, "'attributes' must be an object"),
    ({"message": {"data": _b64([1])}}, "expected a JSON object, got an array"),
    ({"specversion": "1.0"}, "CloudEvent has no data"),
    ({"specversion": "1.0", "data_base64": 3}, "'data_base64' must be a string"),
    ({"jsonPayload": []}, "'jsonPayload' must be an object"),
    ({"jsonPayload": {}}, "not a Kubernetes Event"),
    ({"jsonPayload": {"reason": "Failed", "message": 7}}, "'jsonPayload.message' must be a string"),
    (
        {"jsonPayload": {"reason": "Failed", "message": "x"}, "resource": "k8s_pod"},
        "'resource' must be an object",
    ),
    (
        {"jsonPayload": {"reason": "BackOff", "message": 'Back-off pulling image "x"'}},
        "names no pod or namespace",
    ),
]


@pytest.mark.parametrize(("value", "message"), MALFORMED)
def test_malformed_input_is_rejected_with_a_precise_reason(value: object, message: str) -> None:
    got = rejection(value, RejectionKind.MALFORMED)
    assert message in got.detail


def test_bad_timestamp_is_named() -> None:
    raw = entry(f'Back-off pulling image "{IMAGE}"', "BackOff", timestamp="yesterday")
    assert (
        "timestamp is not an RFC 3339 timestamp" in rejection(raw, RejectionKind.MALFORMED).detail
    )


def test_nesting_is_bounded() -> None:
    value: dict[str, Any] = {"specversion": "1.0", "data": {}}
    inner = value
    for _ in range(5):
        inner["data"] = {"specversion": "1.0", "data": {}}
        inner = inner["data"]
    assert "nested" in rejection(value, RejectionKind.MALFORMED).detail


def test_text_payload_entries_are_not_pull_failures() -> None:
    rejection({"textPayload": "kubelet started"}, RejectionKind.NOT_A_PULL_FAILURE)


def test_size_limits() -> None:
    huge = json.dumps(entry("x" * (MAX_EVENT_BYTES + 1)))
    got = parse_json(huge)
    assert isinstance(got, Rejection)
    assert "limit" in got.detail
    big_data = {"message": {"data": "A" * (MAX_EVENT_BYTES * 2)}}
    assert "larger than" in rejection(big_data, RejectionKind.MALFORMED).detail


def test_not_json_and_deep_json() -> None:
    for text in ("", "{", "nul", "[" * 100_000):
        got = parse_json(text)
        assert isinstance(got, Rejection)
        assert got.kind is RejectionKind.MALFORMED


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-20T10:00:08.123456789Z", datetime(2026, 11, 20, 10, 0, 8, 123456, tzinfo=UTC)),
        ("2026-11-20T12:00:00+02:00", datetime(2026, 11, 20, 10, 0, tzinfo=UTC)),
        ("2026-11-20T10:00:00z", datetime(2026, 11, 20, 10, 0, tzinfo=UTC)),
        ("2026-11-20T10:00:00", None),  # no zone: not RFC 3339
        ("not a time", None),
    ],
)
def test_parse_timestamp(text: str, expected: datetime | None) -> None:
    assert parse_timestamp(text) == expected


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "message",
                    "data",
                    "jsonPayload",
                    "reason",
                    "resource",
                    "labels",
                    "specversion",
                    "attributes",
                    "timestamp",
                    "involvedObject",
                    "source",
                    "insertId",
                    "x",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=5,
        )
    ),
    max_leaves=25,
)


@settings(max_examples=300)
@given(_json)
def test_arbitrary_json_never_raises(value: object) -> None:
    result = parse_event(value)
    assert isinstance(result, PullFailure | Rejection)


@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    assert isinstance(parse_json(data), PullFailure | Rejection)
    assert isinstance(parse_cloudevent({"id": "1"}, data), PullFailure | Rejection)


@settings(max_examples=200)
@given(st.text(max_size=200), st.sampled_from(["Failed", "BackOff", "InspectFailed", "x"]))
def test_arbitrary_messages_never_raise(message: str, reason: str) -> None:
    assert isinstance(parse_event(entry(message, reason)), PullFailure | Rejection)


# --- resource ids: every field, every shape a label value cannot take ---------------------

_ID_LABELS = {  # intake field -> where the LogEntry carries it
    "project": ("resource", "project_id"),
    "location": ("resource", "location"),
    "cluster": ("resource", "cluster_name"),
    "namespace": ("resource", "namespace_name"),
    "pod": ("resource", "pod_name"),
    "node": ("source", "host"),
}
_BAD_IDS = [
    "a/b",
    "a\\b",
    "..",
    "a..b",
    "a b",
    "a\tb",
    "a\nb",
    "a\x00b",
    "a\x7fb",
    "a\xa0b",  # no-break space: whitespace to Unicode
    "a\u2028b",  # line separator
    "x" * 254,
]


def _with_id(field: str, value: str) -> dict[str, Any]:
    raw = entry(f'Failed to pull image "{IMAGE}": rpc error: code = NotFound')
    where, key = _ID_LABELS[field]
    if where == "resource":
        raw["resource"]["labels"][key] = value
    else:
        raw["jsonPayload"]["source"][key] = value
    return raw


@pytest.mark.parametrize("field", sorted(_ID_LABELS))
@pytest.mark.parametrize("value", _BAD_IDS, ids=repr)
def test_a_label_that_cannot_be_a_resource_id_is_named(field: str, value: str) -> None:
    got = rejection(_with_id(field, value), RejectionKind.MALFORMED)
    assert got.detail.startswith(f"{field} ") and "cannot be a resource id" in got.detail


@pytest.mark.parametrize(
    "value",
    [
        "a.b",
        "shop|prod",  # no id character, but nothing Google would misread as a path either
        "soft\xadhyphen",  # not printable, yet no whitespace, separator or control character
        "x" * 253,
    ],
    ids=repr,
)
def test_unusual_but_harmless_labels_pass(value: str) -> None:
    assert failure(_with_id("namespace", value)).namespace == value


def test_long_ids_together_are_fine_when_each_is_short() -> None:
    raw = _with_id("namespace", "n" * 200)
    raw["resource"]["labels"]["pod_name"] = "p" * 200
    got = failure(raw)
    assert (len(got.namespace or ""), len(got.pod or "")) == (200, 200)


def _unusable(value: str) -> bool:
    """The definition, written out: a path separator, `..`, whitespace or a control character."""
    return (
        len(value) > 253
        or ".." in value
        or any(c in "/\\" or c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in value)
    )


@settings(max_examples=300)
@given(
    st.sampled_from(sorted(_ID_LABELS)),
    st.text(
        st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from("./\\ -"),
        min_size=1,
        max_size=40,
    ),
)
def test_id_labels_are_refused_exactly_when_unusable(field: str, value: str) -> None:
    got = parse_event(_with_id(field, value))
    if _unusable(value):
        assert isinstance(got, Rejection) and got.kind is RejectionKind.MALFORMED, got
        assert got.detail.startswith(f"{field} ")
    else:
        assert isinstance(got, PullFailure), got


@pytest.mark.parametrize(
    ("path", "name"),
    [
        (("jsonPayload", "reason"), "jsonPayload.reason"),
        (("resource", "labels", "pod_name"), "resource.labels.pod_name"),
        (("resource", "labels", "project_id"), "resource.labels.project_id"),
        (("insertId",), "insertId"),
        (("severity",), "severity"),
        (("logName",), "logName"),
        (("jsonPayload", "involvedObject", "fieldPath"), "jsonPayload.involvedObject.fieldPath"),
        (("jsonPayload", "source", "host"), "jsonPayload.source.host"),
        (("labels", "logging.gke.io/top_level_controller_name"), "top_level_controller_name"),
    ],
)
@pytest.mark.parametrize("bad", [5, ["x"], {"a": "b"}, True])
def test_a_field_of_the_wrong_type_is_named(path: tuple[str, ...], name: str, bad: object) -> None:
    raw = entry(f'Failed to pull image "{IMAGE}": rpc error: code = NotFound')
    holder = raw
    for key in path[:-1]:
        holder = holder.setdefault(key, {})
    holder[path[-1]] = bad
    got = rejection(raw, RejectionKind.MALFORMED)
    assert name in got.detail and "must be a string" in got.detail, got.detail


def test_the_involved_object_is_read_only_where_no_label_names_the_pod() -> None:
    raw = entry(f'Failed to pull image "{IMAGE}": rpc error: code = NotFound')
    raw["jsonPayload"]["involvedObject"]["kind"] = 7  # unread: the labels name the pod
    assert failure(raw).pod == "web-7d9f8c-xk2p"
    del raw["resource"]["labels"]["pod_name"]
    got = rejection(raw, RejectionKind.MALFORMED)
    assert "'jsonPayload.involvedObject.kind' must be a string" in got.detail
