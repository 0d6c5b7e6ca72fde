"""Google API errors, as pullfix tells them apart, without the client libraries' exceptions.

Every Google API answers an error with the same model (https://cloud.google.com/apis/design/
errors): over REST a JSON envelope `{"error": {"code": 404, "message": "...", "status":
"NOT_FOUND"}}`, over gRPC a status code. The `status` is a google.rpc.Code name, and it
decides where the HTTP code alone cannot: Firestore answers a failed `updateTime`
precondition with 400 FAILED_PRECONDITION and a malformed request with 400
INVALID_ARGUMENT; both ALREADY_EXISTS and ABORTED are 409 (the HTTP mapping is in
googleapis' google/rpc/code.proto).

pullfix's JSON calls raise these classes directly. The generated clients pullfix still uses
off the hot path raise google.api_core's exceptions, which `api_error` reads into the same
classes; so that the function's cold start never imports google.api_core (and grpc, which
it loads), that module is looked up in `sys.modules` only: an exception of it exists only
once it was imported.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from pullfix.core.model import GoogleApiError

__all__ = [
    "ApiCallError",
    "Conflict",
    "Denied",
    "FailedPrecondition",
    "NotFound",
    "Retryable",
    "api_error",
    "error_from_response",
    "make_error",
    "retryable",
]


class ApiCallError(GoogleApiError):
    """A Google API answered with an error."""

    def __str__(self) -> str:
        return f"{self.code} {self.message}"


class NotFound(ApiCallError):
    """404 NOT_FOUND."""


class Conflict(ApiCallError):
    """409: ALREADY_EXISTS (a create precondition) or ABORTED (a concurrent change)."""


class FailedPrecondition(ApiCallError):
    """FAILED_PRECONDITION (HTTP 400), or HTTP 412."""


class Denied(ApiCallError):
    """401 UNAUTHENTICATED or 403 PERMISSION_DENIED: pullfix's own identity may not."""


class Retryable(ApiCallError):
    """429 RESOURCE_EXHAUSTED, 5xx (INTERNAL, UNAVAILABLE, DEADLINE_EXCEEDED, UNKNOWN, ...):
    the same call may succeed later."""

    @property
    def retryable(self) -> bool:
        return True


_BY_STATUS: dict[str, type[ApiCallError]] = {
    "NOT_FOUND": NotFound,
    "ALREADY_EXISTS": Conflict,
    "ABORTED": Conflict,
    "FAILED_PRECONDITION": FailedPrecondition,
    "PERMISSION_DENIED": Denied,
    "UNAUTHENTICATED": Denied,
    "RESOURCE_EXHAUSTED": Retryable,
    "INTERNAL": Retryable,
    "UNAVAILABLE": Retryable,
    "DEADLINE_EXCEEDED": Retryable,
    "UNKNOWN": Retryable,
    "DATA_LOSS": Retryable,
}
_BY_CODE: dict[int, type[ApiCallError]] = {
    408: Retryable,
    401: Denied,
    403: Denied,
    404: NotFound,
    409: Conflict,
    412: FailedPrecondition,
    429: Retryable,
}


def make_error(code: int, status: str, message: str) -> ApiCallError:
    """The error of that HTTP code and google.rpc.Code name (the name decides first)."""
    kind = _BY_STATUS.get(status) or _BY_CODE.get(code)
    if kind is None:
        kind = Retryable if code >= 500 else ApiCallError
    return kind(code, status, message)


def error_from_response(code: int, content: bytes) -> ApiCallError:
    """The error a REST answer of HTTP `code` carries in its body: Google's JSON envelope,
    or whatever a proxy or load balancer answered instead. Without the envelope the answer
    is not the API's: a 404 page says no such URL, not no such document, so only 429 and
    5xx keep their meaning (retryable); anything else is a plain ApiCallError, which no
    caller takes for an answer about the resource."""
    status, message = "", ""
    try:
        envelope: Any = json.loads(content)
    except ValueError:
        envelope = None
    error = envelope.get("error") if isinstance(envelope, dict) else None
    if isinstance(error, dict):
        status = error["status"] if isinstance(error.get("status"), str) else ""
        message = error["message"] if isinstance(error.get("message"), str) else ""
        message += _constraints(error.get("details"))
        return make_error(code, status, message or f"HTTP {code}")
    message = content[:300].decode("utf-8", "replace").strip() or f"HTTP {code}"
    if code in (408, 429) or code >= 500:
        return Retryable(code, "", message)
    error = ApiCallError(code, "", f"HTTP {code} without Google's error envelope: {message}")
    error.from_google = False
    return error


def api_error(exc: BaseException) -> ApiCallError | None:
    """`exc` as an ApiCallError: itself, or a generated client's google.api_core error read
    into one; None for anything else (a transport failure, a bug)."""
    if isinstance(exc, ApiCallError):
        return exc
    core = sys.modules.get("google.api_core.exceptions")
    if core is None:
        return None
    if isinstance(exc, core.RetryError):
        return Retryable(504, "DEADLINE_EXCEEDED", str(exc))
    if not isinstance(exc, core.GoogleAPICallError):
        return None
    grpc_code = exc.grpc_status_code
    message = exc.message + _constraints(getattr(exc, "details", None))
    return make_error(int(exc.code or 500), grpc_code.name if grpc_code else "", message)


def _constraints(details: Any) -> str:
    """The organization policy constraints a google.rpc.PreconditionFailure detail names
    (`violations[].type`, e.g. constraints/iam.allowedPolicyMemberDomains), as a suffix for
    the error's message; "" when there are none. Details come as JSON (REST) or as the
    decoded messages api_core gives."""
    found: list[str] = []
    for detail in details if isinstance(details, list) else ():
        violations = (
            detail.get("violations")
            if isinstance(detail, dict)
            else getattr(detail, "violations", None)
        )
        for violation in violations or ():
            kind = (
                violation.get("type")
                if isinstance(violation, dict)
                else getattr(violation, "type", None)
            )
            if isinstance(kind, str) and kind.startswith("constraints/") and kind not in found:
                found.append(kind)
    return f" [{', '.join(found)}]" if found else ""


# What a call is made again for, in the process: the answers that say the request was
# refused before it did anything, or most likely so (the client libraries' default retry
# codes: RESOURCE_EXHAUSTED, UNAVAILABLE, INTERNAL, DEADLINE_EXCEEDED). A commit with a
# precondition that did land and is made again fails its own precondition; the other 5xx
# answers (502, UNKNOWN, DATA_LOSS) go to Pub/Sub's redelivery instead, through guard.
_RETRIED_STATUSES = frozenset(
    {"RESOURCE_EXHAUSTED", "INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED"}
)
_RETRIED_CODES = frozenset({429, 500, 503, 504})


def retryable(exc: BaseException) -> bool:
    """Whether the call is made again in the process (see `_RETRIED_STATUSES`)."""
    error = api_error(exc)
    if not isinstance(error, Retryable):
        return False
    return error.status in _RETRIED_STATUSES if error.status else error.code in _RETRIED_CODES
