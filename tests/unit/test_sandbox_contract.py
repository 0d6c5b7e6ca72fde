"""The sandbox's routes and responses against Google's official discovery documents."""

from __future__ import annotations

import re

import pytest

from pullfix.dev.sandbox.contract import _document, discovery_method, response_violations
from pullfix.dev.sandbox.rest import ROUTES


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.method_id)
def test_every_route_is_the_discovery_method_it_claims(route: object) -> None:
    method = discovery_method(route.method_id, route.version)  # type: ignore[attr-defined]
    assert method["httpMethod"] == route.http_method  # type: ignore[attr-defined]
    # Fill the discovery path template with sample ids; the route must accept exactly it.
    api = route.method_id.split(".", 1)[0]  # type: ignore[attr-defined]
    service_path = _document(f"{api}.{route.version}")["servicePath"]  # type: ignore[attr-defined]
    template = service_path + method["flatPath"]
    sample = "/" + re.sub(r"\{\+?(\w+)\}", lambda m: f"x-{m.group(1).lower()}", template)
    assert route.pattern.match(sample), (sample, route.pattern.pattern)  # type: ignore[attr-defined]


CLUSTER_GET = "container.projects.locations.clusters.get"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"name": "c", "nodePoolz": []}, "unknown field 'nodePoolz'"),
        ({"name": 3}, "Cluster.name: expected a string"),
        ({"status": "SLEEPING"}, "is not one of"),
        ({"nodePools": {"a": 1}}, "Cluster.nodePools: expected an array"),
        ({"nodePools": [{"config": {"oauthScopes": "x"}}]}, "oauthScopes: expected an array"),
        ({"createTime": "yesterday"}, None),  # a plain string field: no format to break
        ({"currentNodeCount": "3"}, "expected an integer"),
    ],
)
def test_the_checker_finds_what_google_would_not_send(
    body: dict[str, object], problem: str | None
) -> None:
    problems = response_violations(CLUSTER_GET, "v1", body)
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems


def test_formats_are_checked() -> None:
    method = "artifactregistry.projects.locations.repositories.getIamPolicy"
    assert response_violations(method, "v1", {"etag": "!!", "version": 3}) == [
        "Policy.etag: '!!' is not base64"
    ]
    assert response_violations(method, "v1", {"etag": "BwY=", "version": "3"}) == [
        "Policy.version: expected an integer, got '3'"
    ]
    project = "cloudresourcemanager.projects.get"
    assert response_violations(project, "v3", {"createTime": "2024-01-01"}) == [
        "Project.createTime: '2024-01-01' is not an RFC 3339 timestamp"
    ]
