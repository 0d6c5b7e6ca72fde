"""One retry policy for Google calls: transient answers retried with backoff, within a budget."""

from __future__ import annotations

from google.api_core import exceptions, retry

__all__ = ["bounded_retry"]


def bounded_retry(timeout: float) -> retry.Retry:
    """Retry 429, 500, 503, 504 and deadline errors from 50 ms doubling to 1 s, for at most
    `timeout` seconds in all: the client libraries' defaults go on for up to a minute, longer
    than a function may run."""
    return retry.Retry(
        predicate=retry.if_exception_type(
            exceptions.TooManyRequests,
            exceptions.ServiceUnavailable,
            exceptions.InternalServerError,
            exceptions.GatewayTimeout,
            exceptions.DeadlineExceeded,
        ),
        initial=0.05,
        maximum=1.0,
        multiplier=2.0,
        timeout=timeout,
    )
