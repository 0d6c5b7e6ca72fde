"""The `remediate` function served by functions-framework over real HTTP."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pullfix.core.intake import format_timestamp
from pullfix.dev.events import eventarc_headers, log_entry, pull_message, push_body
from pullfix.dev.localrun import FunctionServer, post
from pullfix.dev.sandbox import Sandbox
from tests.conftest import REPO
from tests.integration.conftest import TEST_WORLD

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FunctionServer]:
    folder = tmp_path_factory.mktemp("remediate")
    # The example event (tests/data/examples) is from 2026-11-20: old, but not too old here.
    (folder / "config.yaml").write_text("max_event_age: 3650d\n")
    env = {"PULLFIX_CONFIG": str(folder / "config.yaml")}
    with (
        Sandbox(TEST_WORLD, strict=True) as sandbox,
        FunctionServer(
            "remediate",
            source=REPO / "functions" / "main.py",  # what Cloud Functions builds
            log_path=folder / "function.log",
            env={**env, "PULLFIX_GCP_ENDPOINT": sandbox.endpoint},
        ) as running,
    ):
        yield running


def ce_headers(event_id: str) -> dict[str, str]:
    return eventarc_headers(event_id, "projects/p1/topics/pull-failures")


def logged(server: FunctionServer, event_id: str) -> dict[str, Any]:
    assert server.log_path is not None
    for line in server.log_path.read_text().splitlines():
        if line.startswith("{") and f'"event_id":"{event_id}"' in line:
            entry: dict[str, Any] = json.loads(line)
            return entry
    raise AssertionError(f"no log line for event {event_id}")


def test_shared_example_delivery_is_diagnosed(
    server: FunctionServer, example_eventarc_request: tuple[dict[str, str], bytes]
) -> None:
    headers, body = example_eventarc_request
    assert post(server.url, body, headers) == 200
    entry = logged(server, headers["ce-id"])
    assert entry["severity"] == "INFO"
    # Project p1 is not in the test world: the GKE API does not confirm the cluster.
    assert (entry["cause"], entry["action"]) == ("unverified", "ticket")
    assert entry["event"]["cluster"] == "projects/p1/locations/us-central1/clusters/c1"
    assert entry["event"]["message_id"] == headers["ce-id"]


@pytest.mark.parametrize(
    ("event_id", "body", "rejection"),
    [
        ("bad-b64", b'{"message": {"data": "!!!", "messageId": "1"}}', "malformed"),
        (
            "bad-json",
            json.dumps({"message": {"data": base64.b64encode(b"{").decode()}}).encode(),
            "malformed",
        ),
        (
            "crash-loop",
            json.dumps(
                push_body(
                    log_entry(
                        project="p1",
                        location="l",
                        cluster="c",
                        namespace="n",
                        pod="p",
                        node="x",
                        reason="BackOff",
                        message="Back-off restarting failed container",
                    )
                )
            ).encode(),
            "not_a_pull_failure",
        ),
    ],
)
def test_bad_or_irrelevant_input_is_acknowledged_and_logged(
    server: FunctionServer, event_id: str, body: bytes, rejection: str
) -> None:
    assert post(server.url, body, ce_headers(event_id)) == 200
    entry = logged(server, event_id)
    assert entry["action"] == "ignored"
    assert entry["rejection"] == rejection


def test_a_request_that_is_no_cloudevent_is_refused_by_the_framework(
    server: FunctionServer,
) -> None:
    assert post(server.url, b"{}", {"Content-Type": "application/json"}) == 400


def test_function_module_imports_no_google_client() -> None:
    # functions-framework's own google.cloud.functions modules are the runtime, not clients.
    code = (
        "import sys\nbefore = set(sys.modules)\nimport main\n"
        "print(sorted(m for m in set(sys.modules) - before "
        "if m.startswith(('google.api_core', 'google.auth', 'grpc', 'google.cloud.')) "
        "and not m.startswith('google.cloud.functions')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO / "functions",
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout.strip() == "[]"


# The first event of each path: a registry outside Google (the cluster and the node's
# instance read); an Artifact Registry refusal whose every check reads (the cluster, the
# instance, the project, the service account, the tag, the Policy Troubleshooter), ending in
# a ticket; the same refusal where auto_grant allows the grant (the IAM read-modify-write).
_ALL_CHECKS = (
    "cloudresourcemanager.projects.get",
    "iam.projects.serviceAccounts.get",
    "artifactregistry.projects.locations.repositories.packages.tags.get",
    "policytroubleshooter.iam.troubleshoot",
)
_REFUSED = ("us-central1-docker.pkg.dev/shop-prod/apps/api:2.0", "403 Forbidden")
FIRST_EVENTS: dict[str, tuple[tuple[str, str], str, tuple[str, ...]]] = {
    "offline": (("quay.io/team/app:1", "dial tcp 1.2.3.4:443: i/o timeout"), "", ()),
    "full-evidence": (_REFUSED, "", _ALL_CHECKS),
    "grant": (
        _REFUSED,
        "auto_grant: {repositories: ['projects/shop-*/locations/*/repositories/*']}\n",
        (
            *_ALL_CHECKS,
            "artifactregistry.projects.locations.repositories.getIamPolicy",
            "artifactregistry.projects.locations.repositories.setIamPolicy",
        ),
    ),
}


@pytest.mark.parametrize("path", list(FIRST_EVENTS))
def test_a_first_event_as_deployed_loads_no_generated_client_api_core_grpc_or_requests(
    tmp_path: Path, path: str
) -> None:
    # The cold start: the first event with the Firestore ledger and the outcomes topic (as
    # Terraform deploys it) claims, reads, publishes and stores over JSON alone. Python's
    # import trace (PYTHONPROFILEIMPORTTIME) of the real function process names every module.
    (image, detail), config, reads = FIRST_EVENTS[path]
    (tmp_path / "config.yaml").write_text(
        "max_event_age: 3650d\nledger: {firestore: {project: shop-prod}}\n" + config
    )
    log = tmp_path / "function.log"
    entry = log_entry(
        project="shop-prod",
        location="us-central1",
        cluster="checkout",
        namespace="web",
        pod="web-1",
        node="gke-checkout-default-pool-1a2b3c4d-x7k9",
        message=pull_message(image, detail),
        timestamp=format_timestamp(datetime.now(UTC)),
    )
    with (
        Sandbox(TEST_WORLD, strict=True) as sandbox,
        FunctionServer(
            "remediate",
            source=REPO / "functions" / "main.py",
            log_path=log,
            env={
                "PULLFIX_CONFIG": str(tmp_path / "config.yaml"),
                "PULLFIX_OUTCOMES_TOPIC": "projects/shop-prod/topics/pull-outcomes",
                "PULLFIX_GCP_ENDPOINT": sandbox.endpoint,
                "PYTHONPROFILEIMPORTTIME": "1",
            },
        ) as running,
    ):
        body = json.dumps(push_body(entry, message_id="cold-1", project="shop-prod")).encode()
        assert post(running.url, body, ce_headers("cold-1")) == 200
        requests = sandbox.stats()["requests"]
    assert requests["firestore.projects.databases.documents.commit"] >= 1
    assert requests["pubsub.projects.topics.publish"] == 1
    assert requests["container.projects.locations.clusters.get"] >= 1
    assert requests["compute.instances.get"] >= 1
    assert all(requests.get(read, 0) >= 1 for read in reads), requests
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in log.read_text().splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "pullfix.engine.ledger" in modules  # the trace covers the event's own imports
    heavy = sorted(
        m
        for m in modules
        if m.startswith(("google.api_core", "grpc", "google.protobuf", "google.cloud."))
        and not m.startswith("google.cloud.functions")
    )
    assert heavy == []
    # Nor requests, urllib3 or google-auth's requests transport: pullfix's own transport
    # (http.client, which the framework has loaded already) sends every call.
    assert (
        sorted(
            m
            for m in modules
            if m.split(".")[0] in ("requests", "urllib3", "charset_normalizer")
            or m.startswith("google.auth.transport.requests")
        )
        == []
    )
    # Nor the verification pass, nor (short of a grant) the approval code and its chat
    # tokens: the outcome opens its incident through `pullfix.engine.incidents` alone.
    assert "pullfix.engine.incidents" in modules and "pullfix.engine.verify" not in modules
    if path != "grant":
        assert not {"pullfix.engine.approval", "pullfix.notify.interactions"} & modules


@pytest.mark.parametrize("path", ["", "projects/p1/topics/pull-failures"])
def test_a_raw_pubsub_push_is_accepted(server: FunctionServer, path: str) -> None:
    # Terraform deploys pullfix's own push subscriptions (for dead-lettering): they POST the
    # push body with no ce-* headers, to FUNCTION_URL/projects/P/topics/T.
    message_id = f"raw-{len(path)}"
    entry = log_entry(
        project="p1",
        location="us-central1",
        cluster="c1",
        namespace="n",
        pod="p",
        node="gke-c1-pool-1a2b3c4d-abcd",
        reason="BackOff",
        message='Back-off pulling image "busybox"',
    )
    body = json.dumps(push_body(entry, message_id=message_id)).encode()
    assert post(server.url + path, body, {"Content-Type": "application/json"}) == 200
    logged_entry = logged(server, message_id)
    assert logged_entry["event"]["message_id"] == message_id
    assert logged_entry["cause"] == "unverified"


@pytest.mark.parametrize(
    ("config", "env", "problem"),
    [
        (
            b"max_event_age: 3650d\nnamespace: " + b"[" * 50_000 + b"\n",
            {},
            "is not valid YAML: line 2, column 43: nested deeper than 32 levels",
        ),
        (
            b"max_event_age: 3650d\nmax_event_age: 1d\n",
            {},
            "max_event_age is set twice, on line 1 and line 2",
        ),
        (
            b"max_event_age: 3650d\n",
            {"PULLFIX_OUTCOMES_TOPIC": "projects/p1/topics/goog-outcomes"},
            "PULLFIX_OUTCOMES_TOPIC: Pub/Sub would refuse the topic id 'goog-outcomes'",
        ),
    ],
    ids=["nested-50000-deep", "duplicate-key", "reserved-topic"],
)
def test_an_invalid_configuration_is_logged_at_critical_and_keeps_the_event(
    tmp_path: Path, config: bytes, env: dict[str, str], problem: str
) -> None:
    (tmp_path / "config.yaml").write_bytes(config)
    log = tmp_path / "function.log"
    entry = log_entry(
        project="p1",
        location="us-central1",
        cluster="c1",
        namespace="n",
        pod="p",
        node="gke-c1-pool-1a2b3c4d-abcd",
        message=pull_message("quay.io/team/app:1", "dial tcp 1.2.3.4:443: i/o timeout"),
        timestamp=format_timestamp(datetime.now(UTC)),
    )
    body = json.dumps(push_body(entry, message_id="kept-1")).encode()
    with (
        Sandbox(TEST_WORLD, strict=True) as sandbox,
        FunctionServer(
            "remediate",
            source=REPO / "functions" / "main.py",
            log_path=log,
            env={
                "PULLFIX_CONFIG": str(tmp_path / "config.yaml"),
                "PULLFIX_GCP_ENDPOINT": sandbox.endpoint,
                **env,
            },
        ) as running,
    ):
        # Not acknowledged: Pub/Sub redelivers the event until the configuration is fixed,
        # and the function answers every delivery (it does not die on the file).
        assert post(running.url, body, ce_headers("kept-1")) == 500
        assert post(running.url, body, ce_headers("kept-1")) == 500
        if not env:
            (tmp_path / "config.yaml").write_text("max_event_age: 3650d\n")
            assert post(running.url, body, ce_headers("kept-1")) == 200
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    critical = [line["message"] for line in lines if line["severity"] == "CRITICAL"]
    assert len(critical) == 2
    for message in critical:
        assert message.startswith("pullfix: invalid configuration: ")
        assert problem in message
    assert "RecursionError" not in log.read_text()
    if not env:
        assert lines[-1]["event_id"] == "kept-1" and lines[-1]["action"] == "ticket"
