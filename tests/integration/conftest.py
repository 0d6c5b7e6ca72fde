"""Sandbox fixtures: a strict sandbox on loopback and the official clients pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pullfix.dev.sandbox import Sandbox
from pullfix.gcp.clients import GoogleClients
from pullfix.gcp.endpoints import sandbox_endpoint
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
