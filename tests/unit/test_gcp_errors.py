"""Google's error answers read into pullfix's kinds, and the bounded retry around calls."""

from __future__ import annotations

import itertools
import json

import pytest
from google.api_core import exceptions as core
from google.auth import exceptions as auth

from pullfix.core.model import AccessDenied, TransientError
from pullfix.gcp.adapter import guard
from pullfix.gcp.errors import (
    ApiCallError,
    Conflict,
    Denied,
    FailedPrecondition,
    NotFound,
    Retryable,
    api_error,
    error_from_response,
    retryable,
)
from pullfix.gcp.retries import Retry
from tests.clocks import ManualClock


def envelope(code: int, status: str, message: str = "m") -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "status": status}}).encode()


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        (404, "NOT_FOUND", NotFound),
        (409, "ALREADY_EXISTS", Conflict),
        (409, "ABORTED", Conflict),
        # Firestore's failed updateTime precondition, and a malformed request: both 400.
        (400, "FAILED_PRECONDITION", FailedPrecondition),
        (400, "INVALID_ARGUMENT", ApiCallError),
        (403, "PERMISSION_DENIED", Denied),
        (401, "UNAUTHENTICATED", Denied),
        (429, "RESOURCE_EXHAUSTED", Retryable),
        (500, "INTERNAL", Retryable),
        (503, "UNAVAILABLE", Retryable),
        (504, "DEADLINE_EXCEEDED", Retryable),
    ],
)
def test_the_envelope_status_decides_the_kind(
    code: int, status: str, kind: type[ApiCallError]
) -> None:
    error = error_from_response(code, envelope(code, status, "the reason"))
    assert type(error) is kind
    assert (error.code, error.status, error.message) == (code, status, "the reason")
    assert str(error) == f"{code} the reason"


@pytest.mark.parametrize(
    ("code", "body", "kind"),
    [
        (502, b"<html>Bad Gateway</html>", Retryable),
        (503, b"", Retryable),
        (429, b"slow down", Retryable),
        # A proxy's or load balancer's 404 page says no such URL, not no such document;
        # nor is its 403 pullfix's IAM, nor its 412 a Firestore precondition.
        (404, b"<html>Not Found</html>", ApiCallError),
        (403, b'{"error": "denied"}', ApiCallError),
        (412, b"{}", ApiCallError),
    ],
)
def test_answers_without_googles_envelope_are_no_answer_about_the_resource(
    code: int, body: bytes, kind: type[ApiCallError]
) -> None:
    error = error_from_response(code, body)
    assert type(error) is kind
    assert error.status == ""
    if kind is ApiCallError:
        assert error.message.startswith(f"HTTP {code} without Google's error envelope")


@pytest.mark.parametrize(
    ("code", "status", "again"),
    [
        (429, "RESOURCE_EXHAUSTED", True),
        (500, "INTERNAL", True),
        (503, "UNAVAILABLE", True),
        (504, "DEADLINE_EXCEEDED", True),
        # Transient, yet not made again in the process: a commit that did land would fail
        # its own precondition; Pub/Sub's redelivery takes these.
        (500, "UNKNOWN", False),
        (500, "DATA_LOSS", False),
        (502, "", False),
        (404, "NOT_FOUND", False),
    ],
)
def test_which_answers_are_retried_in_the_process(code: int, status: str, again: bool) -> None:
    assert retryable(error_from_response(code, envelope(code, status))) is again


def test_generated_client_errors_read_as_the_same_kinds() -> None:
    assert type(api_error(core.NotFound("gone"))) is NotFound
    assert type(api_error(core.Aborted("concurrent"))) is Conflict
    assert type(api_error(core.FailedPrecondition("stale"))) is FailedPrecondition
    assert type(api_error(core.PermissionDenied("no"))) is Denied
    assert type(api_error(core.ServiceUnavailable("later"))) is Retryable
    assert type(api_error(core.RetryError("gave up", cause=None))) is Retryable
    assert api_error(ValueError("a bug")) is None


