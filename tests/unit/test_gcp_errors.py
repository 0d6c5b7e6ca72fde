"""Google's error answers read into pullfix's kinds, and the bounded retry around calls."""

from __future__ import annotations

import json
import time

import pytest
from google.api_core import exceptions as core

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
)
from pullfix.gcp.retries import Retry


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
    ("code", "body", "kind", "message"),
    [
        (502, b"<html>Bad Gateway</html>", Retryable, "<html>Bad Gateway</html>"),
        (404, b"", NotFound, "HTTP 404"),
        (403, b'{"error": "denied"}', Denied, '{"error": "denied"}'),
        (412, b"{}", FailedPrecondition, "{}"),
        (418, b"[1]", ApiCallError, "[1]"),
    ],
)
def test_answers_without_an_envelope_are_read_by_their_http_code(
    code: int, body: bytes, kind: type[ApiCallError], message: str
) -> None:
    # A proxy's or load balancer's answer, not Google's JSON.
    error = error_from_response(code, body)
    assert type(error) is kind
    assert error.message == message


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
    start = time.monotonic()
    with pytest.raises(Retryable):
        Retry(0.3, initial=0.01, maximum=0.05)(unavailable)()
    assert time.monotonic() - start < 0.3 + 0.1
    assert len(calls) >= 3
