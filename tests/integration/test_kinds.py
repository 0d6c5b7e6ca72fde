"""The cluster's kind over the sandbox: the same refusal, on an Autopilot cluster and on a
Standard one, through the full remediate path (the real adapter, GKE's wire format)."""

from __future__ import annotations

from typing import Any

import pytest

from pullfix.cli.replay import replay_events
from pullfix.core.config import config_from_dict
from pullfix.core.intake import parse_event
from pullfix.dev.events import log_entry, pull_message
from pullfix.dev.sandbox import Sandbox
from pullfix.dev.sandbox.world import world_from_dict
from pullfix.gcp.adapter import GoogleAdapter
from pullfix.gcp.clients import GoogleClients
from pullfix.gcp.endpoints import sandbox_endpoint

pytestmark = pytest.mark.integration

PROJECT = "app-proj"
ACCOUNT = f"nodes@{PROJECT}.iam.gserviceaccount.com"
NODE = "gk3-c-pool-1-1a2b3c4d-x7k9"
IMAGE = f"us-central1-docker.pkg.dev/{PROJECT}/apps/web:1"
LOGGING = "https://www.googleapis.com/auth/logging.write"
CLOUD = "https://www.googleapis.com/auth/cloud-platform"
# containerd resolves a tag with a HEAD request and prints the status, never the body.
TEXT = (
    f'failed to pull and unpack image "{IMAGE}": failed to resolve reference "{IMAGE}": '
    f"unexpected status from HEAD request to https://us-central1-docker.pkg.dev/v2/{PROJECT}/"
    "apps/web/manifests/1: 403 Forbidden"
)
CONFIG = config_from_dict(
    {"auto_grant": {"repositories": [f"projects/{PROJECT}/locations/*/repositories/*"]}}
)


def _world(*, autopilot: bool, scopes: list[str]) -> dict[str, Any]:
    cluster: dict[str, Any] = {
        "location": "us-central1",
        "version": "1.33.2-gke.1111000",
        "node_pools": {
            "pool-1": {"service_account": ACCOUNT, "oauth_scopes": scopes, "nodes": [NODE]}
        },
    }
    if autopilot:
        cluster["autopilot"] = True
    return {
        "projects": {
            PROJECT: {
                "number": 111111111111,
                "service_accounts": {ACCOUNT: {}},
                "clusters": {"c": cluster},
                "repositories": {"apps": {"location": "us-central1", "tags": ["web:1"]}},
            }
        }
    }


def _remediate(world: dict[str, Any]) -> dict[str, Any]:
    entry = log_entry(
        project=PROJECT,
        location="us-central1",
        cluster="c",
        namespace="shop",
        pod="web-7d9f8c5b4-xk2p9",
        node=NODE,
        message=pull_message(IMAGE, TEXT),
    )
    with Sandbox(world_from_dict(world), strict=True) as box:
        (result,) = replay_events(
            world_from_dict(world), CONFIG, [("line 1", parse_event(entry))], box
        )
    return result


def test_the_adapter_reads_the_kind_and_the_auto_provisioning_defaults() -> None:
    for autopilot in (True, False):
        with Sandbox(
            world_from_dict(_world(autopilot=autopilot, scopes=[LOGGING])), strict=True
        ) as box:
            clients = GoogleClients(sandbox_endpoint(box.endpoint))
            try:
                cluster = GoogleAdapter(clients).cluster(PROJECT, "us-central1", "c")
            finally:
                clients.close()
        assert cluster is not None and cluster.autopilot is autopilot
        assert cluster.autoprovisioning_scopes == ((LOGGING,) if autopilot else ())
        assert cluster.autoprovisioning_account == (ACCOUNT if autopilot else None)


def test_autopilot_without_storage_scope_is_a_ticket_for_a_new_autopilot_cluster() -> None:
    result = _remediate(_world(autopilot=True, scopes=[LOGGING]))
    assert (result["cause"], result["action"]) == ("scope", "ticket")
    assert "Autopilot cluster c confirmed by the GKE API" in result["reasons"]
    commands = "\n".join(result["ticket"]["commands"])
    assert "create-auto" in commands and "node-pools" not in commands
    assert "enable_autopilot = true" in result["ticket"]["terraform"]


