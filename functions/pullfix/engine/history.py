"""Each outcome is kept with its incident as it is published: `pullfix incidents` reads them.

The outcomes topic carries every outcome once it is made (remediate's) or found (verify's);
the ledger keeps each incident's outcomes in order beside it (`IncidentHistory`, bounded),
written just before the publish, so a publish that fails and is retried adds nothing twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from pullfix.engine.ledger import IncidentHistory

__all__ = ["HistoryPublisher"]


class _Publisher(Protocol):
    def publish(self, outcome: dict[str, Any]) -> None: ...


class HistoryPublisher:
    """Records each outcome in the incident's history, then publishes it (when a topic is
    configured: `inner`)."""

    def __init__(
        self,
        history: IncidentHistory,
        inner: _Publisher | None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.history = history
        self.inner = inner
        self.clock = clock

    def publish(self, outcome: dict[str, Any]) -> None:
        key = outcome.get("fingerprint")
        if isinstance(key, str) and key:
            text = json.dumps(outcome, sort_keys=True, separators=(",", ":"))
            self.history.record_outcome(key, text, self.clock())
        if self.inner is not None:
            self.inner.publish(outcome)
