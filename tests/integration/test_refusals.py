"""Refusals a reader grant cannot fix, over the sandbox with `pullfix replay`: the same text in a
world where the refusal holds and one where it does not. The verdict follows Google's APIs, and
a grant pullfix made before (it did not read them) is not made where one holds."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from pullfix.core.model import AccessDenied
from pullfix.dev.events import log_entry, pull_message
from pullfix.dev.sandbox import Sandbox
from pullfix.gcp.adapter import GoogleAdapter
from pullfix.gcp.clients import GoogleClients
from tests.commands import pullfix
from tests.conftest import REPO

pytestmark = pytest.mark.integration
SAMPLES = REPO / "functions" / "pullfix" / "dev" / "samples"
TEXTS = {
    line["id"]: line
    for line in map(json.loads, (REPO / "tests/data/refusals/texts.jsonl").read_text().splitlines())
}
DEFAULT_SA = "serviceAccount:111111111111-compute@developer.gserviceaccount.com"
AR_IMAGE = "us-central1-docker.pkg.dev/shop-images/images/web:1.4"
GCR_IMAGE = "gcr.io/shop-images/web:1.4"
AR_REPO = "projects/shop-images/locations/us-central1/repositories/images"
GCR_REPO = "projects/shop-images/locations/us/repositories/gcr.io"


def _world(*, ar_disabled: bool) -> dict[str, Any]:
    world: dict[str, Any] = copy.deepcopy(yaml.safe_load((SAMPLES / "world.yaml").read_text()))
    images = world["projects"]["shop-images"]
    # Artifact Registry serves gcr.io images from the project's gcr.io repository.
    images["repositories"]["gcr.io"] = {"location": "us", "tags": ["web:1.4"]}
    if ar_disabled:
        images["disabled_services"] = ["artifactregistry.googleapis.com"]
    return world


def _event(image: str, text: str) -> dict[str, Any]:
    host, _, path = image.partition("/")
    name, _, tag = path.rpartition(":")
    detail = TEXTS[text]["detail"].format(
        image=image, url=f"https://{host}/v2/{name}/manifests/{tag}"
    )
    return log_entry(
        project="shop-prod",
        location="us-central1",
        cluster="checkout",
        namespace="web",
        pod="web-7d9f8c5b4-xk2p9",
        node="gke-checkout-default-pool-1a2b3c4d-x7k9",
        message=pull_message(image, detail),
        controller=("Deployment", "web"),
        timestamp="2026-11-20T10:00:07Z",
    )


def _replay(
    tmp_path: Path, world: dict[str, Any], entry: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The one event's result and the world after it."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    world_file, out_file = tmp_path / "world.yaml", tmp_path / "after.yaml"
    world_file.write_text(yaml.safe_dump(world))
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {"auto_grant": {"repositories": ["projects/shop-*/locations/*/repositories/*"]}}
        )
    )
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(entry) + "\n")
    # `pullfix replay` as an operator runs it, in this process (the command's own process
    # behaviour is held by tests/unit/test_cli.py and test_replay.py).
    done = pullfix(
        "replay",
        "--world",
        str(world_file),
        "--config",
        str(config),
        "--world-out",
        str(out_file),
        "--json",
        str(events),
    )
    assert done.returncode == 0, done.stderr
    (result,) = [json.loads(line) for line in done.stdout.splitlines()]
    return result, yaml.safe_load(out_file.read_text())


def _readers(world: dict[str, Any], repository: str) -> set[str]:
    bindings = world["projects"]["shop-images"]["repositories"][repository].get("iam") or []
    return {
        m for b in bindings if b["role"] == "roles/artifactregistry.reader" for m in b["members"]
    }


@pytest.mark.parametrize(
    ("image", "repository", "text"),
    [
        (AR_IMAGE, "images", "docker_api_disabled"),
        (AR_IMAGE, "images", "containerd_403"),
        (GCR_IMAGE, "gcr.io", "containerd_403"),
    ],
)
def test_a_disabled_api_is_a_ticket_where_the_same_text_granted_before(
    tmp_path: Path, image: str, repository: str, text: str
) -> None:
    entry = _event(image, text)
    # The API enabled: the node account lacks the role, and pullfix grants it (as it did for
    # both worlds before it read Service Usage).
    enabled, after = _replay(tmp_path / "enabled", _world(ar_disabled=False), entry)
    assert (enabled["cause"], enabled["action"]) == ("cross_project", "grant")
    assert DEFAULT_SA in _readers(after, repository)
    # The API disabled: no grant; the ticket enables the API and names the missing role too.
    disabled, after = _replay(tmp_path / "disabled", _world(ar_disabled=True), entry)
    assert (disabled["cause"], disabled["action"]) == ("api_disabled", "ticket")
    assert disabled["grant"] is None
    assert DEFAULT_SA not in _readers(after, repository)
    assert "is disabled in project shop-images" in disabled["reasons"][0]
    assert any("also holds no role" in r for r in disabled["reasons"])
    commands = disabled["ticket"]["commands"]
    assert commands[0] == (
        "gcloud services enable artifactregistry.googleapis.com --project=shop-images"
    )
    assert "--role=roles/artifactregistry.reader" in commands[1]
    assert 'resource "google_project_service"' in disabled["ticket"]["terraform"]


def test_a_disabled_api_beside_access_already_granted_names_only_the_api(tmp_path: Path) -> None:
    world = _world(ar_disabled=True)
    iam = world["projects"]["shop-images"]["repositories"]["images"]["iam"]
    iam.append({"role": "roles/artifactregistry.reader", "members": [DEFAULT_SA]})
    result, _ = _replay(tmp_path, world, _event(AR_IMAGE, "containerd_403"))
    assert (result["cause"], result["action"]) == ("api_disabled", "ticket")
    assert not any("also holds no role" in r for r in result["reasons"])
    assert len(result["ticket"]["commands"]) == 1


def test_the_strict_sandbox_answers_service_usage_as_google_does(
    sandbox: Sandbox, clients: GoogleClients
) -> None:
    """services.get: ENABLED unless the world disables it, the name by project number, a
    project pullfix may not see (or that does not exist) a 403 (a denial: cannot tell)."""
    adapter = GoogleAdapter(clients, cache_ttl=0.0)
    service = "artifactregistry.googleapis.com"
    assert adapter.service_state("shop-prod", service) == "ENABLED"
    sandbox.world.projects["shop-prod"].disabled_services.append(service)
    assert adapter.service_state("111111111111", service) == "DISABLED"
    got = clients.rest.get(
        "serviceusage",
        "/v1/projects/{}/services/{}",
        "shop-prod",
        service,
        fields="name,parent,state",
        timeout=5.0,
    )
    assert got == {
        "name": f"projects/111111111111/services/{service}",
        "parent": "projects/111111111111",
        "state": "DISABLED",
    }
    with pytest.raises(AccessDenied, match=r"serviceusage\.services\.get"):
        adapter.service_state("not-in-world", service)


PERIMETER = "accessPolicies/123456/servicePerimeters/registry_perimeter"


def _policy_denial(unique_id: str) -> dict[str, Any]:
    """The Policy Denied audit log entry VPC Service Controls writes for a refused pull."""
    return {
        "logName": "projects/shop-images/logs/cloudaudit.googleapis.com%2Fpolicy",
        "timestamp": "2026-11-20T10:00:06.512Z",
        "insertId": "-x1y2z3",
        "severity": "ERROR",
        "resource": {"type": "audited_resource", "labels": {"project_id": "shop-images"}},
        "protoPayload": {
            "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
            "status": {"code": 7, "message": "Request is prohibited by organization's policy."},
            "serviceName": "artifactregistry.googleapis.com",
            "methodName": "artifactregistry.googleapis.com/DockerRead",
            "authenticationInfo": {
                "principalEmail": "111111111111-compute@developer.gserviceaccount.com"
            },
            "metadata": {
                "@type": "type.googleapis.com/google.cloud.audit.VpcServiceControlAuditMetadata",
                "vpcServiceControlsUniqueId": unique_id,
                "violationReason": "NO_MATCHING_ACCESS_LEVEL",
                "securityPolicyInfo": {
                    "servicePerimeterName": PERIMETER,
                    "organizationId": "123456789012",
                },
                "ingressViolations": [
                    {"targetResource": "projects/222222222222", "servicePerimeter": PERIMETER}
                ],
                "resourceNames": ["projects/222222222222"],
            },
        },
    }


def test_a_vpc_sc_denial_in_the_policy_log_is_a_ticket_where_the_text_alone_granted(
    tmp_path: Path,
) -> None:
    entry = _event(GCR_IMAGE, "docker_vpc_sc")
    # The log holds no denial of the text's identifier (a forged text, or another project's):
    # IAM decides, and the missing role is granted as before.
    world = _world(ar_disabled=False)
    world["log_entries"] = [_policy_denial("0000000000000000")]
    unconfirmed, _ = _replay(tmp_path / "unconfirmed", world, entry)
    assert (unconfirmed["cause"], unconfirmed["action"]) == ("cross_project", "grant")
    assert any("does not hold" in r for r in unconfirmed["reasons"])
    # The project's policy audit log holds it: the perimeter refused, no grant.
    world["log_entries"] = [_policy_denial("c45c76a3f28239f8")]
    denied, after = _replay(tmp_path / "denied", world, entry)
    assert (denied["cause"], denied["action"]) == ("vpc_sc", "ticket")
    assert denied["grant"] is None and DEFAULT_SA not in _readers(after, "gcr.io")
    assert PERIMETER in denied["reasons"][0]
    assert any("also holds no role" in r for r in denied["reasons"])
    commands = "\n".join(denied["ticket"]["commands"])
    assert "perimeters update registry_perimeter --policy=123456" in commands
    assert "--set-ingress-policies=ingress.yaml" in commands
    assert "ingress_policies {" in denied["ticket"]["terraform"]


def test_a_principal_access_boundary_is_a_ticket_where_the_same_text_granted_before(
    tmp_path: Path,
) -> None:
    """The node account's project is bound to a boundary policy: a repository outside it is
    refused whatever role is granted, so nothing is granted; include it, and the missing role
    is granted as before."""
    entry = _event(AR_IMAGE, "containerd_403")
    world = _world(ar_disabled=False)
    world["organization"] = {
        "id": "123456789012",
        "principal_access_boundaries": {
            "own-project-only": {
                "principal_sets": ["//cloudresourcemanager.googleapis.com/projects/shop-prod"],
                "resources": ["//cloudresourcemanager.googleapis.com/projects/shop-prod"],
            }
        },
    }
    bounded, after = _replay(tmp_path / "bounded", world, entry)
    assert (bounded["cause"], bounded["action"]) == ("permission", "ticket")
    assert bounded["grant"] is None and DEFAULT_SA not in _readers(after, "images")
    assert "principalAccessBoundaryPolicies/own-project-only" in bounded["reasons"][0]
    assert any("also holds no role" in r for r in bounded["reasons"])
    commands = "\n".join(bounded["ticket"]["commands"])
    assert "principal-access-boundary-policies update own-project-only" in commands
    assert "add-iam-policy-binding" in commands  # the missing role, named beside it
    boundaries = world["organization"]["principal_access_boundaries"]
    boundaries["own-project-only"]["resources"].append(
        "//cloudresourcemanager.googleapis.com/projects/shop-images"
    )
    eligible, after = _replay(tmp_path / "eligible", world, entry)
    assert (eligible["cause"], eligible["action"]) == ("cross_project", "grant")
    assert DEFAULT_SA in _readers(after, "images")


KMS_KEY = "projects/shop-images/locations/us-central1/keyRings/registry/cryptoKeys/images"
AR_AGENT = "serviceAccount:service-222222222222@gcp-sa-artifactregistry.iam.gserviceaccount.com"


def _cmek_world(state: str, *, agent_bound: bool) -> dict[str, Any]:
    world = _world(ar_disabled=False)
    images = world["projects"]["shop-images"]
    images["repositories"]["images"]["kms_key_name"] = KMS_KEY
    iam = [{"role": "roles/cloudkms.cryptoKeyEncrypterDecrypter", "members": [AR_AGENT]}]
    images["crypto_keys"] = {
        "us-central1/registry/images": {"state": state, "iam": iam if agent_bound else []}
    }
    return world


@pytest.mark.parametrize(
    ("state", "agent_bound", "command"),
    [
        ("DISABLED", True, "gcloud kms keys versions enable VERSION --key=images"),
        ("DESTROY_SCHEDULED", True, "gcloud kms keys versions restore VERSION --key=images"),
        ("ENABLED", False, f"--member={AR_AGENT}"),
    ],
)
def test_a_key_that_cannot_serve_is_a_ticket_where_the_same_text_granted_before(
    tmp_path: Path, state: str, agent_bound: bool, command: str
) -> None:
    entry = _event(AR_IMAGE, "containerd_403")
    usable, after = _replay(tmp_path / "usable", _cmek_world("ENABLED", agent_bound=True), entry)
    assert (usable["cause"], usable["action"]) == ("cross_project", "grant")
    assert DEFAULT_SA in _readers(after, "images")
    refused, after = _replay(
        tmp_path / "refused", _cmek_world(state, agent_bound=agent_bound), entry
    )
    assert (refused["cause"], refused["action"]) == ("cmek", "ticket")
    assert refused["grant"] is None and DEFAULT_SA not in _readers(after, "images")
    assert any("also holds no role" in r for r in refused["reasons"])
    assert any(command in c for c in refused["ticket"]["commands"])


def test_the_strict_sandbox_answers_cloud_kms_as_google_does(
    sandbox: Sandbox, clients: GoogleClients
) -> None:
    """repositories.get's kmsKeyName, cryptoKeys.get's primary state and the key's policy,
    each checked against Google's discovery schema by the strict sandbox."""
    from pullfix.dev.sandbox.world import Binding as WorldBinding
    from pullfix.dev.sandbox.world import CryptoKey, Policy

    project = sandbox.world.projects["shop-prod"]
    repository = next(iter(project.repositories.values()))
    key = f"projects/shop-prod/locations/{repository.location}/keyRings/r/cryptoKeys/k"
    repository.kms_key_name = key
    member = "serviceAccount:service-111111111111@gcp-sa-artifactregistry.iam.gserviceaccount.com"
    project.crypto_keys[f"{repository.location}/r/k"] = CryptoKey(
        "DESTROY_SCHEDULED",
        Policy([WorldBinding("roles/cloudkms.cryptoKeyEncrypterDecrypter", [member])]),
    )
    adapter = GoogleAdapter(clients, cache_ttl=0.0)
    name = f"projects/shop-prod/locations/{repository.location}/repositories/{repository.name}"
    assert adapter.repository_kms_key(name) == key
    assert adapter.crypto_key_state(key) == "DESTROY_SCHEDULED"
    (binding,) = adapter.crypto_key_policy(key).bindings
    assert binding.role == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    assert member in binding.members
    assert adapter.crypto_key_state(key.replace("/k", "/gone")) == ""


