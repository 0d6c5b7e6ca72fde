"""`remediate` driven end to end through Google's Pub/Sub emulator: the pull-failures topic
pushes to the function (functions-framework on loopback) by a subscription configured as
Terraform deploys it (functions/pullfix/subscriptions.json); outcomes go to the emulator's
outcomes topic; the ledger is on Google's Firestore emulator; the other APIs are the sandbox.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from pullfix.dev.localrun import FunctionServer
from pullfix.dev.sandbox import Sandbox
from pullfix.dev.sandbox.world import world_from_dict
from tests.emulators import PubSub, Running, deployed_subscription
from tests.integration.pipeline import CONFIG, IMAGES, event, world_dict

pytestmark = pytest.mark.integration
PROJECT = "p1"  # the emulators' project (the host project of a deployment)
# Pub/Sub's least max_delivery_attempts (terraform/variables.tf allows 5-100): the emulator
# backs off as the deployed retry policy says, so ten attempts would take many minutes.
FEWEST_ATTEMPTS = 5
IMAGE = f"us-docker.pkg.dev/{IMAGES}/shared/web:1.4"


@dataclass
class Deployment:
    pubsub: PubSub
    firestore: Running
    sandbox: Sandbox
    function: FunctionServer
    failures: str
    outcomes: str  # a pull subscription on the outcomes topic
    dead_letters: str  # a pull subscription on the dead-letter topic

    def push_to_remediate(
        self, max_delivery_attempts: int | None = None, backoff: str | None = None
    ) -> None:
        """The remediate push subscription, as terraform/pubsub.tf makes it; `backoff`, when
        given, is the retry policy's minimum and maximum both."""
        endpoint = f"{self.function.url.rstrip('/')}/{self.failures}"
        body = deployed_subscription(
            self.failures,
            f"projects/{PROJECT}/topics/pullfix-dead-letter",
            endpoint,
            max_delivery_attempts,
        )
        if backoff is not None:
            body["retryPolicy"] = {"minimumBackoff": backoff, "maximumBackoff": backoff}
        self.pubsub.subscription("pullfix-remediate", body)

    def publish(self, entry: dict[str, Any]) -> str:
        """What the log sink publishes: the LogEntry as JSON."""
        timestamp = {"logging.googleapis.com/timestamp": entry["timestamp"]}
        return self.pubsub.publish(self.failures, json.dumps(entry).encode(), timestamp)

    def ledger_documents(self) -> list[dict[str, Any]]:
        """Every document of the ledger's collections, read from the emulator."""
        found: list[dict[str, Any]] = []
        for collection in ("pullfix-incidents", "pullfix-incidents-open"):
            answer = requests.get(
                f"{self.firestore.base}/v1/projects/{PROJECT}/databases/(default)/documents/"
                f"{collection}",
                headers={"Authorization": "Bearer owner"},
                timeout=10,
            )
            answer.raise_for_status()
            found += answer.json().get("documents", [])
        return found


@contextmanager
def deployed(
    tmp_path: Path, pubsub_emulator: Running, firestore_emulator: Running, **config: Any
) -> Iterator[Deployment]:
    """Topics, subscriptions, the sandbox and remediate, with `config` over the test's."""
    pubsub = PubSub(pubsub_emulator, PROJECT)
    failures = pubsub.topic("pullfix-pull-failures")
    outcomes_topic = pubsub.topic("pullfix-pull-outcomes")
    dead_letter = pubsub.topic("pullfix-dead-letter")
    outcomes = pubsub.subscription("test-outcomes", {"topic": outcomes_topic})
    dead_letters = pubsub.subscription("pullfix-dead-letter", {"topic": dead_letter})
    settings = {**CONFIG, "ledger": {"firestore": {"project": PROJECT}}, **config}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(settings))
    with Sandbox(world_from_dict(world_dict(None)), strict=True) as sandbox:
        env = {
            "PULLFIX_GCP_ENDPOINT": sandbox.endpoint,
            "FIRESTORE_EMULATOR_HOST": firestore_emulator.host,
            "PUBSUB_EMULATOR_HOST": pubsub_emulator.host,
            "PULLFIX_CONFIG": str(path),
            "PULLFIX_OUTCOMES_TOPIC": outcomes_topic,
        }
        with FunctionServer("remediate", env=env, log_path=tmp_path / "remediate.log") as server:
            yield Deployment(
                pubsub,
                firestore_emulator,
                sandbox,
                server,
                failures,
                outcomes,
                dead_letters,
            )


@pytest.fixture
def deployment(
    tmp_path: Path, pubsub_emulator: Running, firestore_emulator: Running
) -> Iterator[Deployment]:
    with deployed(tmp_path, pubsub_emulator, firestore_emulator) as made:
        yield made


