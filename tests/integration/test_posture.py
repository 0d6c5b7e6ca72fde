"""`pullfix diagnose` reports each node account's posture beside the pull verdict: the role
Google recommends for node accounts, read from the project's policy in the sandbox. Advisory:
it never changes the exit code."""

from __future__ import annotations

import copy

import pytest

from pullfix.dev.sandbox import Sandbox
from pullfix.dev.sandbox.world import Binding, world_from_dict
from tests.integration.pipeline import LOCATION, PROD, sa, world_dict
from tests.integration.test_operator import APPS, CLUSTER_NAME, diagnose, run

pytestmark = pytest.mark.integration

NODE_ROLE = "roles/container.defaultNodeServiceAccount"


@pytest.fixture
def sandbox() -> Sandbox:
    world = copy.deepcopy(world_dict(None))
    world["projects"][PROD]["iam"].append(
        {"role": NODE_ROLE, "members": [f"serviceAccount:{sa('nodes')}"]}
    )
    world["projects"][PROD]["repositories"]["apps"]["iam"].append(
        {"role": "roles/artifactregistry.reader", "members": [f"serviceAccount:{sa('nodes')}"]}
    )
    with Sandbox(world_from_dict(world), strict=True) as running:
        yield running  # type: ignore[misc]


def test_the_posture_line_sits_beside_the_pull_verdict(sandbox: Sandbox) -> None:
    code, result = diagnose(sandbox, "--node-pool", "custom-pool", f"{APPS}/api:2.0")
    assert code == 0 and result["can_pull"]
    (posture,) = result["posture"]
    assert posture["status"] == "ok"
    assert posture["service_account"] == sa("nodes")
    # The same verdict without the role: the pull still passes, the posture advises.
    sandbox.world.projects[PROD].policy.bindings = [
        b for b in sandbox.world.projects[PROD].policy.bindings if b.role != NODE_ROLE
    ]
    code, result = diagnose(sandbox, "--node-pool", "custom-pool", f"{APPS}/api:2.0")
    assert code == 0 and result["can_pull"]
    (posture,) = result["posture"]
    assert posture["status"] == "advice"
    assert any(NODE_ROLE in step for step in posture["fix"])


def test_the_table_shows_the_posture_of_the_default_account(sandbox: Sandbox) -> None:
    done = run(
        sandbox,
        "diagnose",
        "--cluster",
        CLUSTER_NAME,
        "--node-pool",
        "default-pool",
        "--format",
        "table",
        f"{APPS}/api:2.0",
    )
    assert "posture: default-pool (100000000001-compute@developer.gserviceaccount.com): advice" in (
        done.stdout
    ), done.stdout + done.stderr
    assert "Compute Engine default service account" in done.stdout


@pytest.mark.parametrize(("listed", "hidden"), [(False, True), (True, False)])
def test_diagnose_lists_repositories_behind_a_group_it_cannot_read(
    sandbox: Sandbox, listed: bool, hidden: bool
) -> None:
    """A reader binding to a group whose members pullfix may not read: remediate would fail
    closed (a ticket), and diagnose says which repository and why. The same binding to a
    group the troubleshooter can expand (without the account in it) is no such surprise."""
    sandbox.world.projects[PROD].repositories["apps"].policy.bindings.append(
        Binding("roles/artifactregistry.reader", ["group:platform@example.com"])
    )
    if listed:
        sandbox.world.groups["platform@example.com"] = ["user:alice@example.com"]
    code, result = diagnose(sandbox, "--node-pool", "dry-pool", f"{APPS}/web:1.0")
    assert code == 1  # no grant reaches the account either way: the pull fails
    seen = result["cannot_see"]
    if hidden:
        (item,) = seen
        assert item["repository"] == f"projects/{PROD}/locations/{LOCATION}/repositories/apps"
        assert item["node_pool"] == "dry-pool"
        assert "group:platform@example.com" in item["why"]
    else:
        assert seen == []
