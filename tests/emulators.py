"""Google's Firestore and Pub/Sub emulators, started through gcloud for a test session.

Each emulator is a Java program that gcloud installs as a component (`gcloud components
install cloud-firestore-emulator pubsub-emulator`) or, where gcloud came from Debian or RPM
packages, as `google-cloud-cli-firestore-emulator` and `google-cloud-cli-pubsub-emulator`; both
need Java 17 or later on PATH. A machine without one skips the tests that need it, naming what
is missing; with PULLFIX_REQUIRE_EMULATORS=1 (CI) a missing emulator fails them instead.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

REQUIRE_VARIABLE = "PULLFIX_REQUIRE_EMULATORS"
# How long an emulator may take to answer its first request (1-3 s on a quiet machine).
START_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class Kind:
    """One emulator: gcloud's command, its component and Debian package."""

    name: str
    command: tuple[str, ...]
    component: str  # the directory under the SDK's platform/
    package: str

    def install_hint(self) -> str:
        return (
            f"install it with `gcloud components install {self.component}` or "
            f"`apt-get install {self.package}` (Java 17+ on PATH)"
        )


FIRESTORE = Kind(
    "Firestore emulator",
    ("emulators", "firestore", "start"),
    "cloud-firestore-emulator",
    "google-cloud-cli-firestore-emulator",
)
PUBSUB = Kind(
    "Pub/Sub emulator",
    ("beta", "emulators", "pubsub", "start"),
    "pubsub-emulator",
    "google-cloud-cli-pubsub-emulator",
)


def required() -> bool:
    return os.environ.get(REQUIRE_VARIABLE, "") not in ("", "0")