def test_guard_turns_answers_into_pullfix_kinds() -> None:
    def fail(exc: BaseException) -> None:
        raise exc

    with pytest.raises(AccessDenied, match=r"reading x: no \(needs a.get\)"):
        guard(
            "reading x",
            lambda: fail(error_from_response(403, envelope(403, "PERMISSION_DENIED", "no"))),
            ("a.get",),
        )
    with pytest.raises(TransientError, match="reading x: 503 later"):
        guard("reading x", lambda: fail(core.ServiceUnavailable("later")))
    with pytest.raises(TransientError, match="reading x: refused"):
        guard("reading x", lambda: fail(ConnectionRefusedError("refused")))
    # A generated client's NotFound comes out as pullfix's, its cause kept.
    with pytest.raises(NotFound) as info:
        guard("reading x", lambda: fail(core.NotFound("gone")))
    assert isinstance(info.value.__cause__, core.NotFound)
    with pytest.raises(ValueError, match="a bug"):
        guard("reading x", lambda: fail(ValueError("a bug")))
    # google-auth could not reach its token endpoint, or was told to try again.
    with pytest.raises(TransientError, match="metadata server"):
        guard("reading x", lambda: fail(auth.TransportError("metadata server unreachable")))
    with pytest.raises(TransientError):
        guard("reading x", lambda: fail(auth.RefreshError("503 from token", retryable=True)))
    with pytest.raises(auth.RefreshError):
        guard("reading x", lambda: fail(auth.RefreshError("invalid_grant")))


def test_retry_retries_transient_answers_until_one_succeeds() -> None:
    answers: list[BaseException | str] = [
        error_from_response(503, envelope(503, "UNAVAILABLE")),
        error_from_response(429, envelope(429, "RESOURCE_EXHAUSTED")),
        "done",
    ]

    def call(x: int) -> str:
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return f"{answer} {x}"

    assert Retry(5.0)(call)(7) == "done 7"
    assert answers == []


def test_retry_gives_up_on_other_answers_at_once_and_on_transient_ones_within_the_budget() -> None:
    calls = []

    def not_found() -> None:
        calls.append(1)
        raise error_from_response(404, envelope(404, "NOT_FOUND"))

    with pytest.raises(NotFound):
        Retry(5.0)(not_found)()
    assert len(calls) == 1

    def unavailable() -> None:
        calls.append(1)
        raise error_from_response(503, envelope(503, "UNAVAILABLE"))

    calls.clear()
    clock = ManualClock()
    start = clock.monotonic()
    with pytest.raises(Retryable):
        Retry(0.3, initial=0.01, maximum=0.05, clock=clock)(unavailable)()
    # No sleep would have ended past the budget; the delays doubled up to their maximum.
    assert clock.monotonic() - start < 0.3
    assert len(calls) >= 3 and len(clock.slept) == len(calls) - 1
    assert all(0 <= slept <= 0.05 for slept in clock.slept)


def test_retry_sleeps_with_full_jitter_under_a_doubling_ceiling() -> None:
    clock = ManualClock()

    def unavailable() -> None:
        raise error_from_response(503, envelope(503, "UNAVAILABLE"))

    with pytest.raises(Retryable):
        Retry(60.0, initial=0.05, maximum=1.0, clock=clock)(unavailable)()
    ceilings = [min(0.05 * 2**n, 1.0) for n in range(len(clock.slept))]
    assert all(slept <= ceiling for slept, ceiling in zip(clock.slept, ceilings, strict=True))
    assert len(clock.slept) > 60  # a minute of retries at most a second apart
    assert clock.monotonic() - 1000.0 < 60.0


def test_a_calls_timeout_bounds_it_retries_included() -> None:
    # Each attempt is given only what is left of the call's own timeout.
    given: list[float] = []

    clock = ManualClock()

    def slow(timeout: float) -> None:
        given.append(timeout)
        clock.advance(min(timeout, 0.15))  # each attempt takes its time
        raise error_from_response(503, envelope(503, "UNAVAILABLE"))

    start = clock.monotonic()
    with pytest.raises(Retryable):
        Retry(0.5, initial=0.01, maximum=0.02, clock=clock)(slow)(timeout=0.5)
    assert clock.monotonic() - start <= 0.5 + 0.15
    assert given[0] == pytest.approx(0.5, abs=0.01)
    assert all(later < earlier for earlier, later in itertools.pairwise(given))
