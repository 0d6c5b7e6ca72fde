"""The precedence of offline diagnosis (README, "How pullfix reads an error"): what the text
proves, then the registry family, then abstention; and raw text as people paste it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pullfix.core.causes import Cause
from pullfix.core.classify import classify, classify_message
from pullfix.core.explain import explain_lines, explain_text
from pullfix.core.intake import PullFailure, parse_event
from pullfix.core.registry import RegistryFamily, family_of_host, image_in_text
from pullfix.dev.events import log_entry

AR = "us-docker.pkg.dev/images-proj/apps/web:1"
PULLFIX = shutil.which("pullfix") or str(Path(sys.executable).parent / "pullfix")


def _cause(message: str, image: str | None, project: str | None = "cluster-proj") -> Cause:
    return classify_message(message, image=image, cluster_project=project).cause


# -- what the text proves beats what the names suggest --------------------------------------


def test_an_explicit_not_found_beats_the_cross_project_inference() -> None:
    text = f'failed to resolve reference "{AR}": {AR}: not found'
    assert _cause(text, AR) is Cause.NOT_FOUND
    # the same image refused: the names (another project) do suggest cross_project
    assert _cause("403 Forbidden", AR) is Cause.CROSS_PROJECT
    assert _cause("403 Forbidden", AR, project="images-proj") is Cause.PERMISSION


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ("unexpected status: 429 Too Many Requests: denied", Cause.RATE_LIMIT),
        ("dial tcp 10.0.0.1:443: i/o timeout: 403 Forbidden", Cause.NETWORK),
        ("no matching manifest for linux/arm64 in the manifest list entries", Cause.PLATFORM),
        ("write /var/lib/containerd/x: no space left on device", Cause.NODE_DISK),
    ],
)
def test_a_reason_in_the_text_decides_before_any_refusal(text: str, cause: Cause) -> None:
    assert _cause(text, AR) is cause


# -- the registry family bounds the vocabulary ----------------------------------------------


@pytest.mark.parametrize(
    ("image", "text"),
    [
        (
            "acme/private:1",
            "pull access denied for acme/private, repository does not exist or may require "
            "'docker login': denied: requested access to the resource is denied",
        ),
        ("ghcr.io/acme/app:1", 'Head "https://ghcr.io/v2/acme/app/manifests/1": denied: denied'),
        ("quay.io/acme/app:1", "unauthorized: access to the requested resource is not authorized"),
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1", "no basic auth credentials"),
        ("registry.internal:5000/app:1", "403 Forbidden"),
    ],
)
def test_a_refusal_outside_google_cloud_is_never_an_iam_cause(image: str, text: str) -> None:
    diagnosis = classify_message(text, image=image, cluster_project="cluster-proj")
    assert diagnosis.cause is Cause.AUTH_CONFIG
    assert diagnosis.family is not RegistryFamily.GOOGLE
    assert not diagnosis.refused  # only a Google registry's refusal may lead to a grant


def test_a_google_refusal_is_refused_and_names_its_family() -> None:
    diagnosis = classify_message("403 Forbidden", image=AR, cluster_project="cluster-proj")
    assert (diagnosis.cause, diagnosis.family, diagnosis.refused) == (
        Cause.CROSS_PROJECT,
        RegistryFamily.GOOGLE,
        True,
    )


def test_the_host_that_refused_decides_after_a_redirect() -> None:
    to_storage = (
        "failed to copy: httpReadSeeker: failed open: unexpected status from GET request to "
        "https://d1234.cloudfront.net/v2/blob: 403 Forbidden"
    )
    assert _cause(to_storage, "123456789012.dkr.ecr.us-east-1.amazonaws.com/a:1") is (Cause.NETWORK)
    to_google = (
        'failed to do request: Head "https://asia-docker.pkg.dev/v2/p/r/a/manifests/1": '
        "failed to fetch anonymous token: unexpected status: 403 Forbidden"
    )
    assert _cause(to_google, "registry.k8s.io/a:1") is Cause.PERMISSION


def test_a_registry_that_serves_everyone_refuses_by_address_not_credentials() -> None:
    assert _cause("403 Forbidden", "registry.k8s.io/pause:3.9") is Cause.NETWORK


# -- abstain rather than guess ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "image"),
    [
        ('Back-off pulling image "us-docker.pkg.dev/p/r/a:1"', "us-docker.pkg.dev/p/r/a:1"),
        ("Error: ImagePullBackOff", None),
        # a follow-up names an image kubelet parsed to try it: a redaction is no parse error
        ('Back-off pulling image "gcr.io/<project-id>/a:1"', "gcr.io/<project-id>/a:1"),
        # a refusal that names no registry anywhere: IAM or credentials, nobody can tell
        ("unauthorized: authentication required", None),
    ],
)
def test_no_reason_in_the_text_is_unknown(text: str, image: str | None) -> None:
    assert _cause(text, image) is Cause.UNKNOWN


# -- registry families and images found in raw text -----------------------------------------


@pytest.mark.parametrize(
    ("host", "family"),
    [
        ("europe-west1-docker.pkg.dev", RegistryFamily.GOOGLE),
        ("gcr.io", RegistryFamily.GOOGLE),
        ("eu.gcr.io", RegistryFamily.GOOGLE),
        ("storage.googleapis.com", RegistryFamily.GOOGLE),
        ("docker.io", RegistryFamily.DOCKER_HUB),
        ("registry-1.docker.io", RegistryFamily.DOCKER_HUB),
        ("k8s.gcr.io", RegistryFamily.OTHER_KNOWN),  # public, no IAM of the node involved
        ("ghcr.io", RegistryFamily.OTHER_KNOWN),
        ("123.dkr.ecr.eu-west-1.amazonaws.com", RegistryFamily.OTHER_KNOWN),
        ("harbor.corp.example:8443", RegistryFamily.UNKNOWN),
        ("evilgcr.io", RegistryFamily.UNKNOWN),  # a suffix, not a lookalike
    ],
)
def test_registry_family_of_host(host: str, family: RegistryFamily) -> None:
    assert family_of_host(host) is family


@pytest.mark.parametrize(
    ("text", "image"),
    [
        ('Failed to pull image "nginx:1.25": x', "nginx:1.25"),
        ("Error response from daemon: pull access denied for acme/app, repository", "acme/app"),
        ('failed to resolve reference "ghcr.io/a/b:1": not found', "ghcr.io/a/b:1"),
        ("initializing source docker://quay.io/a/b:2: Requesting bearer token", "quay.io/a/b:2"),
        ('Error: short-name "alpine" did not resolve to an alias', "alpine"),
        (
            "europe-west1-docker.pkg.dev/p/r/a:3: failed to authorize",
            "europe-west1-docker.pkg.dev/p/r/a:3",
        ),
        ("no space left on device", None),
    ],
)
def test_image_in_raw_text(text: str, image: str | None) -> None:
    assert image_in_text(text) == image


def test_explain_gives_one_verdict_per_line_that_shows_a_failure() -> None:
    lines = [
        "Events:",
        '  Warning  Failed  12s  kubelet  Failed to pull image "acme/app:1": rpc error: '
        "code = Unknown desc = toomanyrequests: You have reached your pull rate limit",
        "",
        "  Normal   Scheduled  20s  default-scheduler  Successfully assigned shop/web-1",
        '  Warning  Failed  11s  kubelet  Failed to pull image "' + AR + '": 403 Forbidden',
    ]
    verdicts = list(explain_lines(lines, cluster_project="cluster-proj"))
    assert [(v.line, v.diagnosis.cause) for v in verdicts] == [
        (2, Cause.RATE_LIMIT),
        (5, Cause.CROSS_PROJECT),
    ]
    first = verdicts[0].to_dict()
    assert first["registry_family"] == "docker_hub"
    assert first["words"] == "rate limit"  # the last wording: runtimes wrap outer to inner
    assert first["image"] == "acme/app:1"


# -- intake accepts every kubelet shape of the image string ---------------------------------


@pytest.mark.parametrize(
    ("message", "image"),
    [
        ('Failed to pull image "": rpc error: code = Unknown desc = x', ""),
        ('Failed to pull image "my app:1": rpc error: code = Unknown desc = x', "my app:1"),
        ("Failed to pull image “web:1”: rpc error: code = Unknown desc = x", "web:1"),
    ],
)
def test_empty_spaced_and_typographic_images_are_pull_failures(message: str, image: str) -> None:
    entry = log_entry(
        project="p",
        location="l",
        cluster="c",
        namespace="n",
        pod="web-1",
        node="x",
        message=message,
    )
    failure = parse_event(entry)
    assert isinstance(failure, PullFailure)
    assert failure.image == image
    expected = Cause.UNKNOWN if image == "web:1" else Cause.INVALID_NAME
    assert classify(failure).cause is expected


# -- robustness --------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=3000), st.one_of(st.none(), st.text(max_size=200)))
def test_any_text_classifies_without_raising(text: str, image: str | None) -> None:
    diagnosis = classify_message(text, image=image, cluster_project="p")
    assert isinstance(diagnosis.cause, Cause)
    assert explain_text(text).cause in set(Cause)
    list(explain_lines(text.splitlines()))


@pytest.mark.parametrize(
    "text",
    [
        "a" * 200_000,
        "https://" * 20_000,
        ("image " * 30_000) + '"',
        ("not found " * 20_000) + "tag " + "x" * 10_000,
        'Failed to pull image "' + "a/" * 50_000,
        "docker://" + "a" * 100_000,
    ],
)
def test_long_hostile_text_is_answered(text: str) -> None:
    """Every pattern's quantifiers are bounded: long input costs time in proportion to its
    length, never backtracking without end (the suite's own timeout would catch it)."""
    assert isinstance(classify_message(text, image=None).cause, Cause)
    assert isinstance(explain_text(text).cause, Cause)


def test_cli_reads_raw_text(tmp_path: Path) -> None:
    paste = tmp_path / "paste.txt"
    paste.write_text(
        "Error response from daemon: manifest for acme/app:2 not found: manifest unknown\n"
        "\n"
        "exec /bin/sh: exec format error\n"
    )
    done = subprocess.run(
        [PULLFIX, "classify", "--text", str(paste)], capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["line"], r["cause"]) for r in records] == [(1, "not_found"), (3, "platform")]
    assert records[0]["registry_family"] == "docker_hub"
    table = subprocess.run(
        [PULLFIX, "classify", "--text", "--format", "table", "-"],
        input=paste.read_bytes(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert table.returncode == 0, table.stderr
    assert "decided by" in table.stdout.decode() and "exec format error" in table.stdout.decode()


def test_the_readme_shows_what_classify_text_prints() -> None:
    repo = Path(__file__).resolve().parents[2]
    command = (
        "pullfix classify --text --cluster-project shop-prod --format table "
        "examples/pasted-errors.txt"
    )
    readme = (repo / "README.md").read_text()
    shown = readme.split(f"$ {command}\n", 1)[1].split("```", 1)[0]
    done = subprocess.run(
        [PULLFIX, *command.split()[1:]], cwd=repo, capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode() == shown


# -- text an attacker (or a registry's operator) writes ---------------------------------------


@pytest.mark.parametrize(
    ("image", "text"),
    [
        (
            "ghcr.io/a/b:1",
            'denied on resource "projects/victim/locations/us/repositories/r"',
        ),
        ("nginx:1", "unexpected status code https://storage.googleapis.com/x: 403 Forbidden"),
        ("registry.corp.example/a:1", 'Head "https://us-docker.pkg.dev/v2/p/r/a": 403 Forbidden'),
    ],
)
def test_error_text_never_makes_another_registrys_image_a_google_one(image: str, text: str) -> None:
    diagnosis = classify_message(text, image=image, cluster_project="mine")
    assert diagnosis.family is not RegistryFamily.GOOGLE
    assert diagnosis.cause is Cause.AUTH_CONFIG and not diagnosis.refused


def test_refusal_words_in_the_image_name_are_no_refusal() -> None:
    image = "us-central1-docker.pkg.dev/shop-images/images/access-denied:1.4"
    diagnosis = classify_message(
        f'Back-off pulling image "{image}"', image=image, cluster_project="shop-prod"
    )
    assert (diagnosis.cause, diagnosis.refused) == (Cause.UNKNOWN, False)
    forbidden = "us-docker.pkg.dev/p/forbidden-things/app:1"
    assert not classify_message(
        f'Failed to pull image "{forbidden}": rpc error: code = Unknown desc = i/o timeout',
        image=forbidden,
    ).refused


def test_a_lone_surrogate_is_a_malformed_event_not_a_crash() -> None:
    from pullfix.core.intake import Rejection, parse_json

    text = (
        '{"resource":{"labels":{"pod_name":"p","namespace_name":"n"}},"jsonPayload":'
        '{"reason":"Failed","message":"Failed to pull image \\"a\\ud800\\": x"}}'
    )
    result = parse_json(text)
    assert isinstance(result, Rejection) and "lone surrogate" in result.detail


def test_parse_image_refuses_a_non_string_plainly() -> None:
    from pullfix.core.imageref import InvalidReference, parse_image

    with pytest.raises(InvalidReference, match="must be a string"):
        parse_image(["a"])  # type: ignore[arg-type]


def test_cluster_project_goes_with_text_only() -> None:
    done = subprocess.run(
        [PULLFIX, "classify", "--cluster-project", "p"],
        input=b"",
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and b"--cluster-project goes with --text" in done.stderr
