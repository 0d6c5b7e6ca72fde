"""Backoffs, caches and rate limits on `pullfix.clock`: checked on a clock the test moves,
so that minutes of waiting take none."""

from __future__ import annotations

import pytest

from pullfix.clock import SYSTEM
from pullfix.gcp.adapter import _TtlCache
from pullfix.notify.delivery import DeliveryFailed, _RateLimit
from tests.clocks import ManualClock


def test_the_system_clock_tells_utc_and_moves_on() -> None:
    first, mono = SYSTEM.now(), SYSTEM.monotonic()
    SYSTEM.sleep(0.001)
    assert first.utcoffset() is not None and first.utcoffset().total_seconds() == 0
    assert SYSTEM.now() >= first and SYSTEM.monotonic() > mono


def test_a_cached_read_is_read_again_once_its_time_is_out() -> None:
    clock = ManualClock()
    cache = _TtlCache(60.0, clock=clock)
    reads: list[int] = []

    def load() -> int:
        reads.append(1)
        return len(reads)

    assert cache.get("k", load) == 1
    clock.advance(59.9)
    assert cache.get("k", load) == 1  # still fresh
    clock.advance(0.2)
    assert cache.get("k", load) == 2  # 60 s on: read again
    assert len(reads) == 2


def test_githubs_search_limit_lets_a_burst_through_then_paces_and_then_refuses() -> None:
    clock = ManualClock()
    limit = _RateLimit(30, burst=3, max_wait=5.0, clock=clock)  # a token every 2 s
    for _ in range(3):
        limit.acquire()
    assert clock.slept == []  # the burst did not wait
    limit.acquire()
    assert clock.slept == [pytest.approx(2.0)]  # the next token, 2 s on
    limit.acquire()
    limit.acquire()
    limit.acquire()
    assert sum(clock.slept) == pytest.approx(8.0)  # paced at 30 a minute
    # A caller that asks faster than it can be served is told to come back, not held up.
    limited = _RateLimit(6, burst=1, max_wait=5.0, clock=ManualClock())  # one per 10 s
    limited.acquire()
    with pytest.raises(DeliveryFailed, match="rate limit"):
        limited.acquire()
