"""Offline classification over real messages (shared corpus) and the runtimes' wordings."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pullfix.core.causes import Cause
from pullfix.core.classify import classify, classify_message
from pullfix.core.intake import PullFailure, parse_event
from pullfix.dev.events import log_entry, pull_message

# The corpus labels the cause as each thread resolved it; "other" covers the causes pullfix
# adds (pull_policy, node_disk) and text that says nothing. Some messages cannot be told
# apart by text; there pullfix must abstain (unknown, or permission to be checked live).
# Its "permission" is any registry's refusal, which the registry family now splits: Google
# IAM for a Google registry, credentials (auth_config) for any other.
LABEL_MATCHES = {
    "permission": {Cause.PERMISSION, Cause.CROSS_PROJECT, Cause.AUTH_CONFIG},
    "not_found": {Cause.NOT_FOUND},
    "auth_config": {Cause.AUTH_CONFIG},
    "network": {Cause.NETWORK},
    "rate_limit": {Cause.RATE_LIMIT},
    "invalid_name": {Cause.INVALID_NAME},
    "platform": {Cause.PLATFORM},
    "other": {Cause.UNKNOWN, Cause.PULL_POLICY, Cause.NODE_DISK},
}
ABSTENTIONS = {Cause.UNKNOWN, Cause.PERMISSION}


def _image_in(message: str) -> str | None:
    got = parse_event(
        log_entry(
            project="p",
            location="l",
            cluster="c",
            namespace="n",
            pod="p",
            node="x",
            message=message,
        )
    )
    return got.image if isinstance(got, PullFailure) else None


def test_corpus_is_never_confidently_wrong(corpus: list[dict[str, Any]]) -> None:
    wrong = []
    exact = 0
    for item in corpus:
        got = classify_message(item["message"], image=_image_in(item["message"])).cause
        if got in LABEL_MATCHES[item["label"]]:
            exact += 1
        elif got not in ABSTENTIONS:
            wrong.append((item["label"], got.value, item["message"][:120]))
    assert wrong == []
    # 28 of 35: the others are text no classifier can tell (see the corpus notes), three of
    # them denials that name no registry, where pullfix abstains rather than guess a family.
    assert exact >= 28, f"{exact}/{len(corpus)} exact"


REGISTRY = "us-central1-docker.pkg.dev"
AR_IMAGE = f"{REGISTRY}/p1/app/web:1.4"
OTHER_PROJECT_IMAGE = f"{REGISTRY}/shared-images/app/web:1.4"

CASES: list[tuple[str, str | None, Cause]] = [
    # Artifact Registry denials, containerd 1.4-2.x and dockerd wordings.
    (
        'failed to pull and unpack image "IMG": failed to resolve reference "IMG": pulling from '
        "host us-central1-docker.pkg.dev failed with status code [manifests 1.4]: 403 Forbidden",
        AR_IMAGE,
        Cause.PERMISSION,
    ),
    (
        'failed to resolve reference "IMG": failed to authorize: failed to fetch oauth token: '
        "unexpected status from GET request to https://us-central1-docker.pkg.dev/v2/token: "
        "403 Forbidden",
        AR_IMAGE,
        Cause.PERMISSION,
    ),
    (
        "failed to authorize: failed to fetch anonymous token: unexpected status: 403 Forbidden",
        AR_IMAGE,
        Cause.PERMISSION,
    ),
    (
        'Error response from daemon: denied: Permission "artifactregistry.repositories.'
        'downloadArtifacts" denied on resource "projects/p1/locations/us-central1/repositories/'
        'app" (or it may not exist)',
        AR_IMAGE,
        Cause.PERMISSION,
    ),
    (
        'denied: Permission "artifactregistry.repositories.downloadArtifacts" denied on resource '
        '"projects/shared-images/locations/us-central1/repositories/app" (or it may not exist)',
        OTHER_PROJECT_IMAGE,
        Cause.CROSS_PROJECT,
    ),
    # No image, but the denial names the repository of another project.
    (
        'Unauthenticated requests do not have permission "artifactregistry.repositories.'
        'downloadArtifacts" on resource "projects/shared-images/locations/us/repositories/gcr.io"',
        None,
        Cause.CROSS_PROJECT,
    ),
    (
        "failed with status code [manifests 1.4]: 403 Forbidden",
        OTHER_PROJECT_IMAGE,
        Cause.CROSS_PROJECT,
    ),
    (
        'Get https://gcr.io/v2/p1/app/manifests/1: denied: Permission denied for "1" from request',
        "gcr.io/p1/app:1",
        Cause.PERMISSION,
    ),
    ("unauthorized: authentication required", "gcr.io/other/app:1", Cause.CROSS_PROJECT),
    ("unauthorized: authentication required", "eu.gcr.io/p1/app:1", Cause.PERMISSION),
    ("code = PermissionDenied desc = PERMISSION_DENIED", AR_IMAGE, Cause.PERMISSION),
    # Registries outside Google Cloud.
    (
        "pulling from host ghcr.io failed with status code [manifests 1]: 401 Unauthorized",
        "ghcr.io/o/a:1",
        Cause.AUTH_CONFIG,
    ),
    ("no basic auth credentials", "123.dkr.ecr.eu-west-1.amazonaws.com/a:1", Cause.AUTH_CONFIG),
    (
        "failed to fetch anonymous token: unexpected status: 401 Unauthorized",
        "quay.io/o/a",
        Cause.AUTH_CONFIG,
    ),
    (
        "pull access denied for private/app, repository does not exist or may require "
        "'docker login': denied: requested access to the resource is denied",
        "private/app",
        Cause.AUTH_CONFIG,  # Docker Hub: credentials, never a Google grant
    ),
    (
        "unexpected status code https://example.com/v2/a/blobs/sha256:ab: 403 Forbidden",
        "example.com/a:1",
        Cause.AUTH_CONFIG,
    ),
    # Not found.
    ('failed to resolve reference "IMG": IMG: not found', AR_IMAGE, Cause.NOT_FOUND),
    (
        "manifest for gcr.io/p1/a:2 not found: manifest unknown: manifest unknown",
        "gcr.io/p1/a:2",
        Cause.NOT_FOUND,
    ),
    (
        "rpc error: code = NotFound desc = failed to pull and unpack image",
        AR_IMAGE,
        Cause.NOT_FOUND,
    ),
    (
        "Error response from daemon: NAME_UNKNOWN: Requested entity was not found.",
        AR_IMAGE,
        Cause.NOT_FOUND,
    ),
    ("failed with status code [manifests 1.4]: 404 Not Found", AR_IMAGE, Cause.NOT_FOUND),
    # Network, DNS, TLS.
    (
        "dial tcp: lookup us-central1-docker.pkg.dev on 169.254.169.254:53: no such host",
        AR_IMAGE,
        Cause.NETWORK,
    ),
    ("dial tcp 142.250.1.82:443: i/o timeout", AR_IMAGE, Cause.NETWORK),
    (
        "net/http: request canceled (Client.Timeout exceeded while awaiting headers)",
        None,
        Cause.NETWORK,
    ),
    ("context deadline exceeded", AR_IMAGE, Cause.NETWORK),
    (
        "tls: failed to verify certificate: x509: certificate signed by unknown authority",
        "registry.local/a",
        Cause.NETWORK,
    ),
    ("read tcp 10.0.0.2:4312->1.2.3.4:443: read: connection reset by peer", None, Cause.NETWORK),
    ("http: server gave HTTP response to HTTPS client", "registry.local:5000/a", Cause.NETWORK),
    # Rate limits.
    ("toomanyrequests: You have reached your pull rate limit.", "busybox", Cause.RATE_LIMIT),
    (
        "failed with status code [manifests latest]: 429 Too Many Requests",
        "busybox",
        Cause.RATE_LIMIT,
    ),
    ("code = ResourceExhausted desc = Quota exceeded for quota metric", AR_IMAGE, Cause.RATE_LIMIT),
    # Names, platforms, policy, disk.
    ('couldn\'t parse image reference "a b": invalid reference format', "a b", Cause.INVALID_NAME),
    ("Error: InvalidImageName", None, Cause.INVALID_NAME),
    (
        "no matching manifest for linux/arm64/v8 in the manifest list entries",
        "busybox",
        Cause.PLATFORM,
    ),
    (
        'image operating system "windows" cannot be used on this platform',
        "mcr.microsoft.com/a",
        Cause.PLATFORM,
    ),
    ('Container image "IMG" is not present with pull policy of Never', AR_IMAGE, Cause.PULL_POLICY),
    (
        "failed to extract layer sha256:ab: write /var/lib/x: no space left on device",
        AR_IMAGE,
        Cause.NODE_DISK,
    ),
    (
        "failed to register layer: Error processing tar file(exit status 1): unexpected EOF",
        AR_IMAGE,
        Cause.NODE_DISK,
    ),
    # Text that cannot tell: never guess.
    ('Back-off pulling image "IMG"', AR_IMAGE, Cause.UNKNOWN),
    ("Error: ErrImagePull", None, Cause.UNKNOWN),
    ("Error: ImagePullBackOff", None, Cause.UNKNOWN),
    ("rpc error: code = Unknown desc = context canceled", AR_IMAGE, Cause.UNKNOWN),
    # An image the kubelet could not have parsed, with nothing else said.
    ("Error: something odd", "UPPER/Case/Image", Cause.INVALID_NAME),
]


@pytest.mark.parametrize(("message", "image", "expected"), CASES)
def test_runtime_wordings(message: str, image: str | None, expected: Cause) -> None:
    text = message.replace("IMG", image or "img")
    diagnosis = classify_message(text, image=image, cluster_project="p1")
    assert diagnosis.cause is expected, diagnosis.reasons
    assert diagnosis.reasons
    assert all(len(reason) <= 160 for reason in diagnosis.reasons)


def test_cross_project_needs_the_cluster_project() -> None:
    msg = "pulling from host x failed with status code [manifests 1.4]: 403 Forbidden"
    assert classify_message(msg, image=OTHER_PROJECT_IMAGE).cause is Cause.PERMISSION
    diagnosis = classify_message(msg, image=OTHER_PROJECT_IMAGE, cluster_project="p1")
    assert diagnosis.cause is Cause.CROSS_PROJECT
    assert "shared-images" in diagnosis.reasons[1]
    assert "p1" in diagnosis.reasons[1]


def test_classify_uses_the_event_project() -> None:
    raw = log_entry(
        project="p1",
        location="us-central1",
        cluster="c1",
        namespace="n",
        pod="x",
        node="n1",
        message=pull_message(OTHER_PROJECT_IMAGE, "403 Forbidden"),
    )
    got = parse_event(raw)
    assert isinstance(got, PullFailure)
    assert classify(got).cause is Cause.CROSS_PROJECT


def test_reasons_cite_the_root_cause() -> None:
    diagnosis = classify_message(
        'failed to do request: Head "https://quay.io/v2/a/manifests/1": dial tcp 1.2.3.4:443: '
        "i/o timeout",
        image="quay.io/a:1",
    )
    assert "i/o timeout" in diagnosis.reasons[0]


@given(st.text(max_size=300), st.none() | st.text(max_size=60))
def test_classify_never_raises(message: str, image: str | None) -> None:
    assert classify_message(message, image=image, cluster_project="p").cause in set(Cause)
