"""A clock a test drives (`pullfix.clock.Clock`): its time moves only when the test, or the
code under test sleeping on it, moves it on; nothing waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class ManualClock:
    """Wall and monotonic time that `advance` (or `sleep`) moves together; `slept` lists
    every sleep asked of it, in order."""

    def __init__(self, start: datetime | None = None, monotonic: float = 1000.0) -> None:
        self.wall = start or datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
        self.mono = monotonic
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds

    def at(self, seconds: float) -> ManualClock:
        """Set the wall clock to `seconds` since the epoch (the monotonic clock follows)."""
        target = datetime.fromtimestamp(seconds, UTC)
        self.mono += (target - self.wall).total_seconds()
        self.wall = target
        return self
