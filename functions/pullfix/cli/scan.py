"""`pullfix scan`: recent pull failures from Cloud Logging, each incident diagnosed once.

The query is the log sink's own filter plus a time bound; each event then runs through
`remediate`'s code (the same checks, `pullfix.checks.run_checks`, in the same order), as of
its own timestamp. Dry run unless `--apply`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pullfix.core.causes import Action
from pullfix.core.intake import PullFailure, format_timestamp, parse_event
from pullfix.core.logfilter import sink_filter
from pullfix.engine.remediate import Remediator
from pullfix.gcp.adapter import list_log_entries

__all__ = ["OPERATOR_PERMISSIONS", "ScanSummary", "list_entries", "scan_entries", "scan_filter"]

PAGE_SIZE = 1000
# What the operator running `pullfix scan` needs beyond what remediate does.
OPERATOR_PERMISSIONS = {"scan": ("logging.logEntries.list",)}


def scan_filter(now: datetime, freshness: int) -> str:
    """The sink filter, limited to entries newer than `freshness` seconds."""
    since = format_timestamp(now - timedelta(seconds=freshness))
    return f'{sink_filter()}\ntimestamp>="{since}"'


@dataclass
class ScanSummary:
    entries: int = 0
    pull_failures: int = 0
    ignored: int = 0
    incidents: list[dict[str, Any]] = field(default_factory=list)
    # The event behind each incident the scan would grant for, with its plan (resource,
    # role, member): `--apply` acts on those an operator confirmed.
    planned: list[tuple[PullFailure, tuple[str, str, str]]] = field(default_factory=list)
    suppressed: int = 0
    seconds: float = 0.0


def list_entries(
    logging_client: Any, resource_names: list[str], filter_text: str
) -> Iterator[dict[str, Any]]:
    """Every matching LogEntry, as the camelCase JSON a log sink would publish."""
    return list_log_entries(logging_client, resource_names, filter_text, PAGE_SIZE)


def scan_entries(
    remediator: Remediator,
    entries: Iterable[dict[str, Any]],
    progress: Callable[[ScanSummary], None] | None = None,
) -> ScanSummary:
    """Diagnose (and, if the config allows, remediate) each incident among the entries."""
    summary = ScanSummary()
    started = time.perf_counter()
    remediator.after_the_fact = True  # the events are old: their grace periods are over
    for entry in entries:
        summary.entries += 1
        result = parse_event(entry)
        if not isinstance(result, PullFailure):
            summary.ignored += 1
        else:
            summary.pull_failures += 1
            # As of now: the grants it makes are made now (the hourly cap counts them so),
            # and grace periods that began with these old events are over.
            outcome = remediator.handle(result, datetime.now(UTC))
            if outcome.action is Action.SUPPRESSED:
                summary.suppressed += 1
            else:
                summary.incidents.append(outcome.to_dict())
                if outcome.action is Action.WOULD_GRANT and outcome.grant is not None:
                    grant = outcome.grant
                    summary.planned.append((result, (grant.resource, grant.role, grant.member)))
        if progress is not None and summary.entries % 500 == 0:
            progress(summary)
    summary.seconds = time.perf_counter() - started
    if progress is not None:
        progress(summary)
    return summary
