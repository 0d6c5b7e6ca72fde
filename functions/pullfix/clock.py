"""Time as pullfix reads it and waits on it: one seam for the wall clock, the monotonic clock
and sleeping.

Retries (`pullfix.gcp.retries`), the adapter's caches and its IAM write's conflict backoff,
the troubleshooter's backoff (`pullfix.engine.evidence`) and notify's rate limit take a
`Clock`; in production it is `SYSTEM`, and a test drives them with a clock of its own whose
`sleep` only moves its time on (`tests/clocks.py`), so that a backoff of minutes is checked
without waiting for it. The engine itself takes each event's `now` from its caller.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["SYSTEM", "Clock", "SystemClock"]


class Clock(Protocol):
    def now(self) -> datetime:
        """The wall-clock time, in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for deadlines and cache ages)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait `seconds`."""
        ...


class SystemClock:
    """The machine's clocks."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM: Clock = SystemClock()
