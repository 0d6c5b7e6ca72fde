"""The approval engine in one process, on the sandbox: which grants wait, and what an
approval does when the world or the config changed between the request and the click."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from pullfix.core.config import Config, config_from_dict
from pullfix.core.intake import PullFailure, parse_json
from pullfix.dev.sandbox import Sandbox
from pullfix.dev.sandbox.world import Binding, world_from_dict
from pullfix.engine.approval import Approvals, Click
from pullfix.engine.remediate import Remediator
from pullfix.engine.runtime import build_remediator
from pullfix.gcp.clients import GoogleClients
from pullfix.gcp.endpoints import sandbox_endpoint
from tests.integration.pipeline import CONFIG, IMAGES, PROD, event, sa, world_dict

pytestmark = pytest.mark.integration

APPS = f"projects/{PROD}/locations/us-central1/repositories/apps"
APPS_IMAGE = f"us-central1-docker.pkg.dev/{PROD}/apps/web:1.0"
SHARED_IMAGE = f"us-docker.pkg.dev/{IMAGES}/shared/web:1.4"
APPROVER = "alice@example.com"


class Published:
    def __init__(self) -> None:
        self.outcomes: list[dict[str, Any]] = []

    def publish(self, outcome: dict[str, Any]) -> None:
        self.outcomes.append(outcome)


def settings(**auto_grant: Any) -> Config:
    return config_from_dict(
        {
            **CONFIG,
            "auto_grant": {
                **CONFIG["auto_grant"],
                "approval_repositories": [f"projects/{PROD}/locations/*/repositories/apps"],
                "approvers": [APPROVER],
                **auto_grant,
            },
        }
    )


@pytest.fixture
def engine() -> Iterator[tuple[Remediator, Sandbox, Published]]:
    with Sandbox(world_from_dict(world_dict(None)), strict=True) as sandbox:
        clients = GoogleClients(sandbox_endpoint(sandbox.endpoint))
        remediator = build_remediator(settings(), clients, None)
        published = remediator.publisher = Published()
        yield remediator, sandbox, published
        clients.close()


def deliver(remediator: Remediator, entry: dict[str, Any], message_id: str) -> dict[str, Any]:
    failure = parse_json(json.dumps(entry).encode())
    assert isinstance(failure, PullFailure)
    failure = dataclasses.replace(failure, message_id=message_id)
    return remediator.handle(failure, datetime.now(UTC)).to_dict()


def readers(sandbox: Sandbox, project: str, repository: str) -> set[str]:
    policy = sandbox.world.projects[project].repositories[repository].policy
    return set(policy.members_of("roles/artifactregistry.reader"))


def test_only_the_listed_repositories_wait_for_approval(
    engine: tuple[Remediator, Sandbox, Published],
) -> None:
    remediator, sandbox, _ = engine
    waits = deliver(remediator, event("dry-pool", APPS_IMAGE), "m1")
    assert waits["action"] == "approval_requested"
    assert f"serviceAccount:{sa('dry')}" not in readers(sandbox, PROD, "apps")
    alone = deliver(remediator, event("dry-pool", SHARED_IMAGE), "m2")
    assert alone["action"] == "grant"
    assert f"serviceAccount:{sa('dry')}" in readers(sandbox, IMAGES, "shared")


def test_an_approval_grants_only_the_plan_that_was_approved(
    engine: tuple[Remediator, Sandbox, Published],
) -> None:
    remediator, sandbox, published = engine
    request = deliver(remediator, event("storm-pool", APPS_IMAGE), "m3")["approval"]["id"]
    # Between the request and the click, the config moves grants to the project level:
    # the evidence now calls for another grant than the one the approver saw.
    remediator.config = settings(
        level="project", repositories=[f"projects/{PROD}/locations/*/repositories/*"]
    )
    answer = Approvals(remediator).decide(Click(request, "approve", APPROVER), datetime.now(UTC))
    assert answer.status == 200 and answer.done
    assert answer.text.startswith(f"approved by {APPROVER}") and "but not granted" in answer.text
    assert "is not the one the evidence calls for now" in answer.text
    assert f"serviceAccount:{sa('storm')}" not in readers(sandbox, PROD, "apps")
    project_readers = sandbox.world.projects[PROD].policy.members_of(
        "roles/artifactregistry.reader"
    )
    assert f"serviceAccount:{sa('storm')}" not in project_readers
    assert published.outcomes[-1]["action"] == "ticket"


def test_an_approval_finds_the_grant_already_there_and_writes_nothing(
    engine: tuple[Remediator, Sandbox, Published],
) -> None:
    remediator, sandbox, published = engine
    request = deliver(remediator, event("race-pool", APPS_IMAGE), "m4")["approval"]["id"]
    # Someone grants it by hand before the click.
    policy = sandbox.world.projects[PROD].repositories["apps"].policy
    policy.bindings.append(
        Binding("roles/artifactregistry.reader", [f"serviceAccount:{sa('race')}"])
    )
    policy.revision += 1
    write = "artifactregistry.projects.locations.repositories.setIamPolicy"
    before = sandbox.stats()["requests"].get(write, 0)
    answer = Approvals(remediator).decide(Click(request, "approve", APPROVER), datetime.now(UTC))
    assert answer.status == 200 and answer.done
    # IAM is read at the write: the binding is there, so nothing is written.
    assert sandbox.stats()["requests"].get(write, 0) == before
    assert answer.request is not None
    assert "the binding was already there: nothing was written" in answer.request["result"]
    assert published.outcomes[-1]["action"] == "grant"
    assert f"approved in chat by {APPROVER}" in published.outcomes[-1]["reasons"]