def test_the_same_text_on_a_standard_cluster_is_a_ticket_for_a_new_node_pool() -> None:
    result = _remediate(_world(autopilot=False, scopes=[LOGGING]))
    assert (result["cause"], result["action"]) == ("scope", "ticket")
    assert not any("Autopilot" in r for r in result["reasons"])
    commands = "\n".join(result["ticket"]["commands"])
    assert "gcloud container node-pools create" in commands and "create-auto" not in commands


def test_autopilot_with_storage_scope_and_no_role_is_granted_like_any_cluster() -> None:
    result = _remediate(_world(autopilot=True, scopes=[CLOUD]))
    assert (result["cause"], result["action"]) == ("role", "grant")
    assert result["grant"]["member"] == f"serviceAccount:{ACCOUNT}"


# -- containerd 2 and Docker schema 1 -------------------------------------------------------

SCHEMA_1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"
SCHEMA_2 = "application/vnd.docker.distribution.manifest.v2+json"
# GKE 1.33's containerd 2.0, as kubelet reported it (tests/data/containerd2_schema1.txt).
REFUSED_SCHEMA_1 = (
    f'failed to pull and unpack image "{IMAGE}": failed to get converter for "{IMAGE}": '
    "Pulling Schema 1 images have been deprecated and disabled by default since containerd "
    "v2.0. As a workaround you may set an environment variable "
    "`CONTAINERD_ENABLE_DEPRECATED_PULL_SCHEMA_1_IMAGE=1`, but this will be completely removed "
    "in containerd v2.1."
)


def _image_world(media_type: str, version: str = "1.33.2-gke.1111000") -> dict[str, Any]:
    world = _world(autopilot=False, scopes=[CLOUD])
    project = world["projects"][PROJECT]
    project["clusters"]["c"]["node_pools"]["pool-1"]["version"] = version
    project["repositories"]["apps"]["manifests"] = {"web:1": {"media_type": media_type}}
    project["repositories"]["apps"]["iam"] = [
        {"role": "roles/artifactregistry.reader", "members": [f"serviceAccount:{ACCOUNT}"]}
    ]
    return world


def _remediate_text(world: dict[str, Any], message: str, reason: str = "Failed") -> dict[str, Any]:
    entry = log_entry(
        project=PROJECT,
        location="us-central1",
        cluster="c",
        namespace="shop",
        pod="web-7d9f8c5b4-xk2p9",
        node=NODE,
        message=message,
        reason=reason,
    )
    with Sandbox(world_from_dict(world), strict=True) as box:
        (result,) = replay_events(
            world_from_dict(world), CONFIG, [("line 1", parse_event(entry))], box
        )
    return result


def test_the_adapter_reads_a_tags_manifest_type_and_size() -> None:
    world = _image_world(SCHEMA_1)
    world["projects"][PROJECT]["repositories"]["apps"]["manifests"]["web:1"]["size_bytes"] = 7
    with Sandbox(world_from_dict(world), strict=True) as box:
        clients = GoogleClients(sandbox_endpoint(box.endpoint))
        try:
            adapter = GoogleAdapter(clients)
            repository = f"projects/{PROJECT}/locations/us-central1/repositories/apps"
            found = adapter.docker_image(repository, "web", "1")
            by_digest = adapter.docker_image(
                repository, "web", found.name.rsplit("@", 1)[1] if found else ""
            )
            missing = adapter.docker_image(repository, "web", "2")
        finally:
            clients.close()
    assert found is not None and (found.media_type, found.size_bytes) == (SCHEMA_1, 7)
    assert found.name.startswith(f"{repository}/dockerImages/web@sha256:")
    assert by_digest == found and missing is None


def test_a_schema_1_image_on_containerd_2_is_an_image_format_ticket_never_a_grant() -> None:
    result = _remediate_text(_image_world(SCHEMA_1), pull_message(IMAGE, REFUSED_SCHEMA_1))
    assert (result["cause"], result["action"]) == ("image_format", "ticket")
    assert result["grant"] is None
    assert f"is a Docker schema 1 image ({SCHEMA_1}, Artifact Registry)" in result["reasons"][0]
    assert result["ticket"]["commands"][0] == f"docker buildx build --tag {IMAGE} --push ."


