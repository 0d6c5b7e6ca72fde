"""Where the Google APIs are: production endpoints, the sandbox named by one variable, or
Google's emulators named by the variables Google's own clients read.

`PULLFIX_GCP_ENDPOINT=http://127.0.0.1:PORT` points every adapter at a sandbox: REST clients
at that URL, the gRPC client (IAM admin) at 127.0.0.1:PORT+1 over an insecure channel, all
with anonymous credentials.

`FIRESTORE_EMULATOR_HOST=HOST:PORT` and `PUBSUB_EMULATOR_HOST=HOST:PORT` take Firestore and
Pub/Sub (and only them) to Google's emulators, as google-cloud-firestore and
google-cloud-pubsub read them: a bare `host:port` (no scheme), plain HTTP, anonymous
credentials; Firestore's requests carry `Authorization: Bearer owner`, the token
google-cloud-firestore sends its emulator (an administrator's, which security rules do not
restrict). They win over PULLFIX_GCP_ENDPOINT for their API, which keeps serving the rest.
An empty value counts as unset.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from pullfix.errors import PullfixError

__all__ = [
    "EMULATOR_VARIABLES",
    "ENDPOINT_VARIABLE",
    "EndpointError",
    "SandboxEndpoint",
    "emulator_hosts",
    "sandbox_endpoint",
]

ENDPOINT_VARIABLE = "PULLFIX_GCP_ENDPOINT"
# The API each emulator variable takes to an emulator, as Google's clients name them.
EMULATOR_VARIABLES = {
    "firestore": "FIRESTORE_EMULATOR_HOST",
    "pubsub": "PUBSUB_EMULATOR_HOST",
}


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


def emulator_hosts(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """API (`firestore`, `pubsub`) -> `http://host:port` of its emulator, for each
    EMULATOR_VARIABLES variable set (in `environ`, else the process environment)."""
    env = os.environ if environ is None else environ
    found: dict[str, str] = {}
    for api, variable in EMULATOR_VARIABLES.items():
        text = env.get(variable)
        if text:
            found[api] = _emulator_base(variable, text)
    return found


def _emulator_base(variable: str, text: str) -> str:
    """`http://host:port` from HOST:PORT, as the clients' insecure gRPC channel takes it."""
    if "/" in text or "@" in text or any(c.isspace() for c in text):
        raise EndpointError(f"{variable} must be HOST:PORT (no scheme or path), got {text!r}")
    try:
        parsed = urllib.parse.urlsplit(f"http://{text}")
        port = parsed.port
    except ValueError:
        port = None
    if not port or not parsed.hostname:
        raise EndpointError(f"{variable} must be HOST:PORT, such as 127.0.0.1:8080, got {text!r}")
    host = f"[{parsed.hostname}]" if ":" in parsed.hostname else parsed.hostname
    return f"http://{host}:{port}"
