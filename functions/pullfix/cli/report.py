"""`pullfix report`: what pullfix did and how fast fixes took, from its functions' own logs.

`remediate` logs every outcome (`jsonPayload.schema = pullfix.outcome/v1`: action, cause)
and `verify` every verdict (`jsonPayload.verification`: resolved, still_failing, abandoned,
with time_to_fix_seconds and fixed_by). The report reads both back from Cloud Logging for a
period and sums them up: the same figures as the Terraform dashboard, in a terminal.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from pullfix.core.intake import format_timestamp
from pullfix.core.outcome import OUTCOME_SCHEMA

__all__ = ["report_filter", "summarize"]

_ACTED = ("grant", "would_grant", "ticket")


def report_filter(prefix: str, now: datetime, since: int) -> str:
    """The query: the remediate and verify functions' outcome lines of the period."""
    return "\n".join(
        (
            'resource.type="cloud_run_revision"',
            f'resource.labels.service_name=("{prefix}-remediate" OR "{prefix}-verify")',
            f'(jsonPayload.schema="{OUTCOME_SCHEMA}" OR '
            f'jsonPayload.verification.schema="{OUTCOME_SCHEMA}")',
            f'timestamp>="{format_timestamp(now - timedelta(seconds=since))}"',
        )
    )


def summarize(entries: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Incidents by cause and action, escalations, and verification with time to fix."""
    causes: Counter[str] = Counter()
    actions: Counter[str] = Counter()
    verdicts: Counter[str] = Counter()
    fixed_by: Counter[str] = Counter()
    times: list[int] = []
    escalations = 0
    for entry in entries:
        payload = entry.get("jsonPayload")
        if not isinstance(payload, dict):
            continue
        verification = payload.get("verification")
        if isinstance(verification, dict):
            verdicts[str(verification.get("action"))] += 1
            if verification.get("action") == "resolved":
                fixed_by[str(verification.get("fixed_by"))] += 1
                seconds = verification.get("time_to_fix_seconds")
                if isinstance(seconds, int) and not isinstance(seconds, bool):
                    times.append(seconds)
            continue
        action = payload.get("action")
        if payload.get("escalation"):
            escalations += 1
        elif action in _ACTED:
            actions[str(action)] += 1
            causes[str(payload.get("cause"))] += 1
    times.sort()
    return {
        "incidents": sum(actions.values()),
        "by_cause": dict(sorted(causes.items(), key=lambda kv: (-kv[1], kv[0]))),
        "grants": actions["grant"],
        "dry_run_grants": actions["would_grant"],
        "tickets": actions["ticket"],
        "escalations": escalations,
        "resolved": verdicts["resolved"],
        "still_failing": verdicts["still_failing"],
        "abandoned": verdicts["abandoned"],
        "resolved_by": dict(sorted(fixed_by.items())),
        "time_to_fix_seconds": {
            "p50": _percentile(times, 50),
            "p90": _percentile(times, 90),
            "max": times[-1] if times else None,
        },
    }


def _percentile(values: list[int], q: int) -> int | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1])


def table_rows(summary: dict[str, Any]) -> list[list[str]]:
    def seconds(value: int | None) -> str:
        return "-" if value is None else f"{value}s"

    ttf = summary["time_to_fix_seconds"]
    return [
        ["incidents", str(summary["incidents"])],
        ["by cause", ", ".join(f"{c} {n}" for c, n in summary["by_cause"].items()) or "-"],
        ["grants", str(summary["grants"])],
        ["dry-run grants", str(summary["dry_run_grants"])],
        ["tickets", str(summary["tickets"])],
        ["escalations", str(summary["escalations"])],
        ["resolved", str(summary["resolved"])],
        ["resolved by", ", ".join(f"{b} {n}" for b, n in summary["resolved_by"].items()) or "-"],
        ["still failing", str(summary["still_failing"])],
        ["abandoned", str(summary["abandoned"])],
        [
            "time to fix",
            f"p50 {seconds(ttf['p50'])}, p90 {seconds(ttf['p90'])}, max {seconds(ttf['max'])}",
        ],
    ]
