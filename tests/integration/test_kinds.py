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
