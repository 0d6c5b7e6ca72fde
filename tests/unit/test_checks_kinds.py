"""The cluster's kind: an Autopilot cluster's node pools are GKE's, so the fix for its nodes'
scopes or account is the cluster's (its auto-provisioning defaults), never a node pool."""

from __future__ import annotations

from typing import Any

import pytest

from pullfix.checks import judge, scopes
from pullfix.core.causes import Cause
from pullfix.core.classify import Diagnosis
from pullfix.core.imageref import parse_image
from pullfix.core.judge import Evidence
from pullfix.core.model import AccountInfo, ClusterInfo, InstanceGroup, NodePoolInfo
from pullfix.core.remediation import Context, ticket_draft

EMAIL = "nodes@app-proj.iam.gserviceaccount.com"
LOGGING = "https://www.googleapis.com/auth/logging.write"
CLOUD = "https://www.googleapis.com/auth/cloud-platform"
AR_REPO = "projects/app-proj/locations/us/repositories/apps"
GROUP = InstanceGroup("app-proj", "us-central1-a", "gk3-c-pool-1-1a2b-grp")
REFUSED = Diagnosis(Cause.PERMISSION, ())


def _pool(scopes_: tuple[str, ...] = (LOGGING,)) -> NodePoolInfo:
    return NodePoolInfo("pool-1", EMAIL, scopes_, "1.33.2-gke.1111000", (GROUP,))


def _evidence(autopilot: bool, scopes_: tuple[str, ...] = (LOGGING,), **changes: Any) -> Evidence:
    pool = _pool(scopes_)
    cluster = ClusterInfo(
        "app-proj",
        "us-central1",
        "c",
        "1.33.2-gke.1111000",
        (pool,),
        autopilot=autopilot,
        autoprovisioning_account=EMAIL if autopilot else None,
        autoprovisioning_scopes=scopes_ if autopilot else (),
    )
    fields: dict[str, Any] = {
        "cluster": cluster,
        "pool": pool,
        "image": parse_image("us-docker.pkg.dev/app-proj/apps/web:1"),
        "repository": AR_REPO,
        "account_email": EMAIL,
        "account": AccountInfo(EMAIL, True),
    }
    return Evidence(**{**fields, **changes})


@pytest.mark.parametrize(
    ("autopilot", "scopes_", "cause", "says_autopilot"),
    [
        (True, (LOGGING,), Cause.SCOPE, True),
        (False, (LOGGING,), Cause.SCOPE, False),
        (True, (CLOUD,), None, False),
        (False, (CLOUD,), None, False),
    ],
)
def test_scopes_names_the_autopilot_defaults_only_on_autopilot(
    autopilot: bool, scopes_: tuple[str, ...], cause: Cause | None, says_autopilot: bool
) -> None:
    found = scopes.judge(REFUSED, _evidence(autopilot, scopes_))
    assert (found.cause if found else None) is cause
    text = " ".join(found.decisive) if found else ""
    assert ("Autopilot" in text) is says_autopilot
    if says_autopilot:
        assert "auto-provisioning defaults (scopes logging.write)" in text


def test_the_verdict_says_the_cluster_is_autopilot_and_the_kind_never_blocks_a_grant() -> None:
    scope = judge(REFUSED, _evidence(True))
    assert scope.cause is Cause.SCOPE
    assert "Autopilot cluster c confirmed by the GKE API" in scope.reasons
    # With storage read, the account's missing role is the cause, Autopilot or not: the
    # node account is the grantee either way.
    for autopilot in (True, False):
        role = judge(REFUSED, _evidence(autopilot, (CLOUD,)))
        assert role.cause is Cause.ROLE
        assert any(r.startswith("Autopilot cluster") for r in role.reasons) is autopilot


def _draft(cause: Cause, autopilot: bool, **changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "cause": cause,
        "project": "app-proj",
        "location": "us-central1",
        "cluster": "c",
        "namespace": "shop",
        "workload": "web",
        "node_pool": "pool-1",
        "account": EMAIL,
        "image": "us-docker.pkg.dev/app-proj/apps/web:1",
        "autopilot": autopilot,
    }
    return ticket_draft(Context(**{**fields, **changes}))


def test_an_autopilot_scope_ticket_recreates_the_cluster_never_a_node_pool() -> None:
    auto = _draft(Cause.SCOPE, True)
    commands = "\n".join(auto["commands"])
    assert "node-pools" not in commands and "drain" not in commands
    assert commands == (
        "gcloud container clusters create-auto c-2 --location=us-central1 --project=app-proj "
        f"--service-account={EMAIL} --scopes=cloud-platform"
    )
    assert "enable_autopilot = true" in auto["terraform"]
    assert "auto_provisioning_defaults {" in auto["terraform"]
    assert f'service_account = "{EMAIL}"' in auto["terraform"]
    assert f'oauth_scopes    = ["{CLOUD}"]' in auto["terraform"]
    assert "Autopilot" in auto["steps"][0]
    standard = _draft(Cause.SCOPE, False)
    assert standard["commands"][0].startswith("gcloud container node-pools create")
    assert standard["terraform"] is None


def test_an_autopilot_account_ticket_enables_it_or_recreates_the_cluster() -> None:
    auto = _draft(Cause.SERVICE_ACCOUNT, True)
    assert auto["commands"][0] == f"gcloud iam service-accounts enable {EMAIL}"
    assert auto["commands"][1].startswith("gcloud container clusters create-auto c-2 ")
    # The new cluster's nodes do not run as the broken account.
    assert "--service-account" not in auto["commands"][1]
    assert "service_account" not in auto["terraform"]
    assert "node pool" not in auto["steps"][0] and "Autopilot" in auto["steps"][1]
    standard = _draft(Cause.SERVICE_ACCOUNT, False)
    assert standard["commands"] == [f"gcloud iam service-accounts enable {EMAIL}"]


def test_event_values_stay_data_in_the_autopilot_commands() -> None:
    """The cluster, location and project come from the event: one shell word each, one HCL
    string each, never a command substitution or a template."""
    hostile = _draft(
        Cause.SCOPE, True, cluster="c$(id)", location="us-central1;rm -rf ~", project="p${x}"
    )
    command = hostile["commands"][0]
    assert "create-auto 'c$(id)-2' --location='us-central1;rm -rf ~' --project='p${x}'" in command
    terraform = hostile["terraform"]
    assert 'name             = "c$(id)-2"' in terraform
    assert 'project          = "p$${x}"' in terraform
    assert 'resource "google_container_cluster" "c__id__2"' in terraform
