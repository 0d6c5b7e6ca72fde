"""The functions' credentials on Google's runtime: the metadata server's access tokens over
pullfix's own transport (`pullfix.gcp.credentials`), against a metadata server on loopback
that answers as Google documents it (cloud.google.com/run/docs/container-contract#metadata-
server: the `Metadata-Flavor: Google` header required, `?scopes=`, a token with its
lifetime)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from google.auth import exceptions as auth_exceptions

from pullfix.core.model import TransientError
from pullfix.gcp.adapter import guard
from pullfix.gcp.credentials import MetadataCredentials, default_credentials
from pullfix.gcp.transport import AuthorizedTransport, HttpTransport
from tests.keys import service_account_file

CHAT = "https://www.googleapis.com/auth/chat.bot"
CLOUD = "https://www.googleapis.com/auth/cloud-platform"


class _Metadata(BaseHTTPRequestHandler):
    """The metadata server's token endpoint, and an API that wants the token."""

    protocol_version = "HTTP/1.1"
    asked: list[dict[str, Any]]
    status = 200
    lifetime = 3599
    issued = 0

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/computeMetadata/v1/instance/service-accounts/default/token":
            self.asked.append(
                {"flavor": self.headers.get("Metadata-Flavor"), **parse_qs(url.query)}
            )
            if self.headers.get("Metadata-Flavor") != "Google":
                return self._send(403, b"Missing Metadata-Flavor:Google header.")
            type(self).issued += 1
            token = {"access_token": f"ya29.t{self.issued}", "expires_in": self.lifetime}
            return self._send(self.status, json.dumps({**token, "token_type": "Bearer"}).encode())
        # The API: 200 with the bearer token it got, 401 for token 1 when told to refuse it.
        bearer = self.headers.get("Authorization", "")
        refused = url.path == "/refuse-first" and bearer == "Bearer ya29.t1"
        return self._send(401 if refused else 200, json.dumps({"bearer": bearer}).encode())

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@contextmanager
def metadata_server(status: int = 200, lifetime: int = 3599) -> Iterator[tuple[str, list[Any]]]:
    asked: list[dict[str, Any]] = []
    handler = type(
        "Handler", (_Metadata,), {"asked": asked, "status": status, "lifetime": lifetime}
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_on_googles_runtime_the_token_comes_from_the_metadata_server_once_an_hour() -> None:
    with metadata_server() as (host, asked):
        credentials = default_credentials(
            [CLOUD, CHAT], {"K_SERVICE": "pullfix-remediate", "GCE_METADATA_HOST": host}
        )
        assert isinstance(credentials, MetadataCredentials)
        http = HttpTransport({})
        api = AuthorizedTransport(http, credentials)
        try:
            first = api.request("GET", f"http://{host}/v1/a", timeout=5).json()
            second = api.request("GET", f"http://{host}/v1/b", timeout=5).json()
        finally:
            http.close()
    assert first == second == {"bearer": "Bearer ya29.t1"}  # one token for both calls
    assert asked == [{"flavor": "Google", "scopes": [f"{CLOUD},{CHAT}"]}]


def test_a_token_the_api_refuses_is_replaced_and_the_call_made_once_more() -> None:
    with metadata_server() as (host, asked):
        credentials = MetadataCredentials([CLOUD], host)
        http = HttpTransport({})
        try:
            answer = AuthorizedTransport(http, credentials).request(
                "GET", f"http://{host}/refuse-first", timeout=5
            )
        finally:
            http.close()
    assert (answer.status, answer.json()) == (200, {"bearer": "Bearer ya29.t2"})
    assert len(asked) == 2


def test_a_token_near_its_end_is_replaced_before_the_call() -> None:
    # google-auth refreshes a token within a few minutes of its expiry: a 60 s lifetime is
    # replaced on each call, never sent stale.
    with metadata_server(lifetime=60) as (host, asked):
        credentials = MetadataCredentials([CLOUD], host)
        http = HttpTransport({})
        api = AuthorizedTransport(http, credentials)
        try:
            bearers = [api.request("GET", f"http://{host}/v1", timeout=5).json() for _ in "ab"]
        finally:
            http.close()
    assert [b["bearer"] for b in bearers] == ["Bearer ya29.t1", "Bearer ya29.t2"]
    assert len(asked) == 2


@pytest.mark.parametrize(("status", "transient"), [(503, True), (429, True), (403, False)])
def test_the_metadata_servers_refusal_is_retried_only_when_it_is_transient(
    status: int, transient: bool
) -> None:
    with metadata_server(status=status) as (host, _):
        credentials = MetadataCredentials([CLOUD], host)
        http = HttpTransport({})
        api = AuthorizedTransport(http, credentials)
        try:
            call = lambda: api.request("GET", f"http://{host}/v1", timeout=5)  # noqa: E731
            if transient:
                # The adapter's guard: a transient failure, so Pub/Sub delivers the event again.
                with pytest.raises(TransientError, match=f"HTTP {status}"):
                    guard("reading the cluster", call)
            else:
                with pytest.raises(auth_exceptions.RefreshError, match="HTTP 403"):
                    guard("reading the cluster", call)
        finally:
            http.close()


def test_a_token_answer_that_is_not_one_is_a_clear_error() -> None:
    class Broken:
        status, data = 200, b"<html>captive portal</html>"

    with pytest.raises(auth_exceptions.RefreshError, match="not understood"):
        MetadataCredentials([CLOUD]).refresh(lambda **_: Broken())


def test_off_googles_runtime_or_with_a_key_file_google_auth_decides(tmp_path: Path) -> None:
    from google.oauth2 import service_account

    file = service_account_file(tmp_path / "key.json")
    env = {"K_SERVICE": "pullfix-remediate", "GOOGLE_APPLICATION_CREDENTIALS": str(file)}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(file))
        made = default_credentials([CLOUD], env)
    assert isinstance(made, service_account.Credentials)


def test_the_runtimes_credentials_load_neither_requests_nor_google_auths_compute_engine() -> None:
    code = """
import sys, threading, json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"access_token": "ya29.x", "expires_in": 3599}).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
server = ThreadingHTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=server.serve_forever, daemon=True).start()
from pullfix.gcp.credentials import default_credentials
from pullfix.gcp.transport import HttpTransport, auth_request
made = default_credentials(["s"], {"K_SERVICE": "f",
    "GCE_METADATA_HOST": f"127.0.0.1:{server.server_address[1]}"})
made.refresh(auth_request(HttpTransport({})))
assert made.token == "ya29.x", made.token
loaded = [m for m in ("requests", "urllib3", "cryptography", "google.auth.compute_engine",
                      "google.oauth2.service_account") if m in sys.modules]
print(json.dumps(loaded))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