def test_the_same_text_after_the_image_was_pushed_again_is_not_image_format() -> None:
    """The tag now names a schema 2 manifest: the registry, not the old text, decides."""
    result = _remediate_text(_image_world(SCHEMA_2), pull_message(IMAGE, REFUSED_SCHEMA_1))
    assert result["cause"] == "unknown"
    assert any(f"is {SCHEMA_2}, not Docker schema 1" in r for r in result["reasons"])


def test_a_follow_up_that_gives_no_reason_is_judged_on_the_registry_and_the_node() -> None:
    back_off = f'Back-off pulling image "{IMAGE}"'
    on_33 = _remediate_text(_image_world(SCHEMA_1), back_off, reason="BackOff")
    assert on_33["cause"] == "image_format"
    # containerd 1.7 (GKE 1.32) still pulls schema 1: not the cause there.
    on_32 = _remediate_text(_image_world(SCHEMA_1, "1.32.4-gke.1106006"), back_off, "BackOff")
    assert on_32["cause"] != "image_format"


# -- a cancelled pull of a large image ------------------------------------------------------

CANCELLED = "context canceled"
GIB = 1 << 30


def _sized_world(size: int, streaming: bool = False) -> dict[str, Any]:
    world = _image_world(SCHEMA_2, "1.32.4-gke.1106006")
    project = world["projects"][PROJECT]
    project["repositories"]["apps"]["manifests"]["web:1"]["size_bytes"] = size
    project["clusters"]["c"]["node_pools"]["pool-1"]["image_streaming"] = streaming
    return world


def test_a_cancelled_pull_of_a_large_image_is_a_ticket_to_stream_it() -> None:
    result = _remediate_text(_sized_world(6 * GIB), pull_message(IMAGE, CANCELLED))
    assert (result["cause"], result["action"]) == ("large_image", "ticket")
    assert "the image is 6.0 GiB" in result["reasons"][0]
    assert "image streaming off" in result["reasons"][0]
    assert result["ticket"]["commands"][1].endswith("--enable-image-streaming")


def test_the_same_text_for_a_small_image_is_not_large_image() -> None:
    result = _remediate_text(_sized_world(20 << 20), pull_message(IMAGE, CANCELLED))
    assert result["cause"] == "unknown"


def test_a_large_image_on_a_streaming_pool_is_told_to_preload() -> None:
    result = _remediate_text(_sized_world(6 * GIB, streaming=True), pull_message(IMAGE, CANCELLED))
    assert result["cause"] == "large_image"
    assert "image streaming on" in result["reasons"][0]
    assert result["ticket"]["commands"] == []
    assert "secondary boot disk" in result["ticket"]["steps"][1]


def test_kubelets_pull_qps_refusal_is_a_ticket_even_where_a_grant_is_missing() -> None:
    """The node account lacks the reader role here, but the registry was never asked."""
    world = _world(autopilot=False, scopes=[CLOUD])
    result = _remediate_text(world, f'Failed to pull image "{IMAGE}": pull QPS exceeded')
    assert (result["cause"], result["action"], result["grant"]) == ("pull_qps", "ticket", None)


def test_docker_hubs_rate_limit_is_a_ticket_with_a_pull_through_cache() -> None:
    text = (
        'failed to pull and unpack image "docker.io/library/busybox:latest": failed to copy: '
        "httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/"
        "library/busybox/manifests/latest: 429 Too Many Requests - Server message: "
        "toomanyrequests: You have reached your pull rate limit."
    )
    world = _world(autopilot=False, scopes=[CLOUD])
    result = _remediate_text(world, pull_message("busybox", text))
    assert (result["cause"], result["action"]) == ("rate_limit", "ticket")
    assert "REMOTE_REPOSITORY" in result["ticket"]["terraform"]
    assert "dockerhub-mirror/library/busybox" in result["ticket"]["commands"][2]