def _data(received: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(base64.b64decode(received["message"]["data"]))
    return result


def test_a_raw_push_is_remediated_and_its_outcome_published(deployment: Deployment) -> None:
    # The emulator pushes the bare push body (no CloudEvent headers) to the topic's path, as
    # a push subscription does; functions-framework makes the CloudEvent.
    deployment.push_to_remediate()
    entry = event("default-pool", IMAGE)
    deployment.publish(entry)
    [outcome] = deployment.pubsub.pull(deployment.outcomes)
    data = _data(outcome)
    assert data["event"]["insert_id"] == entry["insertId"]
    assert (data["cause"], data["action"]) == ("cross_project", "grant")
    assert outcome["message"]["attributes"]["cause"] == "cross_project"
    states = {
        doc["fields"]["state"]["stringValue"]
        for doc in deployment.ledger_documents()
        if "state" in doc.get("fields", {})
    }
    assert states <= {"done", "granted"} and states
    assert deployment.pubsub.pull(deployment.dead_letters, within=1) == []


def _log(deployment: Deployment) -> str:
    return (deployment.function.log_path or Path()).read_text()


def test_a_5xx_is_pushed_again_and_handled_once(deployment: Deployment) -> None:
    deployment.push_to_remediate()
    # Artifact Registry fails (past the function's own retries) until the first push was
    # answered 500; then it recovers.
    deployment.sandbox.add_fault(method="artifactregistry.*", status=503, count=None)
    entry = event("default-pool", IMAGE)
    deployment.publish(entry)
    deadline = time.monotonic() + 30
    while "will be retried" not in _log(deployment) and time.monotonic() < deadline:
        time.sleep(0.1)
    deployment.sandbox.state.clear_faults()
    assert _log(deployment).count("will be retried") == 1
    outcomes = deployment.pubsub.pull(deployment.outcomes, within=60)
    assert [_data(o)["event"]["insert_id"] for o in outcomes] == [entry["insertId"]]
    assert deployment.pubsub.pull(deployment.outcomes, within=2) == []  # and only once


def test_a_message_failing_every_attempt_is_dead_lettered_leaving_no_claim(
    deployment: Deployment,
) -> None:
    # The deployed backoff (10 s doubling) only spaces the attempts out, over a minute and a
    # half; what this test holds is what the last attempt leaves, so the attempts come 1 s apart.
    deployment.push_to_remediate(FEWEST_ATTEMPTS, backoff="1s")
    deployment.sandbox.add_fault(method="artifactregistry.*", status=503, count=None)
    entry = event("default-pool", IMAGE)
    message_id = deployment.publish(entry)
    [dead] = deployment.pubsub.pull(deployment.dead_letters, within=240)
    attributes = dead["message"]["attributes"]
    assert json.loads(base64.b64decode(dead["message"]["data"])) == entry
    assert attributes["CloudPubSubDeadLetterSourceDeliveryCount"] == str(FEWEST_ATTEMPTS)
    assert attributes["logging.googleapis.com/timestamp"] == entry["timestamp"]
    assert _log(deployment).count("will be retried") == FEWEST_ATTEMPTS, message_id
    # Each attempt claimed the incident and released it on the transient error.
    assert deployment.ledger_documents() == []
    assert deployment.pubsub.pull(deployment.outcomes, within=1) == []


def test_a_re_push_while_the_first_push_still_runs_is_handled_once(
    tmp_path: Path, pubsub_emulator: Running, firestore_emulator: Running
) -> None:
    # Pub/Sub pushes a message again when its ack deadline passes before the answer (and,
    # being at-least-once, may push twice anyway). Terraform's deadline (300 s) outlasts the
    # function's 120 s timeout, so here the deadline is Pub/Sub's least, 10 s, and the
    # first push is held up 14 s in Artifact Registry: the second push comes while it runs.
    with deployed(tmp_path, pubsub_emulator, firestore_emulator, api_timeout="30s") as made:
        body = deployed_subscription(
            made.failures,
            f"projects/{PROJECT}/topics/pullfix-dead-letter",
            f"{made.function.url.rstrip('/')}/{made.failures}",
        )
        made.pubsub.subscription("pullfix-remediate", {**body, "ackDeadlineSeconds": 10})
        made.sandbox.add_fault(method="artifactregistry.*", latency=14.0, count=1)
        entry = event("default-pool", IMAGE)
        made.publish(entry)
        outcomes = made.pubsub.pull(made.outcomes, within=90)
        assert [_data(o)["event"]["insert_id"] for o in outcomes] == [entry["insertId"]]
        # The second push found the incident's work under way (its lease live): it was
        # answered 500, to be pushed again, and nothing was done twice.
        assert "is being handled by this message already" in _log(made)
        assert made.pubsub.pull(made.outcomes, within=15) == []
        grants = made.sandbox.stats()["requests"].get(
            "artifactregistry.projects.locations.repositories.setIamPolicy", 0
        )
        assert grants == 1
        assert made.pubsub.pull(made.dead_letters, within=1) == []
