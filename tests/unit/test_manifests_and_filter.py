"""Images in Kubernetes manifests, and the Logging query language subset pullfix evaluates."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pullfix.core.logfilter import FilterError, compile_filter, matches, sink_filter
from pullfix.core.manifests import ManifestError, images_in_manifests

MANIFESTS = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      initContainers: [{name: migrate, image: us-docker.pkg.dev/p/r/migrate:1}]
      containers:
        - {name: web, image: us-docker.pkg.dev/p/r/web:1}
        - {name: proxy, image: envoyproxy/envoy:v1.30}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{name: job, image: gcr.io/p/job:2}]
---
apiVersion: v1
kind: List
items:
  - {kind: Pod, metadata: {name: debug}, spec: {containers: [{name: d, image: busybox}]}}
  - kind: StatefulSet
    metadata: {name: db}
    spec: {template: {spec: {containers: [{name: db, image: postgres:16}]}}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {ports: [{port: 80}]}
"""


def test_every_workload_kind_and_init_containers() -> None:
    found = images_in_manifests(MANIFESTS, "app.yaml")
    assert found == [
        ("us-docker.pkg.dev/p/r/migrate:1", "Deployment/web migrate"),
        ("us-docker.pkg.dev/p/r/web:1", "Deployment/web web"),
        ("envoyproxy/envoy:v1.30", "Deployment/web proxy"),
        ("gcr.io/p/job:2", "CronJob/nightly job"),
        ("busybox", "Pod/debug d"),
        ("postgres:16", "StatefulSet/db db"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: Deployment\nspec: [", "not valid YAML"),
        ("kind: Deployment\nmetadata: {name: x}\n", "has no pod spec at spec.template.spec"),
        ("kind: Pod\nmetadata: {name: x}\nspec: {containers: [{name: a}]}\n", "without an image"),
    ],
)
def test_bad_manifests_say_where(text: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        images_in_manifests(text, "bad.yaml")


ENTRY = {
    "logName": "projects/p1/logs/events",
    "timestamp": "2026-11-20T10:00:07Z",
    "resource": {"type": "k8s_pod", "labels": {"cluster_name": "c1"}},
    "jsonPayload": {"reason": "Failed", "message": 'Failed to pull image "x": 403 Forbidden'},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('resource.type="k8s_pod"', True),
        ('resource.type="K8S_POD"', True),  # comparisons ignore case
        ('resource.type!="k8s_pod"', False),
        ('jsonPayload.message:"forbidden"', True),
        ('jsonPayload.message:"allowed"', False),
        ('jsonPayload.reason=("BackOff" OR "Failed")', True),
        ('jsonPayload.reason=("BackOff" OR "Pulled")', False),
        ('log_id("events")', True),
        ('log_id("kubelet")', False),
        ('timestamp>="2026-11-20T10:00:00Z"', True),
        ('timestamp<"2026-11-20T10:00:00Z"', False),
        ('resource.type="k8s_pod" AND -jsonPayload.message:"403"', False),
        ('resource.type="k8s_node" OR NOT jsonPayload.reason="Pulled"', True),
        ('(resource.type="k8s_node" OR resource.type="k8s_pod") jsonPayload.reason="Failed"', True),
        ('jsonPayload.missing="x"', False),
        ("resource.labels.cluster_name=c1", True),
        ("", True),
        # OR binds tighter than AND, unlike most languages: Cloud Logging's query language
        # reads `a OR NOT b AND NOT c OR d` as `(a OR (NOT b)) AND ((NOT c) OR d)`
        # (cloud.google.com/logging/docs/view/logging-query-language, "Boolean operators").
        ('resource.type="k8s_node" AND jsonPayload.reason="Failed" OR log_id("events")', False),
        ('log_id("events") OR resource.type="k8s_node" AND jsonPayload.reason="Pulled"', False),
        ('resource.type="k8s_node" jsonPayload.reason="Pulled" OR log_id("events")', False),
        (
            'jsonPayload.reason="Pulled" OR NOT log_id("events") AND NOT log_id("kubelet") '
            'OR resource.type="k8s_pod"',
            False,
        ),
        ('log_id("events") AND jsonPayload.reason="Pulled" OR resource.type="k8s_pod"', True),
    ],
)
def test_filter_language(text: str, expected: bool) -> None:
    assert matches(text, ENTRY) is expected


@pytest.mark.parametrize(
    "text",
    [
        "resource.type=",
        '(resource.type="a"',
        "log_id(events)",
        'resource.type="a" )',
        '= "a"',
        'a=("x" AND "y")',
    ],
)
def test_bad_filters_raise(text: str) -> None:
    with pytest.raises(FilterError):
        compile_filter(text)


def test_sink_filter_parses_and_has_the_four_conditions() -> None:
    assert compile_filter(sink_filter())[0] == "and"
    assert sink_filter().count("\n") == 3
    assert matches(sink_filter(), ENTRY)


@settings(max_examples=300)
@given(st.text(alphabet=st.sampled_from(list('ab.=:!<>()"- \nANDORNOT_log_id')), max_size=60))
def test_any_filter_text_parses_or_raises_filter_error(text: str) -> None:
    try:
        compile_filter(text)
    except FilterError:
        return
    assert matches(text, ENTRY) in (True, False)


@given(st.text(max_size=40), st.text(max_size=40))
def test_manifests_never_raise_anything_but_manifest_error(kind: str, image: str) -> None:
    container = f"{{name: a, image: {json.dumps(image)}}}"
    text = f"kind: {json.dumps(kind)}\nspec: {{containers: [{container}]}}\n"
    try:
        found = images_in_manifests(text)
    except ManifestError:
        return
    assert all(isinstance(i, str) for i, _ in found)
