"""One retry policy for Google calls: transient answers retried with backoff, within a budget."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from pullfix.clock import SYSTEM, Clock
from pullfix.gcp.errors import retryable

__all__ = ["Retry", "bounded_retry"]

P = ParamSpec("P")
T = TypeVar("T")


class Retry:
    """Retries a call while it fails with a retryable Google error (429, 500, 503, 504; see
    `pullfix.gcp.errors.retryable`), sleeping a random time up to a delay that doubles from
    `initial` to `maximum` ("full jitter"), and gives up once the next sleep would end past
    `timeout` seconds from the first attempt: the last error is raised then. A call's own
    `timeout` argument bounds the whole call, retries included: each attempt gets the time
    left of it (or of the budget, if that is longer).

    The generated clients' own defaults retry for up to a minute, longer than a function may
    run; their calls get `retry=None` and this policy around them. `clock` is the time it
    reads and sleeps on (`pullfix.clock`).
    """

    def __init__(
        self,
        timeout: float,
        *,
        initial: float = 0.05,
        maximum: float = 1.0,
        multiplier: float = 2.0,
        clock: Clock = SYSTEM,
    ) -> None:
        self.timeout = timeout
        self.clock = clock
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier

    def __call__(self, call: Callable[P, T]) -> Callable[P, T]:
        clock = self.clock

        def retried(*args: P.args, **kwargs: P.kwargs) -> T:
            start = clock.monotonic()
            deadline = start + self.timeout  # no attempt starts after it
            delay = self.initial
            asked = kwargs.get("timeout")
            if isinstance(asked, int | float):
                # The call, its retries included, ends within its own timeout (or the
                # budget, if longer): each attempt waits only for the time left of it.
                bound = start + max(asked, self.timeout)
            while True:
                if isinstance(asked, int | float):
                    kwargs["timeout"] = max(0.001, min(asked, bound - clock.monotonic()))
                try:
                    return call(*args, **kwargs)
                except Exception as exc:
                    if not retryable(exc):
                        raise
                    sleep = random.uniform(0.0, delay)  # noqa: S311 - jitter, not a secret
                    if clock.monotonic() + sleep >= deadline:
                        raise
                    clock.sleep(sleep)
                    delay = min(delay * self.multiplier, self.maximum)

        return retried


def bounded_retry(timeout: float, clock: Clock = SYSTEM) -> Retry:
    """Retry 429, 500, 503 and 504 answers from 50 ms doubling to 1 s, for at most `timeout`
    seconds in all."""
    return Retry(timeout, clock=clock)
