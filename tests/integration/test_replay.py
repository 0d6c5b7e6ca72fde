"""`pullfix replay` as a user runs it: the installed console script on bundled files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from pullfix.dev.events import log_entry, pull_message
from tests.conftest import REPO

pytestmark = pytest.mark.integration
PULLFIX = str(Path(sys.executable).parent / "pullfix")
SAMPLES = REPO / "functions" / "pullfix" / "dev" / "samples"
DEFAULT_SA = "serviceAccount:111111111111-compute@developer.gserviceaccount.com"


def replay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PULLFIX, "replay", *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {"auto_grant": {"repositories": ["projects/shop-*/locations/*/repositories/*"]}}
        )
    )
    return path


def test_replay_json_and_world_out(tmp_path: Path, config: Path) -> None:
    out = tmp_path / "after.yaml"
    done = replay(
        "--world",
        str(SAMPLES / "world.yaml"),
        "--config",
        str(config),
        "--world-out",
        str(out),
        "--json",
        str(SAMPLES / "events.jsonl"),
    )
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) == 14
    first = results[0]
    assert (first["cause"], first["action"]) == ("cross_project", "grant")
    assert first["grant"] == {
        "resource": "projects/shop-images/locations/us-central1/repositories/images",
        "role": "roles/artifactregistry.reader",
        "member": DEFAULT_SA,
    }
    assert first["ticket"] is None and first["reasons"]
    causes = [r["cause"] for r in results]
    assert causes[2:11] == [
        "scope",
        "not_found",
        "rate_limit",
        "network",
        "invalid_name",
        "platform",
        "pull_policy",
        "node_disk",
        "auth_config",
    ]
    assert all(r["ticket"]["title"] for r in results[2:11])
    assert results[12]["action"] == "ignored" and results[13]["error"].startswith("line 14")
    # The grant audit went to stderr, not into the JSON stream.
    assert '"action":"grant"' in done.stderr
    world = yaml.safe_load(out.read_text())
    reader = world["projects"]["shop-images"]["repositories"]["images"]["iam"]
    assert any(DEFAULT_SA in b["members"] for b in reader if b["role"].endswith(".reader"))


def _event(minute: int, insert_id: str) -> dict[str, Any]:
    image = "us-central1-docker.pkg.dev/shop-images/images/web:1.4"
    return log_entry(
        project="shop-prod",
        location="us-central1",
        cluster="checkout",
        namespace="web",
        pod=f"web-{minute}",
        node="gke-checkout-default-pool-1a2b3c4d-x7k9",
        message=pull_message(image, "403 Forbidden"),
        controller=("Deployment", "web"),
        timestamp=f"2024-03-01T10:{minute:02d}:00Z",
        insert_id=insert_id,
    )


def test_replay_runs_on_event_time(tmp_path: Path, config: Path) -> None:
    # Events from 2024: never too old to replay; the grace period runs on event time.
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps(_event(m, f"e{m}")) for m in (0, 5, 11, 12)) + "\n")
    done = replay(
        "--world", str(SAMPLES / "world.yaml"), "--config", str(config), "--json", str(events)
    )
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["action"], r["escalation"]) for r in results] == [
        ("grant", False),
        ("suppressed", False),
        ("ticket", True),
        ("suppressed", False),
    ]


def test_replay_table_and_errors(tmp_path: Path, config: Path) -> None:
    done = replay("--world", str(SAMPLES / "world.yaml"), str(SAMPLES / "events.jsonl"))
    assert done.returncode == 0
    assert "cross_project" in done.stdout and "ticket" in done.stdout
    # No config: the default allow-list is empty, so nothing is granted.
    assert " grant " not in done.stdout
    bad = tmp_path / "world.yaml"
    bad.write_text("projects: {shop: {number: x}}\n")
    failed = replay("--world", str(bad), str(SAMPLES / "events.jsonl"))
    assert failed.returncode == 3
    assert "projects.shop" in failed.stderr
    missing = replay("--world", str(SAMPLES / "world.yaml"), str(tmp_path / "none.jsonl"))
    assert missing.returncode == 3 and "cannot read" in missing.stderr
