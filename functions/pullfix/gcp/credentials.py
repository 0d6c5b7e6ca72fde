"""Application Default Credentials for the functions, without loading what they do not use.

On Google's serverless runtime (Cloud Run functions: `K_SERVICE` is set,
https://cloud.google.com/run/docs/container-contract#env-vars) with no key file named by
`GOOGLE_APPLICATION_CREDENTIALS`, Application Default Credentials are the function's service
account, whose access tokens the metadata server hands out: `GET http://metadata.google.internal
/computeMetadata/v1/instance/service-accounts/default/token` with the header `Metadata-Flavor:
Google`, `?scopes=` a comma-separated list of OAuth scopes, answering `{"access_token",
"expires_in", "token_type"}`
(https://cloud.google.com/run/docs/container-contract#metadata-server,
https://cloud.google.com/anthos/run/archive/docs/securing/service-identity#access_tokens,
https://cloud.google.com/compute/docs/access/authenticate-workloads#applications).
`GCE_METADATA_HOST` names another host[:port], as Google's client libraries read it.

`MetadataCredentials` asks for that token over pullfix's own transport (the request
google-auth hands `refresh`). google-auth's own Compute Engine credentials would do the same
but import requests and cryptography on the way (about 150 ms of the function's first event,
`make bench`). Anywhere else — a key file, gcloud's user credentials, workload identity
federation, a machine that is not Google's runtime — `google.auth.default()` decides, as
before.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from google.auth import credentials as auth_credentials
from google.auth import exceptions as auth_exceptions

__all__ = ["MetadataCredentials", "default_credentials"]

METADATA_HOST = "metadata.google.internal"
ACCOUNT_PATH = "/computeMetadata/v1/instance/service-accounts/default"


class MetadataCredentials(auth_credentials.Credentials):
    """The runtime's service account, its access tokens from the metadata server."""

    def __init__(self, scopes: Sequence[str] = (), host: str = METADATA_HOST) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.scopes = tuple(scopes)
        self.host = host

    @property
    def token_url(self) -> str:
        query = f"?scopes={quote(','.join(self.scopes), safe=',')}" if self.scopes else ""
        return f"http://{self.host}{ACCOUNT_PATH}/token{query}"

    def refresh(self, request: Any) -> None:
        """A new access token from the metadata server. Its failures are google-auth's: a
        transport error or a 5xx is retryable (the event is delivered again), another answer
        is not."""
        response = request(url=self.token_url, method="GET", headers={"Metadata-Flavor": "Google"})
        if response.status != 200:
            raise auth_exceptions.RefreshError(  # type: ignore[no-untyped-call]
                f"the metadata server answered HTTP {response.status} to the token request",
                retryable=response.status >= 500 or response.status == 429,
            )
        try:
            answer = json.loads(response.data)
            token, lifetime = str(answer["access_token"]), int(answer["expires_in"])
        except (ValueError, KeyError, TypeError) as exc:
            raise auth_exceptions.RefreshError(  # type: ignore[no-untyped-call]
                f"the metadata server's token answer was not understood ({type(exc).__name__})"
            ) from None
        self.token = token
        # google-auth keeps `expiry` as a naive UTC time and refreshes a little before it.
        self.expiry = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=lifetime)


def default_credentials(scopes: Sequence[str], environ: Mapping[str, str] | None = None) -> Any:
    """Application Default Credentials for `scopes` (see the module)."""
    env = os.environ if environ is None else environ
    if env.get("K_SERVICE") and not env.get("GOOGLE_APPLICATION_CREDENTIALS"):
        return MetadataCredentials(scopes, env.get("GCE_METADATA_HOST") or METADATA_HOST)
    import google.auth

    credentials, _ = google.auth.default(scopes=list(scopes))
    return credentials
