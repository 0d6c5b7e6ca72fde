"""Image references: the Docker grammar, Docker Hub normalisation, Artifact Registry names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pullfix.core.imageref import ImageRef, InvalidReference, parse_image

SHA = "sha256:" + "a" * 64

VALID = [
    # ref, registry, repository, tag, digest
    ("busybox", "docker.io", "library/busybox", None, None),
    ("busybox:1.36", "docker.io", "library/busybox", "1.36", None),
    ("docker.io/busybox", "docker.io", "library/busybox", None, None),
    ("index.docker.io/library/busybox", "docker.io", "library/busybox", None, None),
    ("index.docker.io/bitnami/nginx:1.25", "docker.io", "bitnami/nginx", "1.25", None),
    ("bitnami/nginx", "docker.io", "bitnami/nginx", None, None),
    ("localhost/app", "localhost", "app", None, None),
    ("localhost:5000/app:dev", "localhost:5000", "app", "dev", None),
    ("[::1]:5000/app/web:v1", "[::1]:5000", "app/web", "v1", None),
    ("[2001:db8::1]/x", "[2001:db8::1]", "x", None, None),
    ("192.168.1.10:5000/team/app", "192.168.1.10:5000", "team/app", None, None),
    ("Registry.Example.COM/team/app", "registry.example.com", "team/app", None, None),
    ("quay.io/a__b/c.d-e---f_g:T_1.x-y", "quay.io", "a__b/c.d-e---f_g", "T_1.x-y", None),
    (f"ghcr.io/org/img@{SHA}", "ghcr.io", "org/img", None, SHA),
    (f"ghcr.io/org/img:1.0@{SHA}", "ghcr.io", "org/img", "1.0", SHA),
    ("sha384img@sha384:" + "b" * 96, "docker.io", "library/sha384img", None, "sha384:" + "b" * 96),
    ("x@sha512:" + "c" * 128, "docker.io", "library/x", None, "sha512:" + "c" * 128),
    # An uppercase first component can only be a domain, as Docker reads it.
    ("Upper/app", "upper", "app", None, None),
    ("gcr.io/p/i:" + "t" * 128, "gcr.io", "p/i", "t" * 128, None),
]


@pytest.mark.parametrize(("ref", "registry", "repository", "tag", "digest"), VALID)
def test_valid_references_parse_and_normalise(
    ref: str, registry: str, repository: str, tag: str | None, digest: str | None
) -> None:
    parsed = parse_image(ref)
    assert (parsed.registry, parsed.repository, parsed.tag, parsed.digest) == (
        registry,
        repository,
        tag,
        digest,
    )


INVALID = [
    ("", "empty"),
    (" busybox", "whitespace"),
    ("https://harbor.k8s.mybank/release/name:1.1.0", "invalid registry domain .https:."),
    ("gcr.io/Project/app", "lowercase"),
    ("docker.io/Upper", "lowercase"),
    ("app:", "invalid tag"),
    ("app:-dash", "invalid tag"),
    ("app:" + "t" * 129, "invalid tag"),
    ("app@sha256:abc", "invalid digest"),
    ("app@sha256:" + "A" * 64, "lowercase hex"),
    ("app@sha256:" + "a" * 63 + "g", "invalid digest"),
    ("app@sha256:" + "a" * 65, "want 64"),
    ("app@md5:" + "a" * 32, "unsupported digest algorithm"),
    ("-bad.example.com/app", "domain"),
    ("example.com:port/app", "domain"),
    ("a//b", "path component"),
    ("a/b/", "path component"),
    ("a_/b", "path component"),
    ("a/_b", "path component"),
    ("a/b..c", "path component"),
    ("a" * 64, "hex identifier"),
    ("example.com/" + "a" * 244, "longer than 255"),
    ("a" * 248, "longer than 255"),
    ("x" * 2000, "characters long"),
    (":tag", "no repository"),
    ("@" + SHA, "no repository"),
]


@pytest.mark.parametrize(("ref", "message"), INVALID)
def test_invalid_references_raise_a_clear_value_error(ref: str, message: str) -> None:
    with pytest.raises(InvalidReference, match=message) as info:
        parse_image(ref)
    assert isinstance(info.value, ValueError)


def test_name_limit_counts_the_normalised_name() -> None:
    # "docker.io/library/" + 237 characters is exactly 255.
    assert parse_image("a" * 237).repository == "library/" + "a" * 237
    with pytest.raises(InvalidReference):
        parse_image("a" * 238)


AR = [
    (
        "us-central1-docker.pkg.dev/p1/app/web:1.4",
        "projects/p1/locations/us-central1/repositories/app",
    ),
    (
        "us-docker.pkg.dev/berglas/berglas/berglas",
        "projects/berglas/locations/us/repositories/berglas",
    ),
    (
        "europe-west4-docker.pkg.dev/p/r/a/b/c@" + SHA,
        "projects/p/locations/europe-west4/repositories/r",
    ),
    (
        "us-docker.pkg.dev/example.com/proj/repo/img",
        "projects/example.com:proj/locations/us/repositories/repo",
    ),
    ("gcr.io/p1/app", "projects/p1/locations/us/repositories/gcr.io"),
    ("us.gcr.io/p1/a/b", "projects/p1/locations/us/repositories/us.gcr.io"),
    ("eu.gcr.io/p1/app", "projects/p1/locations/europe/repositories/eu.gcr.io"),
    ("asia.gcr.io/p1/app", "projects/p1/locations/asia/repositories/asia.gcr.io"),
    ("gcr.io/example.com/p1/app", "projects/example.com:p1/locations/us/repositories/gcr.io"),
    ("GCR.IO/p1/app", "projects/p1/locations/us/repositories/gcr.io"),
    # Not Artifact Registry: another host, a port, too few path segments.
    ("k8s.gcr.io/pause:3.9", None),
    ("registry.k8s.io/pause", None),
    ("docker.io/library/busybox", None),
    ("us-docker.pkg.dev/p1/only-repo", None),
    ("us-docker.pkg.dev:443/p1/r/i", None),
    ("gcr.io/lonely", None),
    ("gcr.io/example.com/p1", None),
    ("pkg.dev/p/r/i", None),
]


@pytest.mark.parametrize(("ref", "expected"), AR)
def test_artifact_registry_repository(ref: str, expected: str | None) -> None:
    assert parse_image(ref).ar_repository == expected


@pytest.mark.parametrize(
    ("ref", "path"),
    [
        ("us-central1-docker.pkg.dev/p1/app/web:1.4", "web"),
        ("us-docker.pkg.dev/p/r/team/web/api", "team/web/api"),
        ("us-docker.pkg.dev/example.com/proj/repo/img", "img"),
        ("gcr.io/p1/a/b", "a/b"),
        ("gcr.io/example.com/p1/app", "app"),
        ("quay.io/p/r/i", None),
    ],
)
def test_artifact_registry_image_path(ref: str, path: str | None) -> None:
    assert parse_image(ref).ar_image_path == path


def test_ar_project_and_pull_tag() -> None:
    image = parse_image("us-docker.pkg.dev/example.com/proj/repo/img")
    assert image.ar_project == "example.com:proj"
    assert image.tag_or_latest == "latest"
    assert parse_image(f"gcr.io/p/i@{SHA}").tag_or_latest is None
    assert parse_image("busybox").ar_project is None


@given(st.text(max_size=300))
def test_arbitrary_text_gives_an_image_or_a_value_error(text: str) -> None:
    try:
        parsed = parse_image(text)
    except InvalidReference:
        return
    assert isinstance(parsed, ImageRef)


_component = st.from_regex(r"[a-z0-9]{1,8}((_|__|\.|-{1,2})[a-z0-9]{1,8}){0,2}", fullmatch=True)
_host = st.sampled_from(
    ["gcr.io", "quay.io", "us-docker.pkg.dev", "localhost:5000", "[::1]:80", "docker.io"]
)
_tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)


@given(_host, st.lists(_component, min_size=1, max_size=4), st.none() | _tag)
def test_normalised_references_round_trip(host: str, path: list[str], tag: str | None) -> None:
    ref = f"{host}/{'/'.join(path)}" + (f":{tag}" if tag else "")
    parsed = parse_image(ref)
    assert parse_image(str(parsed)) == parsed
    assert parsed.tag == tag
