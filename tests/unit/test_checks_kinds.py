"""The cluster's kind: an Autopilot cluster's node pools are GKE's, so the fix for its nodes'
scopes or account is the cluster's (its auto-provisioning defaults), never a node pool; GKE
1.33+ Linux nodes run containerd 2, which refuses Docker schema 1 images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pullfix.checks import grant_may_fix, image_size, judge, manifest, scopes
from pullfix.core.causes import Cause
from pullfix.core.classify import Diagnosis, classify_message
from pullfix.core.imageref import parse_image
from pullfix.core.judge import Evidence
from pullfix.core.model import (
    AccountInfo,
    ClusterInfo,
    DockerImageInfo,
    InstanceGroup,
    NodePoolInfo,
)
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


# -- containerd 2 and Docker schema 1 -------------------------------------------------------

SCHEMA_1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"
SCHEMA_2 = "application/vnd.docker.distribution.manifest.v2+json"
OCI = "application/vnd.oci.image.manifest.v1+json"
DIGEST = "sha256:" + "ab" * 32
# containerd's own words, as kubelet reports them (tests/data/containerd2_schema1.txt).
SCHEMA_1_TEXTS = [
    line
    for line in (Path(__file__).parents[1] / "data" / "containerd2_schema1.txt")
    .read_text()
    .splitlines()
    if line and not line.startswith("#")
]
SILENT = Diagnosis(Cause.UNKNOWN, ("the message does not say why the pull failed",))
SAYS_SCHEMA_1 = Diagnosis(Cause.IMAGE_FORMAT, ("containerd: schema 1 refused",))


def _image(media_type: str) -> DockerImageInfo:
    return DockerImageInfo(f"{AR_REPO}/dockerImages/web@{DIGEST}", media_type, 1_000)


def _linux(version: str = "1.33.2-gke.1111000", image_type: str = "COS_CONTAINERD") -> Any:
    return NodePoolInfo("pool-1", EMAIL, (CLOUD,), version, (GROUP,), image_type)


@pytest.mark.parametrize(
    ("offline", "media_type", "pool", "cause"),
    [
        # The registry says schema 1, the node runs containerd 2: whatever the text said.
        (SILENT, SCHEMA_1, _linux(), Cause.IMAGE_FORMAT),
        (SAYS_SCHEMA_1, SCHEMA_1, _linux(), Cause.IMAGE_FORMAT),
        (
            SILENT,
            "application/vnd.docker.distribution.manifest.v1+json",
            _linux(),
            Cause.IMAGE_FORMAT,
        ),
        # Schema 2 or OCI: not this, even where the text said so (pushed again since).
        (SILENT, SCHEMA_2, _linux(), None),
        (SAYS_SCHEMA_1, SCHEMA_2, _linux(), None),
        (SAYS_SCHEMA_1, OCI, _linux(), None),
        # containerd 1.7 (GKE 1.32) still pulls schema 1.
        (SILENT, SCHEMA_1, _linux("1.32.4-gke.1106006"), None),
        (SAYS_SCHEMA_1, None, _linux("1.32.4-gke.1106006"), None),
        # Windows Server pools: the API does not say which containerd; the text decides.
        (SILENT, SCHEMA_1, _linux(image_type="WINDOWS_LTSC_CONTAINERD"), None),
        (SAYS_SCHEMA_1, None, _linux(image_type="WINDOWS_LTSC_CONTAINERD"), Cause.IMAGE_FORMAT),
        # Artifact Registry could not be asked (denied): containerd's words stand.
        (SAYS_SCHEMA_1, None, _linux(), Cause.IMAGE_FORMAT),
        (SILENT, None, _linux(), None),
    ],
)
def test_manifest_judges_the_registry_media_type_and_the_node_runtime(
    offline: Diagnosis, media_type: str | None, pool: NodePoolInfo, cause: Cause | None
) -> None:
    evidence = _evidence(False, (CLOUD,), pool=pool)
    evidence.docker_image = _image(media_type) if media_type else None
    found = manifest.judge(offline, evidence)
    assert (found.cause if found else None) is cause


def test_runs_containerd_2_from_the_pool_version_and_image_type() -> None:
    assert manifest.runs_containerd_2(_linux("1.33.0-gke.1")) is True
    assert manifest.runs_containerd_2(_linux("1.34.1-gke.2")) is True
    assert manifest.runs_containerd_2(_linux("1.32.9-gke.9")) is False
    assert manifest.runs_containerd_2(_linux("latest")) is None
    assert manifest.runs_containerd_2(_linux(image_type="WINDOWS_SAC_CONTAINERD")) is None


@pytest.mark.parametrize("text", SCHEMA_1_TEXTS)
def test_containerds_schema_1_refusals_classify_as_image_format(text: str) -> None:
    image = "us-docker.pkg.dev/app-proj/apps/web:1"
    assert classify_message(text, image=image).cause is Cause.IMAGE_FORMAT


def test_a_schema_1_image_is_never_granted_whatever_iam_says() -> None:
    """The account lacks the reader role too: the image is what to fix (no grant could)."""
    evidence = _evidence(False, (CLOUD,), pool=_linux())
    evidence.docker_image = _image(SCHEMA_1)
    verdict = judge(SAYS_SCHEMA_1, evidence)
    assert verdict.cause is Cause.IMAGE_FORMAT
    assert "Docker schema 1" in verdict.reasons[0]
    assert not grant_may_fix(evidence)


def test_the_image_format_ticket_rebuilds_the_image_and_quotes_it() -> None:
    draft = _draft(Cause.IMAGE_FORMAT, False, node_version="1.33.2-gke.1111000")
    assert draft["commands"][0] == (
        "docker buildx build --tag us-docker.pkg.dev/app-proj/apps/web:1 --push ."
    )
    assert draft["commands"][1].endswith("crane manifest us-docker.pkg.dev/app-proj/apps/web:1")
    assert "schema 1" in draft["steps"][0] and draft["terraform"] is None
    hostile = _draft(Cause.IMAGE_FORMAT, False, image="web:1;$(id)")
    assert "$(id)" not in " ".join(hostile["commands"])  # not a reference: IMAGE stands in


# containerd's other schema 1 refusals, composed from its format strings (no public thread
# quotes them yet): core/transfer/local/pull.go (v2.0.0+) and client/pull.go (v2.1.0+).
@pytest.mark.parametrize(
    "text",
    [
        'failed to pull and unpack image "us-docker.pkg.dev/app-proj/apps/web:1": schema 1 image '
        "manifests are no longer supported: invalid argument",
        'failed to pull and unpack image "us-docker.pkg.dev/app-proj/apps/web:1": not implemented: '
        'media type "application/vnd.docker.distribution.manifest.v1+prettyjws" is no longer '
        'supported since containerd v2.1, please rebuild the image as "application/vnd.docker.'
        'distribution.manifest.v2+json" or "application/vnd.oci.image.manifest.v1+json"',
    ],
)
def test_containerds_format_strings_classify_as_image_format(text: str) -> None:
    message = f'Failed to pull image "us-docker.pkg.dev/app-proj/apps/web:1": {text}'
    assert classify_message(message).cause is Cause.IMAGE_FORMAT


# -- a cancelled pull of a large image ------------------------------------------------------

# kubelet's event on a GKE node, a ~6 GB image (tests/data/corpus/real_pull_messages.jsonl:
# https://github.com/kubernetes/test-infra/issues/15102).
CANCELLED_TEXT = (
    'Failed to pull image "gcr.io/istio-testing/prowbazel:0.5.14": rpc error: code = Unknown '
    "desc = context canceled"
)
GIB = 1 << 30


def test_a_cancelled_pull_stays_unknown_offline_and_asks_for_the_size() -> None:
    offline = classify_message(CANCELLED_TEXT, image="gcr.io/istio-testing/prowbazel:0.5.14")
    assert offline.cause is Cause.UNKNOWN and offline.cancelled
    assert not classify_message('Back-off pulling image "x:1"').cancelled


@pytest.mark.parametrize(
    ("cancelled", "size", "cause"),
    [
        (True, 6 * GIB, Cause.LARGE_IMAGE),
        (True, GIB, Cause.LARGE_IMAGE),
        (True, GIB - 1, None),  # a small image: the path to the registry, not its size
        (True, None, None),  # Artifact Registry did not say (or could not be asked)
        (False, 6 * GIB, None),  # a large image whose pull was not cancelled
    ],
)
def test_image_size_judges_artifact_registrys_size_of_a_cancelled_pull(
    cancelled: bool, size: int | None, cause: Cause | None
) -> None:
    offline = Diagnosis(Cause.UNKNOWN, (), cancelled=cancelled)
    evidence = _evidence(False, (CLOUD,), pull_cancelled=cancelled)
    evidence.docker_image = (
        DockerImageInfo(f"{AR_REPO}/dockerImages/web@{DIGEST}", SCHEMA_2, size)
        if size is not None or cancelled
        else None
    )
    found = image_size.judge(offline, evidence)
    assert (found.cause if found else None) is cause
    if found:
        assert "Artifact Registry imageSizeBytes" in found.decisive[0]


def test_the_large_image_ticket_turns_on_image_streaming_where_it_can() -> None:
    off = _draft(Cause.LARGE_IMAGE, False, image_size_bytes=6 * GIB)
    assert off["commands"] == [
        "gcloud services enable containerfilesystem.googleapis.com --project=app-proj",
        "gcloud container node-pools update pool-1 --cluster=c --location=us-central1 "
        "--project=app-proj --enable-image-streaming",
    ]
    assert "gcfs_config {" in off["terraform"] and "6.0 GiB" in off["steps"][0]
    for already in ({"image_streaming": True}, {"autopilot": True}):
        on = _draft(
            Cause.LARGE_IMAGE,
            already.get("autopilot", False),
            **{k: v for k, v in already.items() if k != "autopilot"},
        )
        assert on["commands"] == [] and "secondary boot disk" in on["steps"][1]
    windows = _draft(Cause.LARGE_IMAGE, False, windows=True)
    assert windows["commands"] == [] and "Windows Server" in windows["steps"][1]
    hostile = _draft(Cause.LARGE_IMAGE, False, node_pool="p;$(id)", project="x`id`")
    assert "update 'p;$(id)' " in hostile["commands"][1]
    assert "--project='x`id`'" in hostile["commands"][0]


# -- kubelet's own pull rate limit ----------------------------------------------------------

PULL_QPS_TEXTS = [
    line
    for line in (Path(__file__).parents[1] / "data" / "kubelet_pull_qps.txt")
    .read_text()
    .splitlines()
    if line and not line.startswith("#")
]


@pytest.mark.parametrize(
    "text", [*PULL_QPS_TEXTS, 'Failed to pull image "x:1": pull QPS exceeded.']
)
def test_kubelets_pull_qps_refusal_is_its_own_cause_never_the_registrys(text: str) -> None:
    for image in (None, "us-docker.pkg.dev/app-proj/apps/web:1", "ghcr.io/o/a:1"):
        diagnosis = classify_message(text, image=image)
        assert diagnosis.cause is Cause.PULL_QPS and not diagnosis.refused


def test_the_pull_qps_ticket_names_kubelets_limits_and_the_node_quoted() -> None:
    draft = _draft(Cause.PULL_QPS, False, node="gke-c-pool-1-1a2b-x7k9")
    assert "registryPullQPS" in draft["steps"][0] and "registryBurst" in draft["steps"][0]
    assert "IfNotPresent" in draft["steps"][1]
    assert draft["commands"][0].endswith(
        "--field-selector=spec.nodeName=gke-c-pool-1-1a2b-x7k9 -o wide"
    )
    hostile = _draft(Cause.PULL_QPS, False, node="n;$(id)")
    assert "'spec.nodeName=n;$(id)'" not in hostile["commands"][0]
    assert "spec.nodeName='n;$(id)'" in hostile["commands"][0]


# -- Docker Hub's rate limit: a pull-through cache --------------------------------------------

# containerd on a CI cluster (tests/data/corpus/real_pull_messages.jsonl:
# https://github.com/kata-containers/kata-containers/issues/10109).
DOCKER_HUB_LIMIT = (
    'Failed to pull image "busybox": rpc error: code = Unknown desc = failed to pull and unpack '
    'image "docker.io/library/busybox:latest": failed to copy: httpReadSeeker: failed open: '
    "unexpected status code https://registry-1.docker.io/v2/library/busybox/manifests/sha256:"
    "50aa4698fa6262977cff89181b2664b99d8a56dbca847bf62f2ef04854597cf8: 429 Too Many Requests - "
    "Server message: toomanyrequests: You have reached your pull rate limit. You may increase "
    "the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit"
)


def test_docker_hubs_rate_limit_proposes_a_remote_repository_with_its_terraform() -> None:
    assert classify_message(DOCKER_HUB_LIMIT, image="busybox").cause is Cause.RATE_LIMIT
    draft = _draft(Cause.RATE_LIMIT, False, image="busybox", location="us-central1-a")
    assert draft["commands"][0] == (
        "gcloud artifacts repositories create dockerhub-mirror --repository-format=docker "
        "--mode=remote-repository --remote-docker-repo=DOCKER-HUB --location=us-central1 "
        "--project=app-proj"
    )
    assert (
        f"--member=serviceAccount:{EMAIL} --role=roles/artifactregistry.reader"
        in (draft["commands"][1])
    )
    assert (
        "us-central1-docker.pkg.dev/app-proj/dockerhub-mirror/library/busybox"
        in (draft["commands"][2])
    )
    terraform = draft["terraform"]
    assert 'mode          = "REMOTE_REPOSITORY"' in terraform
    assert 'public_repository = "DOCKER_HUB"' in terraform
    assert 'location      = "us-central1"' in terraform
    # Another registry's limit: no Docker Hub mirror is proposed for it.
    other = _draft(Cause.RATE_LIMIT, False, image="ghcr.io/o/a:1")
    assert other["terraform"] is None and len(other["commands"]) == 1
