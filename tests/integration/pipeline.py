"""The remediate pipeline on loopback: sandbox + `remediate` under functions-framework +
a receiver that the sandbox's outcomes topic pushes to."""

from __future__ import annotations

import base64
import json
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from pullfix.dev.events import eventarc_headers, log_entry, pull_message, push_body
from pullfix.dev.localrun import FunctionServer, post
from pullfix.dev.sandbox import Sandbox
from pullfix.dev.sandbox.world import world_from_dict
from tests.receivers import Receiver, receiver

PROD, IMAGES = "prod-shop", "shared-images"
PROD_NUMBER, IMAGES_NUMBER = 100000000001, 100000000002
DEFAULT_SA = f"{PROD_NUMBER}-compute@developer.gserviceaccount.com"
LOCATION, CLUSTER = "us-central1", "c1"
RO = "https://www.googleapis.com/auth/devstorage.read_only"
CONDITION = {"title": "weekdays", "expression": "request.time.getDayOfWeek() < 5"}
HOT_POOLS = 16


def sa(name: str, project: str = PROD) -> str:
    return f"{name}@{project}.iam.gserviceaccount.com"


def node(pool: str, cluster: str = CLUSTER) -> str:
    """The first node of a pool, named as GKE names it."""
    digest = f"{zlib.crc32(pool.encode()):08x}"
    return f"gke-{cluster}-{pool}-{digest}-n001"


def _pool(
    account: str = "default",
    scopes: list[str] | None = None,
    version: str = "1.29.4-gke.1043002",
    name: str = "",
) -> dict[str, Any]:
    return {
        "service_account": account,
        "oauth_scopes": scopes or [RO],
        "version": version,
        "nodes": [node(name)],
    }


def world_dict(push_endpoint: str | None) -> dict[str, Any]:
    pools = {
        "default-pool": _pool(name="default-pool"),
        "custom-pool": _pool(
            sa("nodes"), ["https://www.googleapis.com/auth/cloud-platform"], name="custom-pool"
        ),
        "noscope-pool": _pool(
            scopes=["https://www.googleapis.com/auth/logging.write"], name="noscope-pool"
        ),
        "old-pool": _pool(version="1.14.10-gke.21", name="old-pool"),
        "disabled-pool": _pool(sa("disabled"), name="disabled-pool"),
        "deleted-pool": _pool(sa("deleted"), name="deleted-pool"),
        "editor-pool": _pool(sa("editor"), name="editor-pool"),
        "dry-pool": _pool(sa("dry"), name="dry-pool"),
        "storm-pool": _pool(sa("storm"), name="storm-pool"),
        "redeliver-pool": _pool(sa("redeliver"), name="redeliver-pool"),
        "race-pool": _pool(sa("race"), name="race-pool"),
        "flaky-pool": _pool(sa("flaky"), name="flaky-pool"),
        "slow-pool": _pool(sa("slow"), name="slow-pool"),
        "late-pool": _pool(sa("late"), name="late-pool"),
        "twice-pool": _pool(sa("twice"), name="twice-pool"),
    }
    for i in range(HOT_POOLS):
        pools[f"hot-{i}"] = _pool(sa(f"hot-{i}"), name=f"hot-{i}")
    accounts = {
        sa(n): {}
        for n in (
            "nodes",
            "editor",
            "dry",
            "storm",
            "redeliver",
            "race",
            "flaky",
            "slow",
            "late",
            "twice",
        )
    }
    accounts |= {sa(f"hot-{i}"): {} for i in range(HOT_POOLS)}
    accounts[sa("disabled")] = {"disabled": True}
    topic = {"push_endpoint": push_endpoint} if push_endpoint else {}
    return {
        "groups": {"ci@example.com": {"members": ["user:release-bot@example.com"]}},
        "projects": {
            PROD: {
                "number": PROD_NUMBER,
                "iam": [{"role": "roles/editor", "members": [f"serviceAccount:{sa('editor')}"]}],
                "service_accounts": accounts,
                "clusters": {
                    CLUSTER: {
                        "location": LOCATION,
                        "version": "1.29.4-gke.1043002",
                        "node_pools": pools,
                    }
                },
                "topics": {"pull-outcomes": topic},
                "repositories": {
                    "apps": {
                        "location": LOCATION,
                        "tags": ["api:2.0", "web:1.0"],
                        "iam": [
                            {
                                "role": "roles/artifactregistry.writer",
                                "members": ["group:ci@example.com"],
                                "condition": CONDITION,
                            }
                        ],
                    },
                    "locked": {"location": LOCATION, "tags": ["app:1"], "iam": []},
                },
            },
            IMAGES: {
                "number": IMAGES_NUMBER,
                "repositories": {
                    "shared": {"location": "us", "tags": ["web:1.4", "base:2"], "iam": []},
                    "hot": {
                        "location": "us",
                        "tags": ["app:1"],
                        "iam": [
                            {
                                "role": "roles/artifactregistry.writer",
                                "members": ["group:ci@example.com"],
                                "condition": CONDITION,
                            }
                        ],
                    },
                },
            },
        },
    }


