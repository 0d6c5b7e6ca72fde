"""Clicks as Google Chat and Slack send them, for the demo and the tests (never deployed).

`ChatSigner` stands in for chat@system.gserviceaccount.com: a local RSA key whose
certificate it serves on loopback in the shape Google serves that account's
(`{key id: PEM certificate}`, https://www.googleapis.com/service_accounts/v1/metadata/x509/
chat@system.gserviceaccount.com), so that the `approve` function verifies its tokens with
google-auth exactly as it verifies Google's, pointed there by `PULLFIX_CHAT_CERTS_URL`.
`slack_headers` signs a body as Slack does with an app's signing secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt

__all__ = [
    "CHAT_ACCOUNT",
    "ChatSigner",
    "chat_event",
    "click",
    "slack_body",
    "slack_headers",
]

CHAT_ACCOUNT = "chat@system.gserviceaccount.com"


def _key_and_certificate() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CHAT_ACCOUNT)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return private, certificate.public_bytes(serialization.Encoding.PEM)


class ChatSigner:
    """A local signer of Chat tokens, its certificate served at `certs_url` on loopback."""

    def __init__(self, key_id: str = "pullfix-local") -> None:
        self.key_id = key_id
        self._private, self.certificate = _key_and_certificate()
        self._signer = crypt.RSASigner.from_string(self._private, key_id=key_id)  # type: ignore[no-untyped-call]
        self._server: ThreadingHTTPServer | None = None
        self.certs_url = ""

    def token(
        self,
        audience: str,
        *,
        issuer: str = CHAT_ACCOUNT,
        lifetime: int = 3600,
        issued: float | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        """A token as Chat sends for a project-number audience (a JWT chat@ signs)."""
        at = int(issued if issued is not None else time.time())
        claims = {"iss": issuer, "aud": audience, "iat": at, "exp": at + lifetime, **(extra or {})}
        token: bytes = jwt.encode(self._signer, claims)  # type: ignore[no-untyped-call]
        return token.decode()

    def start(self) -> ChatSigner:
        body = json.dumps({self.key_id: self.certificate.decode()}).encode()

        class Certs(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Certs)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.certs_url = f"http://127.0.0.1:{self._server.server_address[1]}/x509/{CHAT_ACCOUNT}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ChatSigner:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def chat_event(request: str, email: str, verdict: str = "approve") -> bytes:
    """A Chat app's CARD_CLICKED interaction event for a pullfix button."""
    function = f"pullfix.{verdict}"
    return json.dumps(
        {
            "type": "CARD_CLICKED",
            "eventTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "space": {"name": "spaces/AAAA", "type": "ROOM"},
            "user": {"name": "users/1234", "displayName": email, "email": email, "type": "HUMAN"},
            "common": {"invokedFunction": function, "parameters": {"request": request}},
            "action": {
                "actionMethodName": function,
                "parameters": [{"key": "request", "value": request}],
            },
        }
    ).encode()


def slack_body(request: str, user_id: str, verdict: str = "approve") -> bytes:
    """A Slack `block_actions` payload for a pullfix button, form-encoded as Slack posts it."""
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "username": "someone", "team_id": "T0001"},
        "team": {"id": "T0001"},
        "actions": [
            {
                "type": "button",
                "action_id": f"pullfix_{verdict}",
                "block_id": "pullfix-approval",
                "value": request,
                "action_ts": f"{time.time():.6f}",
            }
        ],
        "response_url": "https://hooks.slack.com/actions/T0001/1/local",
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


def slack_headers(body: bytes, secret: str, timestamp: float | None = None) -> dict[str, str]:
    """The headers Slack signs a request with (`v0=` HMAC-SHA256 of `v0:ts:body`)."""
    stamp = str(int(timestamp if timestamp is not None else time.time()))
    base = b"v0:" + stamp.encode() + b":" + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
    }


def click(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    """POST a click to a local `approve`; (status, the JSON answer or its text)."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"not a loopback URL: {url}")
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            status, text = int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode()
        exc.close()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text