def missing(kind: Kind) -> str | None:
    """What keeps `kind` from running here, or None."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        return f"{kind.name}: gcloud is not on PATH; {kind.install_hint()}"
    root = Path(gcloud).resolve().parent.parent  # google-cloud-sdk/bin/gcloud
    if not (root / "platform" / kind.component).is_dir():
        return (
            f"{kind.name}: the {kind.component} component is not installed; {kind.install_hint()}"
        )
    java = shutil.which("java")
    if java is None:
        return f"{kind.name}: Java is not on PATH; install Java 17 or later"
    version = subprocess.run(
        [java, "-version"], capture_output=True, text=True, timeout=30, check=False
    ).stderr
    found = re.search(r'version "(\d+)(?:\.(\d+))?', version)
    major = int(found.group(1)) if found else 0
    if major == 1 and found and found.group(2):  # "1.8.0" is Java 8
        major = int(found.group(2))
    if major < 17:
        return f"{kind.name}: Java 17 or later is needed, found {version.splitlines()[:1]}"
    return None


def unavailable(kind: Kind, reason: str) -> None:
    """Skip the test, naming what is missing; fail it where emulators are required."""
    if required():
        pytest.fail(f"{reason} ({REQUIRE_VARIABLE}=1)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Running:
    """A started emulator: `host` is HOST:PORT, as FIRESTORE_/PUBSUB_EMULATOR_HOST take it."""

    kind: Kind
    host: str
    process: subprocess.Popen[bytes]
    started_in: float  # seconds from the command to the first answer

    @property
    def base(self) -> str:
        return f"http://{self.host}"


@contextlib.contextmanager
def start(kind: Kind, *extra: str) -> Iterator[Running]:
    """Start `kind` on a free loopback port; stop it (gcloud and its Java child) at the end."""
    reason = missing(kind)
    if reason is not None:
        unavailable(kind, reason)
    host = f"127.0.0.1:{free_port()}"
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
    began = time.monotonic()
    process = subprocess.Popen(
        [str(shutil.which("gcloud")), *kind.command, f"--host-port={host}", *extra],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the Java child stops with it
    )
    try:
        while True:
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"http://{host}/", timeout=2).ok:
                    break
            if process.poll() is not None or time.monotonic() - began > START_TIMEOUT:
                log.seek(0)
                tail = log.read().decode(errors="replace")[-2000:]
                unavailable(kind, f"{kind.name} did not start on {host}:\n{tail}")
            time.sleep(0.05)
        yield Running(kind, host, process, time.monotonic() - began)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def reset_firestore(running: Running, project: str) -> None:
    """Delete every document of `project`'s default database (the emulator's own route)."""
    url = f"{running.base}/emulator/v1/projects/{project}/databases/(default)/documents"
    requests.delete(url, timeout=10).raise_for_status()


def reset_pubsub(running: Running, project: str) -> None:
    """Delete every subscription and topic of `project` (the emulator has no reset route)."""
    for kind in ("subscriptions", "topics"):
        url = f"{running.base}/v1/projects/{project}/{kind}"
        token = ""
        names: list[str] = []
        while True:
            answer = requests.get(url, params={"pageToken": token}, timeout=10)
            answer.raise_for_status()
            page = answer.json()
            names += [
                item if isinstance(item, str) else item["name"] for item in page.get(kind, [])
            ]
            token = page.get("nextPageToken", "")
            if not token:
                break
        for name in names:
            requests.delete(f"{running.base}/v1/{name}", timeout=10).raise_for_status()


SUBSCRIPTIONS = (
    Path(__file__).resolve().parent.parent / "functions" / "pullfix" / "subscriptions.json"
)


def deployed_subscription(
    topic: str, dead_letter_topic: str, push_endpoint: str, max_delivery_attempts: int | None = None
) -> dict[str, Any]:
    """A push subscription as Terraform deploys it (terraform/pubsub.tf), from the settings
    file both read; `max_delivery_attempts` overrides the file's default as the Terraform
    variable does."""
    settings = json.loads(SUBSCRIPTIONS.read_text())
    return {
        "topic": topic,
        "ackDeadlineSeconds": settings["ack_deadline_seconds"],
        "messageRetentionDuration": f"{settings['message_retention_seconds']}s",
        "pushConfig": {"pushEndpoint": push_endpoint},
        "retryPolicy": {
            "minimumBackoff": f"{settings['minimum_backoff_seconds']}s",
            "maximumBackoff": f"{settings['maximum_backoff_seconds']}s",
        },
        "deadLetterPolicy": {
            "deadLetterTopic": dead_letter_topic,
            "maxDeliveryAttempts": max_delivery_attempts or settings["max_delivery_attempts"],
        },
    }


class PubSub:
    """Pub/Sub's REST API on the emulator (https://cloud.google.com/pubsub/docs/reference/rest)."""

    def __init__(self, running: Running, project: str) -> None:
        self.base = f"{running.base}/v1"
        self.project = project

    def topic(self, name: str) -> str:
        full = f"projects/{self.project}/topics/{name}"
        requests.put(f"{self.base}/{full}", json={}, timeout=10).raise_for_status()
        return full

    def subscription(self, name: str, body: dict[str, Any]) -> str:
        full = f"projects/{self.project}/subscriptions/{name}"
        answer = requests.put(f"{self.base}/{full}", json=body, timeout=10)
        assert answer.ok, answer.text
        return full

    def publish(self, topic: str, data: bytes, attributes: dict[str, str] | None = None) -> str:
        message: dict[str, Any] = {"data": base64.b64encode(data).decode()}
        if attributes:
            message["attributes"] = attributes
        answer = requests.post(
            f"{self.base}/{topic}:publish", json={"messages": [message]}, timeout=10
        )
        answer.raise_for_status()
        ids: list[str] = answer.json()["messageIds"]
        return ids[0]

    def pull(self, subscription: str, count: int = 1, within: float = 30.0) -> list[dict[str, Any]]:
        """At least `count` received messages (acknowledged), or all there were by `within`."""
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + within
        while len(found) < count and time.monotonic() < deadline:
            answer = requests.post(
                f"{self.base}/{subscription}:pull",
                json={"maxMessages": 100, "returnImmediately": True},
                timeout=10,
            )
            answer.raise_for_status()
            received = answer.json().get("receivedMessages", [])
            if received:
                requests.post(
                    f"{self.base}/{subscription}:acknowledge",
                    json={"ackIds": [r["ackId"] for r in received]},
                    timeout=10,
                ).raise_for_status()
                found += received
            else:
                time.sleep(0.2)
        return found
