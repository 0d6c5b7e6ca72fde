"""Google API errors as the sandbox answers them (REST envelope and gRPC status)."""

from __future__ import annotations

from typing import Any

from pullfix.errors import PullfixError

__all__ = ["HTTP_STATUS_NAMES", "ApiError"]

# google.rpc.Code names (also grpc.StatusCode member names) by the HTTP status Google maps
# them to.
HTTP_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class ApiError(PullfixError):
    """An error the sandbox answers with, as Google's APIs would."""

    def __init__(self, code: int, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        # The google.rpc.Code name; the gRPC servers answer with the status of that name.
        self.status = status or HTTP_STATUS_NAMES.get(code, "UNKNOWN")

    def envelope(self) -> dict[str, Any]:
        """Google's JSON error envelope."""
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}
