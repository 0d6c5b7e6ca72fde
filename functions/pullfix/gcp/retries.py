"""One retry policy for Google calls: transient answers retried with backoff, within a budget."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from pullfix.gcp.errors import retryable

__all__ = ["Retry", "bounded_retry"]

P = ParamSpec("P")
T = TypeVar("T")


class Retry:
    """Retries a call while it fails with a retryable Google error (429, 5xx; see
    `pullfix.gcp.errors`), sleeping a random time up to a delay that doubles from `initial`
    to `maximum` ("full jitter"), and gives up once the next sleep would end past `timeout`
    seconds from the first attempt: the last error is raised then.

    The generated clients' own defaults retry for up to a minute, longer than a function may
    run; their calls get `retry=None` and this policy around them.
    """

    def __init__(
        self,
        timeout: float,
        *,
        initial: float = 0.05,
        maximum: float = 1.0,
        multiplier: float = 2.0,
    ) -> None:
        self.timeout = timeout
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier

    def with_timeout(self, timeout: float) -> Retry:
        return Retry(
            timeout, initial=self.initial, maximum=self.maximum, multiplier=self.multiplier
        )

    def __call__(self, call: Callable[P, T]) -> Callable[P, T]:
        def retried(*args: P.args, **kwargs: P.kwargs) -> T:
            deadline = time.monotonic() + self.timeout
            delay = self.initial
            while True:
                try:
                    return call(*args, **kwargs)
                except Exception as exc:
                    if not retryable(exc):
                        raise
                    sleep = random.uniform(0.0, delay)  # noqa: S311 - jitter, not a secret
                    if time.monotonic() + sleep >= deadline:
                        raise
                    time.sleep(sleep)
                    delay = min(delay * self.multiplier, self.maximum)

        return retried


def bounded_retry(timeout: float) -> Retry:
    """Retry 429 and 5xx answers from 50 ms doubling to 1 s, for at most `timeout` seconds in
    all."""
    return Retry(timeout)
