"""Test fixtures: paths to the repository, the corpus of real messages and the wire formats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
CORPUS = DATA / "corpus" / "real_pull_messages.jsonl"
EXAMPLES = DATA / "examples"


@pytest.fixture(scope="session")
def corpus() -> list[dict[str, Any]]:
    """The real pull-failure messages from public issue threads."""
    lines = CORPUS.read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="session")
def example_log_entry() -> dict[str, Any]:
    """The GKE pod-event LogEntry in tests/data/examples."""
    result: dict[str, Any] = json.loads((EXAMPLES / "gke_event_logentry.json").read_text())
    return result


@pytest.fixture(scope="session")
def example_eventarc_request() -> tuple[dict[str, str], bytes]:
    """Headers and body of the Eventarc delivery in tests/data/examples."""
    text = (EXAMPLES / "eventarc_pubsub_cloudevent.http").read_text()
    head, _, body = text.partition("\n\n")
    headers = {}
    for line in head.splitlines()[1:]:
        name, _, value = line.partition(":")
        headers[name.strip()] = value.strip()
    return headers, body.encode()
