"""`pullfix replay`: events through the full remediate path, against a sandbox world.

The real adapters talk to a sandbox loaded from the world file, over its wire protocols.
Each event is judged as of its own timestamp: nothing is too old, and dedupe windows and
grace periods run on event time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from pullfix.core.causes import Action
from pullfix.core.classify import offline_record
from pullfix.core.config import Config
from pullfix.core.intake import IntakeResult, PullFailure
from pullfix.core.intake import parse_timestamp as _parse_time
from pullfix.dev.sandbox import Sandbox, World
from pullfix.engine.remediate import Remediator
from pullfix.engine.runtime import build_remediator, outcomes_topic
from pullfix.engine.verify import logging_query, run_verification
from pullfix.gcp.clients import GoogleClients
from pullfix.gcp.endpoints import sandbox_endpoint

__all__ = ["replay_events", "write_world"]


def replay_events(
    world: World,
    config: Config,
    events: Iterable[tuple[str, IntakeResult]],
    sandbox: Sandbox | None = None,
    *,
    verify: bool = False,
) -> Iterator[dict[str, Any]]:
    """Run each event (where it was in the input, and its intake: see
    `pullfix.cli.events_input`) through remediate against `world`; yield one result per
    event. With
    `verify`, then one verification pass (see `pullfix.engine.verify`) as of the last
    event's time plus `escalation_grace`, over the world's log entries: one more result per
    incident it closes (resolved, still_failing, abandoned)."""
    own = sandbox is None
    box = sandbox or Sandbox(world, grpc=False).start()
    clients = GoogleClients(sandbox_endpoint(box.endpoint))
    last: datetime | None = None
    try:
        topic = outcomes_topic()
        remediator = build_remediator(config, clients, topic)
        for where, intake in events:
            result = _one(remediator, where, intake)
            yield result
            when = _parse_time(str((result.get("event") or {}).get("timestamp") or ""))
            if when is not None and (last is None or when > last):
                last = when
        if verify and last is not None:
            as_of = last + timedelta(seconds=config.escalation_grace)
            for verdict in run_verification(
                remediator.ledger,
                logging_query(clients),
                as_of,
                config,
                collector=remediator.collector,
                publish=remediator.publisher.publish if remediator.publisher else None,
            ):
                yield verdict.to_dict()
    finally:
        clients.close()
        if own:
            box.stop()


def _one(remediator: Remediator, where: str, result: IntakeResult) -> dict[str, Any]:
    if not isinstance(result, PullFailure):
        record = offline_record(result)
        if "error" in record:
            return {
                "error": f"{where}: {record['error']}",
                "action": Action.IGNORED.value,
                "cause": None,
                "grant": None,
                "ticket": None,
                "reasons": [],
            }
        return {
            "cause": record["cause"],
            "action": Action.IGNORED.value,
            "grant": None,
            "ticket": None,
            "reasons": record["reasons"],
            "event": {
                "insert_id": record["insert_id"],
                "cluster": record["cluster"],
                "namespace": record["namespace"],
                "pod": record["pod"],
            },
        }
    when = result.timestamp or datetime.now(UTC)
    outcome = remediator.handle(result, when).to_dict()
    return {
        key: outcome[key]
        for key in (
            "cause",
            "action",
            "grant",
            "ticket",
            "reasons",
            "fingerprint",
            "event",
            "dry_run",
            "escalation",
        )
    }


def write_world(world: World, path: str | Path) -> None:
    """Write the world, IAM changes included, in the world-file schema."""
    Path(path).write_text(yaml.safe_dump(world.to_dict(), sort_keys=False))


def render_row(number: int, result: dict[str, Any]) -> list[str]:
    event = result.get("event") or {}
    grant = result.get("grant")
    if result.get("error"):
        detail = str(result["error"])
    elif grant:
        detail = f"{grant['role']} on {grant['resource']} to {grant['member']}"
    else:
        detail = str((result.get("reasons") or [""])[0])
    if result.get("action") == "resolved":
        detail = f"time to fix {result.get('time_to_fix_seconds')}s, by {result.get('fixed_by')}"
    workload = f"{event.get('namespace') or '-'}/{event.get('workload') or event.get('pod') or '-'}"
    return [
        str(number),
        workload,
        str(result.get("cause") or "-"),
        str(result["action"]),
        detail,
    ]


def dumps(result: dict[str, Any]) -> str:
    return json.dumps(result, ensure_ascii=False, separators=(",", ":"))
