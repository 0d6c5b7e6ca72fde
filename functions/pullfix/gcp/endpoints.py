"""Where the Google APIs are: production endpoints, or the sandbox named by one variable.

`PULLFIX_GCP_ENDPOINT=http://127.0.0.1:PORT` points every adapter at a sandbox: REST clients
at that URL, the gRPC client (IAM admin) at 127.0.0.1:PORT+1 over an insecure channel, all
with anonymous credentials.
"""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass

from pullfix.errors import PullfixError

__all__ = ["ENDPOINT_VARIABLE", "EndpointError", "SandboxEndpoint", "sandbox_endpoint"]

ENDPOINT_VARIABLE = "PULLFIX_GCP_ENDPOINT"


class EndpointError(PullfixError, ValueError):
    """PULLFIX_GCP_ENDPOINT is set to something that is not a sandbox URL."""


@dataclass(frozen=True, slots=True)
class SandboxEndpoint:
    """The two addresses of one sandbox."""

    rest: str  # http://host:port
    grpc: str  # host:port+1


def sandbox_endpoint(value: str | None = None) -> SandboxEndpoint | None:
    """The sandbox to use, from PULLFIX_GCP_ENDPOINT (or `value`); None in production."""
    text = os.environ.get(ENDPOINT_VARIABLE) if value is None else value
    if not text:
        return None
    try:
        parsed = urllib.parse.urlsplit(text)
        port = parsed.port  # ValueError for a port out of range or not a number
    except ValueError:
        port = None
    if port is None or parsed.scheme != "http" or not parsed.hostname:
        raise EndpointError(
            f"{ENDPOINT_VARIABLE} must look like http://127.0.0.1:PORT, got {text!r}"
        )
    if parsed.path not in ("", "/") or parsed.query:
        raise EndpointError(f"{ENDPOINT_VARIABLE} must have no path or query, got {text!r}")
    host = f"[{parsed.hostname}]" if ":" in parsed.hostname else parsed.hostname
    return SandboxEndpoint(rest=f"http://{host}:{port}", grpc=f"{host}:{port + 1}")
