"""Sandbox fixtures: a strict sandbox on loopback and the official clients pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pullfix.dev.sandbox import Sandbox
from pullfix.gcp.clients import GoogleClients
from pullfix.gcp.endpoints import sandbox_endpoint
from tests import emulators
from tests.conftest import REPO

TEST_WORLD = REPO / "tests" / "data" / "world.yaml"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh strict sandbox over the test world: every REST answer is schema-checked."""
    with Sandbox(TEST_WORLD, strict=True, push_min_backoff=0.01) as running:
        yield running


@pytest.fixture
def clients(sandbox: Sandbox) -> Iterator[GoogleClients]:
    """The official Google clients, configured from PULLFIX_GCP_ENDPOINT's value alone."""
    made = GoogleClients(sandbox_endpoint(sandbox.endpoint))
    yield made
    made.close()


# Google's emulators: each started once per session (when a test first asks for it), and
# reset before every test that uses it. Missing, the test is skipped naming what to install,
# or fails where PULLFIX_REQUIRE_EMULATORS=1 (CI).
EMULATOR_PROJECT = "p1"


@pytest.fixture(scope="session")
def _firestore_emulator() -> Iterator[emulators.Running]:
    with emulators.start(emulators.FIRESTORE) as running:
        yield running


@pytest.fixture
def firestore_emulator(_firestore_emulator: emulators.Running) -> emulators.Running:
    """The Firestore emulator, empty."""
    emulators.reset_firestore(_firestore_emulator, EMULATOR_PROJECT)
    return _firestore_emulator


@pytest.fixture(scope="session")
def _pubsub_emulator() -> Iterator[emulators.Running]:
    with emulators.start(emulators.PUBSUB, f"--project={EMULATOR_PROJECT}") as running:
        yield running


@pytest.fixture
def pubsub_emulator(_pubsub_emulator: emulators.Running) -> emulators.Running:
    """The Pub/Sub emulator, with no topic or subscription (in p1 and pullfix-host)."""
    for project in (EMULATOR_PROJECT, "pullfix-host"):
        emulators.reset_pubsub(_pubsub_emulator, project)
    return _pubsub_emulator