def test_containerds_bare_403_is_looked_up_by_the_node_account_and_its_time(
    tmp_path: Path,
) -> None:
    """containerd prints `403 Forbidden` for a perimeter's refusal too, with no identifier:
    the policy audit log is asked for a denial of the verified node account around the event's
    time. Found, nothing is granted; a denial of another account, or outside the window, or
    none, leaves IAM to decide."""
    entry = _event(AR_IMAGE, "containerd_403")
    world = _world(ar_disabled=False)
    denial = _policy_denial("c45c76a3f28239f8")
    denial["logName"] = "projects/shop-images/logs/cloudaudit.googleapis.com%2Fpolicy"
    other = copy.deepcopy(denial)
    other["protoPayload"]["authenticationInfo"]["principalEmail"] = (
        "other@shop.iam.gserviceaccount.com"
    )
    earlier = copy.deepcopy(denial)
    earlier["timestamp"] = "2026-11-20T09:40:00Z"
    world["log_entries"] = [other, earlier]
    granted, _ = _replay(tmp_path / "granted", world, entry)
    assert granted["action"] == "grant"
    world["log_entries"] = [other, earlier, denial]
    denied, after = _replay(tmp_path / "denied", world, entry)
    assert (denied["cause"], denied["action"]) == ("vpc_sc", "ticket")
    assert denied["grant"] is None and DEFAULT_SA not in _readers(after, "images")
    assert PERIMETER in denied["reasons"][0]
