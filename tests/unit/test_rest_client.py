"""pullfix's JSON calls to Google (`RestClient`) on a MockTransport: the request Google
receives and the error each answer is, without a server."""

from __future__ import annotations

import json

import pytest

from pullfix.gcp.clients import GoogleClients
from pullfix.gcp.endpoints import SandboxEndpoint
from pullfix.gcp.errors import ApiCallError, NotFound, Retryable
from pullfix.gcp.transport import MockTransport, Request, Response

SANDBOX = SandboxEndpoint(rest="http://127.0.0.1:9", grpc="127.0.0.1:10")


def _clients(answer: Response, emulators: dict[str, str] | None = None) -> GoogleClients:
    return GoogleClients(SANDBOX, emulators, http=MockTransport(lambda request: answer))


def _sent(clients: GoogleClients) -> list[Request]:
    mock = clients.http
    assert isinstance(mock, MockTransport)
    return mock.requests


def test_a_get_asks_for_the_fields_pullfix_reads_of_the_escaped_resource() -> None:
    clients = _clients(Response(200, {}, b'{"name": "projects/1"}'))
    got = clients.rest.get(
        "cloudresourcemanager", "/v3/projects/{}", "shop/prod", fields="name,parent", timeout=3
    )
    assert got == {"name": "projects/1"}
    (sent,) = _sent(clients)
    assert (sent.method, sent.path, sent.params) == (
        "GET",
        "/v3/projects/shop%2Fprod",
        {"fields": "name,parent"},
    )
    assert sent.timeout == 3 and sent.body is None


def test_a_post_sends_its_body_as_json() -> None:
    clients = _clients(Response(200, {}, b'{"messageIds": ["1"]}'))
    body = {"messages": [{"data": "eA=="}]}
    clients.rest.post("pubsub", "/v1/projects/{}/topics/{}:publish", "p", "t", body=body, timeout=2)
    (sent,) = _sent(clients)
    assert sent.header("Content-Type") == "application/json"
    assert json.loads(sent.body or b"") == body


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (404, b'{"error": {"code": 404, "message": "no", "status": "NOT_FOUND"}}', NotFound),
        (503, b"<html>upstream connect error</html>", Retryable),
        (404, b"<html>no such page</html>", ApiCallError),
    ],
)
def test_an_error_answer_is_the_error_its_envelope_says(
    status: int, body: bytes, kind: type[ApiCallError]
) -> None:
    clients = _clients(Response(status, {}, body))
    with pytest.raises(kind) as info:
        clients.rest.get("container", "/v1/{}", "c", fields=None, timeout=1)
    assert type(info.value) is kind and info.value.code == status


def test_firestores_emulator_gets_the_owner_token_and_no_other_api_does() -> None:
    clients = _clients(Response(200, {}, b"{}"), {"firestore": "http://127.0.0.1:8"})
    clients.rest.get("firestore", "/v1/{}", "doc", fields=None, timeout=1)
    clients.rest.get("container", "/v1/{}", "c", fields=None, timeout=1)
    firestore, container = _sent(clients)
    assert firestore.url.startswith("http://127.0.0.1:8/")
    assert firestore.header("Authorization") == "Bearer owner"
    assert container.url.startswith("http://127.0.0.1:9/")
    assert container.header("Authorization") == ""
