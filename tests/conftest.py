"""Shared test fixtures: paths to the repository, the shared corpus and examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus" / "real_pull_messages.jsonl"
EXAMPLES = SHARED / "examples"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"{path} is missing: the tests read ../shared beside the checkout")
    return path


@pytest.fixture(scope="session")
def corpus() -> list[dict[str, Any]]:
    """The real pull-failure messages from public issue threads."""
    lines = _require(CORPUS).read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="session")
def example_log_entry() -> dict[str, Any]:
    """The GKE pod-event LogEntry from shared/examples."""
    result: dict[str, Any] = json.loads(_require(EXAMPLES / "gke_event_logentry.json").read_text())
    return result


@pytest.fixture(scope="session")
def example_eventarc_request() -> tuple[dict[str, str], bytes]:
    """Headers and body of the Eventarc delivery in shared/examples."""
    text = _require(EXAMPLES / "eventarc_pubsub_cloudevent.http").read_text()
    head, _, body = text.partition("\n\n")
    headers = {}
    for line in head.splitlines()[1:]:
        name, _, value = line.partition(":")
        headers[name.strip()] = value.strip()
    return headers, body.encode()
