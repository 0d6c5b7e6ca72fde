"""A remote repository's upstream credentials, over the sandbox with `pullfix replay`: the same
text in a world where the repository's password version and Artifact Registry's service agent's
access to it hold, and in one where they do not. The verdict follows Secret Manager, not the
text; a grant pullfix made before (it did not read them) is not made where they fail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pullfix.core.model import AccessDenied
from pullfix.dev.sandbox import Sandbox
from pullfix.gcp.adapter import GoogleAdapter
from pullfix.gcp.clients import GoogleClients
from tests.integration.test_refusals import (
    AR_IMAGE,
    DEFAULT_SA,
    _event,
    _policy_denial,
    _readers,
    _replay,
    _world,
)

pytestmark = pytest.mark.integration

VERSION = "projects/shop-images/secrets/dockerhub/versions/2"
AR_AGENT = "serviceAccount:service-222222222222@gcp-sa-artifactregistry.iam.gserviceaccount.com"


def _remote_world(state: str, *, agent_bound: bool, version: str = VERSION) -> dict[str, Any]:
    world = _world(ar_disabled=False)
    images = world["projects"]["shop-images"]
    images["repositories"]["images"].update(mode="remote", upstream_secret_version=version)
    iam = [{"role": "roles/secretmanager.secretAccessor", "members": [AR_AGENT]}]
    images["secrets"] = {
        "dockerhub": {"versions": {"1": "DESTROYED", "2": state}, "iam": iam if agent_bound else []}
    }
    return world


@pytest.mark.parametrize(
    ("state", "agent_bound", "version", "command"),
    [
        ("DISABLED", True, VERSION, "gcloud secrets versions enable 2 --secret=dockerhub"),
        ("DESTROYED", True, VERSION, "gcloud secrets versions add dockerhub"),
        ("ENABLED", True, VERSION.replace("/2", "/7"), "gcloud secrets versions add dockerhub"),
        ("ENABLED", False, VERSION, f"--member={AR_AGENT} --role=roles/secretmanager"),
    ],
)
def test_a_remote_repository_that_cannot_authenticate_is_a_ticket_where_it_granted_before(
    tmp_path: Path, state: str, agent_bound: bool, version: str, command: str
) -> None:
    entry = _event(AR_IMAGE, "containerd_403")
    usable, after = _replay(tmp_path / "usable", _remote_world("ENABLED", agent_bound=True), entry)
    assert (usable["cause"], usable["action"]) == ("cross_project", "grant")
    assert DEFAULT_SA in _readers(after, "images")
    refused, after = _replay(
        tmp_path / "refused",
        _remote_world(state, agent_bound=agent_bound, version=version),
        entry,
    )
    assert (refused["cause"], refused["action"]) == ("upstream", "ticket")
    assert refused["grant"] is None and DEFAULT_SA not in _readers(after, "images")
    assert "upstream" in refused["reasons"][0]
    assert any("also holds no role" in r for r in refused["reasons"])
    assert any(command in c for c in refused["ticket"]["commands"])
    if not agent_bound:
        assert "google_secret_manager_secret_iam_member" in refused["ticket"]["terraform"]


def test_a_remote_repository_without_credentials_is_judged_on_iam(tmp_path: Path) -> None:
    world = _world(ar_disabled=False)
    world["projects"]["shop-images"]["repositories"]["images"]["mode"] = "remote"
    result, after = _replay(tmp_path, world, _event(AR_IMAGE, "containerd_403"))
    assert (result["cause"], result["action"]) == ("cross_project", "grant")
    assert DEFAULT_SA in _readers(after, "images")


def test_the_strict_sandbox_answers_secret_manager_as_google_does(
    sandbox: Sandbox, clients: GoogleClients
) -> None:
    """repositories.get's remoteRepositoryConfig, versions.get's state (numbers in the names,
    `latest` the newest) and the secret's policy, each checked against Google's discovery
    schema by the strict sandbox."""
    from pullfix.dev.sandbox.world import Binding as WorldBinding
    from pullfix.dev.sandbox.world import Policy, Secret

    project = sandbox.world.projects["shop-prod"]
    repository = next(iter(project.repositories.values()))
    version = "projects/shop-prod/secrets/hub/versions/latest"
    repository.mode, repository.upstream_secret_version = "remote", version
    member = "serviceAccount:service-111111111111@gcp-sa-artifactregistry.iam.gserviceaccount.com"
    project.secrets["hub"] = Secret(
        {"1": "ENABLED", "2": "DISABLED"},
        Policy([WorldBinding("roles/secretmanager.secretAccessor", [member])]),
    )
    adapter = GoogleAdapter(clients, cache_ttl=0.0)
    name = f"projects/shop-prod/locations/{repository.location}/repositories/{repository.name}"
    assert adapter.repository_upstream_secret(name) == version
    assert adapter.repository_mode(name) == "REMOTE_REPOSITORY"
    assert adapter.secret_version_state(version) == "DISABLED"
    assert adapter.secret_version_state(version.replace("latest", "1")) == "ENABLED"
    assert adapter.secret_version_state(version.replace("latest", "9")) == ""
    (binding,) = adapter.secret_policy("projects/shop-prod/secrets/hub").bindings
    assert binding.role == "roles/secretmanager.secretAccessor" and member in binding.members
    repository.mode, repository.upstream_secret_version = "standard", None
    assert adapter.repository_upstream_secret(name) == ""


BASE = "projects/shop-base/locations/us-central1/repositories/base"


def _virtual_world(*, agent_reads: bool) -> dict[str, Any]:
    world = _world(ar_disabled=False)
    world["projects"]["shop-images"]["repositories"]["images"].update(
        mode="virtual", upstreams=[BASE]
    )
    iam = [{"role": "roles/artifactregistry.reader", "members": [AR_AGENT]}]
    world["projects"]["shop-base"] = {
        "number": 333333333333,
        "repositories": {
            "base": {
                "location": "us-central1",
                "tags": ["web:1.4"],
                "iam": iam if agent_reads else [],
            }
        },
    }
    return world


def test_a_virtual_repository_whose_agent_cannot_read_an_upstream_is_a_ticket(
    tmp_path: Path,
) -> None:
    entry = _event(AR_IMAGE, "containerd_403")
    readable, after = _replay(tmp_path / "readable", _virtual_world(agent_reads=True), entry)
    assert (readable["cause"], readable["action"]) == ("cross_project", "grant")
    assert DEFAULT_SA in _readers(after, "images")
    unreadable, after = _replay(tmp_path / "unreadable", _virtual_world(agent_reads=False), entry)
    assert (unreadable["cause"], unreadable["action"]) == ("upstream", "ticket")
    assert unreadable["grant"] is None and DEFAULT_SA not in _readers(after, "images")
    assert BASE in unreadable["reasons"][0]
    commands = unreadable["ticket"]["commands"]
    assert commands[0] == (
        "gcloud artifacts repositories add-iam-policy-binding base --location=us-central1 "
        f"--project=shop-base --member={AR_AGENT} --role=roles/artifactregistry.reader"
    )
    assert "google_artifact_registry_repository_iam_member" in unreadable["ticket"]["terraform"]


def test_the_strict_sandbox_answers_a_virtual_repository_as_google_does(
    sandbox: Sandbox, clients: GoogleClients
) -> None:
    project = sandbox.world.projects["shop-prod"]
    repository = next(iter(project.repositories.values()))
    name = f"projects/shop-prod/locations/{repository.location}/repositories/{repository.name}"
    upstream = f"projects/shop-prod/locations/{repository.location}/repositories/gone"
    repository.mode, repository.upstreams = (
        "virtual",
        [name.replace(repository.name, "x"), upstream],
    )
    adapter = GoogleAdapter(clients, cache_ttl=0.0)
    assert adapter.repository_mode(name) == "VIRTUAL_REPOSITORY"
    assert adapter.repository_upstreams(name) == (name.replace(repository.name, "x"), upstream)
    assert adapter.upstream_policy(upstream) is None  # no such repository
    assert adapter.upstream_policy(name) is not None
    repository.mode, repository.upstreams = "standard", []
    assert adapter.repository_upstreams(name) == ()


# -- a remote repository's VPC Service Controls setting -------------------------------------


def _perimeter_world(*, policy: str | None, upstream: str | None = None) -> dict[str, Any]:
    """shop-images in a perimeter (a denial of the node account in its policy audit log), its
    repository `images` a remote one (Docker Hub, or `upstream`), and Artifact Registry's
    setting for remote repositories in us-central1 (`policy`; None: unset)."""
    world = _world(ar_disabled=False)
    images = world["projects"]["shop-images"]
    images["repositories"]["images"]["mode"] = "remote"
    if upstream is not None:
        images["repositories"]["images"]["remote_upstream"] = upstream
    if policy is not None:
        images["vpcsc_policy"] = {"us-central1": policy}
    world["log_entries"] = [_policy_denial("c45c76a3f28239f8")]
    return world


ALLOW_FIX = "gcloud artifacts vpcsc-config allow --project=shop-images --location=us-central1"


@pytest.mark.parametrize(
    ("policy", "upstream", "named"),
    [
        (None, None, True),  # unset: DENY, Google's default
        ("DENY", "https://ghcr.io", True),
        ("ALLOW", None, False),
        # An upstream in Artifact Registry is not outside Google.
        ("DENY", "projects/shop-base/locations/us-central1/repositories/base", False),
    ],
)
def test_a_perimeter_cutting_a_remote_repository_off_names_the_setting(
    tmp_path: Path, policy: str | None, upstream: str | None, named: bool
) -> None:
    entry = _event(AR_IMAGE, "containerd_403")
    result, after = _replay(tmp_path, _perimeter_world(policy=policy, upstream=upstream), entry)
    # A perimeter refused: no grant either way; the setting's fix only where it is the cause.
    assert (result["cause"], result["action"]) == ("vpc_sc", "ticket")
    assert result["grant"] is None and DEFAULT_SA not in _readers(after, "images")
    commands = "\n".join(result["ticket"]["commands"])
    if named:
        assert "is a remote repository in VPC Service Controls perimeter" in result["reasons"][0]
        assert (
            "setting for remote repositories in shop-images (us-central1) is DENY"
            in (result["reasons"][0])
        )
        assert commands.startswith(ALLOW_FIX)
        terraform = result["ticket"]["terraform"]
        assert 'resource "google_artifact_registry_vpcsc_config"' in terraform
        assert 'vpcsc_policy = "ALLOW"' in terraform
    else:
        assert ALLOW_FIX not in commands
        assert not any("is a remote repository in VPC" in r for r in result["reasons"])


def test_a_remote_repository_without_a_perimeter_is_judged_on_iam(tmp_path: Path) -> None:
    """DENY is every project's default: without a denial in the policy audit log, pullfix
    cannot tell the project is in a perimeter, notes the setting and lets IAM decide."""
    world = _perimeter_world(policy="DENY")
    world["log_entries"] = []
    result, _ = _replay(tmp_path, world, _event(AR_IMAGE, "containerd_403"))
    assert (result["cause"], result["action"]) == ("cross_project", "grant")
    assert any("is DENY: inside a service perimeter" in r for r in result["reasons"])


def test_a_refused_setting_read_names_its_permission(
    sandbox: Sandbox, clients: GoogleClients
) -> None:
    sandbox.add_fault(
        method="artifactregistry.projects.locations.getVpcscConfig", status=403, count=None
    )
    try:
        with pytest.raises(AccessDenied, match=r"artifactregistry\.vpcscconfigs\.get"):
            GoogleAdapter(clients, cache_ttl=0.0).vpcsc_policy("shop-prod", "us-central1")
    finally:
        sandbox.state.clear_faults()


def test_the_strict_sandbox_answers_get_vpcsc_config_as_google_does(
    sandbox: Sandbox, clients: GoogleClients
) -> None:
    project = sandbox.world.projects["shop-prod"]
    repository = next(iter(project.repositories.values()))
    adapter = GoogleAdapter(clients, cache_ttl=0.0)
    assert adapter.vpcsc_policy("shop-prod", "us-central1") == "DENY"  # unset
    project.vpcsc_policy["us-central1"] = "ALLOW"
    assert adapter.vpcsc_policy("shop-prod", "us-central1") == "ALLOW"
    project.vpcsc_policy.clear()
    name = f"projects/shop-prod/locations/{repository.location}/repositories/{repository.name}"
    repository.mode = "remote"
    assert adapter.repository_remote_upstream(name) == "DOCKER_HUB"
    repository.remote_upstream = "https://ghcr.io"
    assert adapter.repository_remote_upstream(name) == "https://ghcr.io"
    repository.mode, repository.remote_upstream = "standard", "DOCKER_HUB"
    assert adapter.repository_remote_upstream(name) == ""
