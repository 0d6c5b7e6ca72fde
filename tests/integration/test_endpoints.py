"""Per-API endpoints: FIRESTORE_EMULATOR_HOST and PUBSUB_EMULATOR_HOST take their API (and only
it) to an emulator, as Google's clients read them; PULLFIX_GCP_ENDPOINT serves the rest."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pullfix.dev.sandbox import Sandbox
from pullfix.engine.ledger import FirestoreLedger
from pullfix.gcp.adapter import PubSubPublisher
from pullfix.gcp.clients import GoogleClients
from pullfix.gcp.endpoints import EndpointError, emulator_hosts, sandbox_endpoint

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "base"),
    [
        ("127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("localhost:8085", "http://localhost:8085"),
        ("[::1]:8085", "http://[::1]:8085"),
    ],
)
def test_an_emulator_is_host_and_port_as_the_clients_take_it(value: str, base: str) -> None:
    hosts = emulator_hosts({"FIRESTORE_EMULATOR_HOST": value, "PUBSUB_EMULATOR_HOST": value})
    assert hosts == {"firestore": base, "pubsub": base}


@pytest.mark.parametrize(
    "value",
    ["http://127.0.0.1:8080", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:99999", "h:1/x", "h :1"],
)
def test_anything_but_host_and_port_is_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(EndpointError, match="PUBSUB_EMULATOR_HOST"):
        emulator_hosts({"PUBSUB_EMULATOR_HOST": value})


def test_unset_or_empty_variables_name_no_emulator() -> None:
    assert emulator_hosts({"FIRESTORE_EMULATOR_HOST": "", "PULLFIX_GCP_ENDPOINT": "x"}) == {}


class _Recorder(ThreadingHTTPServer):
    """An HTTP server that answers every request with `{}` (a publish: one message id) and
    keeps each request's method, path and Authorization header."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str | None]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                recorder.seen.append((self.command, self.path, self.headers.get("Authorization")))
                body = json.dumps({"messageIds": ["1"]} if ":publish" in self.path else {})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def recorder() -> Iterator[_Recorder]:
    server = _Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _ledger(clients: GoogleClients) -> FirestoreLedger:
    return FirestoreLedger(clients.rest, "p1", "(default)", "pullfix-test", timeout=2.0)


def test_firestore_goes_to_its_emulator_and_the_rest_to_the_sandbox(
    sandbox: Sandbox, recorder: _Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PULLFIX_GCP_ENDPOINT", sandbox.endpoint)
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", recorder.host)
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    clients = GoogleClients.from_env()
    try:
        assert _ledger(clients).get("k1", T0) is None
        PubSubPublisher(clients, "projects/shop-prod/topics/pull-outcomes").publish({})
    finally:
        clients.close()
    # The token google-cloud-firestore gives its emulator: an administrator's.
    assert recorder.seen == [
        (
            "GET",
            "/v1/projects/p1/databases/%28default%29/documents/pullfix-test/k1"
            "?fields=name%2Cfields%2CupdateTime",
            "Bearer owner",
        )
    ]
    requests = sandbox.stats()["requests"]
    assert requests.get("pubsub.projects.topics.publish") == 1
    assert not any(method.startswith("firestore.") for method in requests)


def test_pubsub_goes_to_its_emulator_without_credentials(
    sandbox: Sandbox, recorder: _Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PULLFIX_GCP_ENDPOINT", sandbox.endpoint)
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", recorder.host)
    monkeypatch.delenv("FIRESTORE_EMULATOR_HOST", raising=False)
    clients = GoogleClients.from_env()
    try:
        PubSubPublisher(clients, "projects/p1/topics/pullfix-outcomes").publish({"cause": "x"})
        # The generated client too (given the emulator's address, not a gRPC channel).
        clients.publisher.publish(
            request={"topic": "projects/p1/topics/pullfix-outcomes", "messages": [{"data": b"x"}]}
        )
        _ledger(clients).get("k1", T0)
    finally:
        clients.close()
    assert [(method, path.split("?")[0], auth) for method, path, auth in recorder.seen] == [
        ("POST", "/v1/projects/p1/topics/pullfix-outcomes:publish", None)
    ] * 2
    requests = sandbox.stats()["requests"]
    assert "pubsub.projects.topics.publish" not in requests
    assert requests["firestore.projects.databases.documents.get"] == 1


def test_an_emulator_needs_no_application_default_credentials(
    recorder: _Recorder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Production endpoints for every other API: their credentials are looked for only when
    # one of them is called. Here there are none: the key file Application Default
    # Credentials are told to read does not exist, and this is not Google's runtime.
    import google.auth

    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
    monkeypatch.delenv("K_SERVICE", raising=False)
    clients = GoogleClients(None, emulator_hosts({"FIRESTORE_EMULATOR_HOST": recorder.host}))
    try:
        assert _ledger(clients).get("k1", T0) is None
        with pytest.raises(google.auth.exceptions.DefaultCredentialsError):
            PubSubPublisher(clients, "projects/p1/topics/t").publish({"cause": "x"})
    finally:
        clients.close()
    assert len(recorder.seen) == 1


def test_without_the_variables_the_sandbox_serves_everything(sandbox: Sandbox) -> None:
    clients = GoogleClients(sandbox_endpoint(sandbox.endpoint))
    try:
        assert clients.emulators == {}
        assert set(clients.rest.bases.values()) == {sandbox.endpoint}
    finally:
        clients.close()
