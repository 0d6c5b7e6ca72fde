"""`pullfix incidents list` and `pullfix incidents show KEY`: the incident history the ledger
keeps (each incident's outcomes in the order published, at most MAX_HISTORY: the first and the
latest), read from the Firestore ledger the functions share.

An incident's cause and action are its first outcome's (what pullfix concluded and did); its
state is the latest verification's (`resolved`, `abandoned`, `still_failing`), else `open`.
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from pullfix.cli.operator import EXIT_INPUT, EXIT_OK, _clients, _guarded, _Stop

__all__ = ["incident_row", "run_incidents_list", "run_incidents_show", "summarize_incident"]

EXIT_NOT_FOUND = 1
# An incident key, as the outcome schema has it (`grant-…`, `ticket-…`, `escalation-…`).
_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,200}")
STATES = ("open", "resolved", "abandoned", "still_failing")
_VERDICTS = ("resolved", "abandoned", "still_failing")


def summarize_incident(key: str, outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """One incident from its outcomes, oldest first."""
    first = outcomes[0] if outcomes else {}
    event = first.get("event") or {}
    state = "open"
    for outcome in outcomes:
        if outcome.get("action") in _VERDICTS:
            state = str(outcome["action"])
    times = [str((o.get("event") or {}).get("timestamp") or "") for o in outcomes]
    resolved = next((o for o in outcomes if o.get("action") == "resolved"), None)
    return {
        "key": key,
        "cause": first.get("cause"),
        "action": first.get("action"),
        "state": state,
        "cluster": event.get("cluster"),
        "namespace": event.get("namespace"),
        "workload": event.get("workload"),
        "image": event.get("image"),
        "first": times[0] if times else None,
        "last": times[-1] if times else None,
        "outcomes": len(outcomes),
        "time_to_fix_seconds": resolved.get("time_to_fix_seconds") if resolved else None,
    }


def _keep(summary: dict[str, Any], args: argparse.Namespace) -> bool:
    from pullfix.core.grants import matches

    return (
        (args.cause is None or summary["cause"] == args.cause)
        and (args.action is None or summary["action"] == args.action)
        and (args.state is None or summary["state"] == args.state)
        and matches(summary["cluster"], args.cluster)
        and matches(summary["namespace"], args.namespace)
    )


def incident_row(summary: dict[str, Any]) -> list[str]:
    ttf = summary["time_to_fix_seconds"]
    return [
        str(summary["key"]),
        str(summary["first"] or "-"),
        str(summary["cause"] or "-"),
        str(summary["action"] or "-"),
        str(summary["state"]) + (f" ({ttf}s)" if ttf is not None else ""),
        str(summary["cluster"] or "-").rsplit("/", 1)[-1],
        f"{summary['namespace'] or '-'}/{summary['workload'] or '-'}",
        str(summary["image"] or "-"),
    ]


def run_incidents_list(args: argparse.Namespace, out: TextIO) -> int:
    """The incidents with an outcome in the period, latest first, filtered."""
    from pullfix.cli.history import load_histories, open_history
    from pullfix.cli.output import output_format, write_structured
    from pullfix.cli.tables import render_table
    from pullfix.core.config import ConfigError, parse_duration

    try:
        since = datetime.now(UTC) - timedelta(seconds=parse_duration(args.since, "--since"))
    except ConfigError as exc:
        raise _Stop(EXIT_INPUT, str(exc)) from exc
    if not 1 <= args.limit <= 10_000:
        raise _Stop(EXIT_INPUT, "--limit: expected 1-10000 incidents")
    clients = _clients()
    try:
        ledger = open_history(args, clients)
        histories = _guarded(lambda: load_histories(ledger, since, args.limit))
    finally:
        clients.close()
    summaries = [summarize_incident(key, outcomes) for key, outcomes in histories]
    summaries = [s for s in summaries if _keep(s, args)]
    fmt = output_format(args)
    if fmt != "table":
        write_structured(summaries, fmt, out)
        return EXIT_OK
    headers = ["incident", "first seen", "cause", "action", "state", "cluster", "workload", "image"]
    out.write(render_table(headers, [incident_row(s) for s in summaries]) + "\n")
    return EXIT_OK


def _detail(outcome: dict[str, Any]) -> str:
    grant = outcome.get("grant")
    if outcome.get("action") == "resolved":
        return f"fixed by {outcome.get('fixed_by')} in {outcome.get('time_to_fix_seconds')}s"
    if isinstance(grant, dict) and outcome.get("action") in ("grant", "would_grant"):
        condition = grant.get("condition")
        until = f" ({condition.get('title')})" if isinstance(condition, dict) else ""
        return f"{grant.get('role')} on {grant.get('resource')} to {grant.get('member')}{until}"
    reasons = outcome.get("reasons") or []
    return str(reasons[-1]) if reasons else ""


def run_incidents_show(args: argparse.Namespace, out: TextIO) -> int:
    """Every outcome the ledger kept of one incident, in order, with its time."""
    from pullfix.cli.history import open_history, parse_outcomes
    from pullfix.cli.output import output_format, write_structured
    from pullfix.cli.tables import render_table

    if not _KEY.fullmatch(args.key):
        raise _Stop(EXIT_INPUT, f"{args.key!r:.80} is not an incident key (grant-…, ticket-…)")
    clients = _clients()
    try:
        ledger = open_history(args, clients)
        texts = _guarded(lambda: ledger.incident_history(args.key))
    finally:
        clients.close()
    if texts is None:
        raise _Stop(EXIT_NOT_FOUND, f"no incident {args.key} in the ledger's history")
    outcomes = parse_outcomes(texts)
    fmt = output_format(args)
    if fmt != "table":
        write_structured({**summarize_incident(args.key, outcomes), "history": outcomes}, fmt, out)
        return EXIT_OK
    rows = [
        [
            str((o.get("event") or {}).get("timestamp") or "-"),
            str(o.get("action") or "-"),
            str(o.get("cause") or "-"),
            _detail(o),
        ]
        for o in outcomes
    ]
    out.write(render_table(["time", "outcome", "cause", "detail"], rows) + "\n")
    return EXIT_OK