CONFIG = {
    "auto_grant": {
        "repositories": [
            f"projects/{PROD}/locations/*/repositories/apps",
            f"projects/{IMAGES}/locations/*/repositories/*",
        ],
        "cluster_projects": [PROD],
        "max_per_hour": 200,
    },
    "dedupe_window": "1h",
    "escalation_grace": "10m",
    "api_timeout": "2s",
}


def event(
    pool: str,
    image: str,
    detail: str = "403 Forbidden",
    *,
    workload: str | None = None,
    reason: str = "Failed",
    message: str | None = None,
    minutes_ago: float = 0.0,
    cluster: str = CLUSTER,
    node_name: str | None = None,
    project: str = PROD,
    namespace: str = "shop",
) -> dict[str, Any]:
    """A GKE pull-failure LogEntry from a pod of `workload` on the pool's node."""
    when = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    name = workload or f"{pool}-{zlib.crc32(image.encode()) % 10**6}"
    return log_entry(
        project=project,
        location=LOCATION,
        cluster=cluster,
        namespace=namespace,
        pod=f"{name}-7d9f8c-xk2p",
        node=node(pool) if node_name is None else node_name,
        message=message or pull_message(image, detail),
        reason=reason,
        controller=("Deployment", name),
        container="app",
        timestamp=when.isoformat().replace("+00:00", "Z"),
        insert_id=f"{name}-{when.timestamp():.6f}",
    )


@dataclass
class Pipeline:
    sandbox: Sandbox
    function: FunctionServer
    outcomes_receiver: Receiver
    config_path: Path
    _ids: int = field(default=0)

    def post(self, entry: dict[str, Any], message_id: str | None = None) -> int:
        """Deliver one LogEntry as Eventarc does; the HTTP status the function answers."""
        self._ids += 1
        message_id = message_id or f"m{time.time_ns()}{self._ids}"
        body = json.dumps(push_body(entry, message_id=message_id, project=PROD)).encode()
        return post(
            self.function.url,
            body,
            eventarc_headers(message_id, f"projects/{PROD}/topics/pull-failures"),
        )

    def outcomes(self) -> list[dict[str, Any]]:
        """Every outcome pushed so far (acknowledged deliveries only)."""
        self.sandbox.drain(30)
        with self.outcomes_receiver.lock:
            bodies = [r.json() for r in self.outcomes_receiver.requests]
        return [json.loads(base64.b64decode(b["message"]["data"])) for b in bodies]

    def outcomes_for(self, entry: dict[str, Any]) -> list[dict[str, Any]]:
        insert_id = entry["insertId"]
        return [o for o in self.outcomes() if o["event"]["insert_id"] == insert_id]

    def one_outcome(self, entry: dict[str, Any]) -> dict[str, Any]:
        found = self.outcomes_for(entry)
        assert len(found) == 1, found
        return found[0]

    def reader_members(self, repository: str) -> set[str]:
        project, repo = repository.split("/")[1], repository.rsplit("/", maxsplit=1)[-1]
        policy = self.sandbox.world.projects[project].repositories[repo].policy
        return policy.members_of("roles/artifactregistry.reader")

    def stats(self) -> dict[str, int]:
        return dict(self.sandbox.stats()["requests"])


@contextmanager
def pipeline(
    tmp: Path,
    config: dict[str, Any] | None = None,
    *,
    ledger_firestore: bool = False,
    functions: int = 1,
    world: Callable[[dict[str, Any]], None] | None = None,
) -> Iterator[list[Pipeline]]:
    """Sandbox, receiver and `functions` remediate servers sharing them."""
    settings = dict(config or CONFIG)
    if ledger_firestore:
        settings["ledger"] = {"firestore": {"project": PROD}}
    config_path = tmp / "config.yaml"
    config_path.write_text(yaml.safe_dump(settings))
    with ExitStack() as stack:
        outcomes = stack.enter_context(receiver())
        shape = world_dict(outcomes.url)
        if world is not None:
            world(shape)
        sandbox = stack.enter_context(
            Sandbox(world_from_dict(shape), strict=True, push_min_backoff=0.01)
        )
        env = {
            "PULLFIX_GCP_ENDPOINT": sandbox.endpoint,
            "PULLFIX_CONFIG": str(config_path),
            "PULLFIX_OUTCOMES_TOPIC": f"projects/{PROD}/topics/pull-outcomes",
        }
        servers = [
            stack.enter_context(
                FunctionServer("remediate", env=env, log_path=tmp / f"remediate-{i}.log")
            )
            for i in range(functions)
        ]
        yield [Pipeline(sandbox, server, outcomes, config_path) for server in servers]
