"""pullfix's HTTP transport against real servers on loopback (keep-alive, a server that drops
a connection, a timeout, proxies, TLS), and google-auth's credentials on it."""

from __future__ import annotations

import base64
import datetime as dt
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pullfix.core.config import ConfigError
from pullfix.gcp.transport import (
    AuthorizedTransport,
    HttpTransport,
    MockTransport,
    Request,
    Response,
    TransportError,
    TransportTimeout,
)
from tests.keys import self_signed, service_account_info

# -- servers on loopback ------------------------------------------------------------------


class _Recording(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    seen: list[tuple[str, str, int]]  # method, path, the client's port (one per connection)
    close_after = False  # close the connection after answering, without saying so

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        sent = self.rfile.read(length) if length else b""
        self.seen.append((self.command, self.path, self.client_address[1]))
        body = json.dumps({"method": self.command, "body": sent.decode()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if self.close_after:
            self.close_connection = True

    do_GET = do_POST = _answer

    def log_message(self, *_: Any) -> None:
        pass


@contextmanager
def serving(
    close_after: bool = False, context: ssl.SSLContext | None = None
) -> Iterator[tuple[str, list[tuple[str, str, int]]]]:
    seen: list[tuple[str, str, int]] = []
    handler = type("Handler", (_Recording,), {"seen": seen, "close_after": close_after})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    scheme = "https" if context else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def raw_server(serve: Callable[[socket.socket], None]) -> Iterator[int]:
    """A TCP server on loopback that hands each connection to `serve`; its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    stop = threading.Event()
    workers: list[threading.Thread] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            worker = threading.Thread(target=_closing(serve, conn), daemon=True)
            worker.start()
            workers.append(worker)

    thread = threading.Thread(target=accept)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        listener.close()
        for worker in workers:
            worker.join(timeout=5)


def _closing(serve: Callable[[socket.socket], None], conn: socket.socket) -> Callable[[], None]:
    def run() -> None:
        with conn, suppress(OSError):
            serve(conn)

    return run


def _read_request(reader: Any) -> tuple[str, bytes] | None:
    """(request line, body) of one HTTP request, None at the end of the connection."""
    line = reader.readline()
    if not line:
        return None
    length = 0
    while (header := reader.readline()) not in (b"\r\n", b""):
        name, _, value = header.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return line.decode().strip(), reader.read(length)


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"


# -- keep-alive ----------------------------------------------------------------------------


def test_one_connection_serves_request_after_request() -> None:
    transport = HttpTransport({})
    with serving() as (url, seen):
        try:
            for i in range(3):
                got = transport.request("GET", f"{url}/r/{i}?q=1", timeout=5)
                assert (got.status, got.json()["method"]) == (200, "GET")
            posted = transport.request("POST", f"{url}/p", body=b'{"a": 1}', timeout=5)
        finally:
            transport.close()
    assert posted.json() == {"method": "POST", "body": '{"a": 1}'}
    assert [(m, p) for m, p, _ in seen] == [
        ("GET", "/r/0?q=1"),
        ("GET", "/r/1?q=1"),
        ("GET", "/r/2?q=1"),
        ("POST", "/p"),
    ]
    assert len({port for _, _, port in seen}) == 1  # one connection


def test_a_call_under_way_when_the_transport_closes_leaves_no_connection_open() -> None:
    """The answer nobody waits for any more (a troubleshooter's, once the event is decided)
    comes back after `close`: its connection is closed then, not kept in the emptied pool
    for the garbage collector to find open."""
    release, hung_up = threading.Event(), threading.Event()

    def slow(conn: socket.socket) -> None:
        conn.recv(65536)
        release.wait(5)
        conn.sendall(OK)
        conn.settimeout(5)
        if conn.recv(1) == b"":  # the client closed its end
            hung_up.set()

    transport = HttpTransport({})
    with raw_server(slow) as port:
        answers: list[Response] = []
        call = threading.Thread(
            target=lambda: answers.append(
                transport.request("GET", f"http://127.0.0.1:{port}/slow", timeout=5)
            )
        )
        call.start()
        time.sleep(0.1)  # the request is on the wire
        transport.close()
        release.set()
        call.join(5)
        assert answers and answers[0].status == 200
        assert hung_up.wait(2), "the connection was kept open after close"


def test_a_connection_the_server_closed_while_idle_is_never_used() -> None:
    transport = HttpTransport({})
    with serving(close_after=True) as (url, seen):
        try:
            assert transport.request("GET", f"{url}/first", timeout=5).status == 200
            time.sleep(0.1)  # the server's close reaches this side
            posted = transport.request("POST", f"{url}/second", body=b"x", timeout=5)
        finally:
            transport.close()
    assert posted.status == 200
    assert [(m, p) for m, p, _ in seen] == [("GET", "/first"), ("POST", "/second")]
    assert seen[0][2] != seen[1][2]  # a new connection


def _drops_the_second_request(received: list[str]) -> Callable[[socket.socket], None]:
    """Answers a connection's first request; reads its second and closes without a word
    (a server that timed the connection out just as the request arrived)."""

    def serve(conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        for count in (1, 2):
            request = _read_request(reader)
            if request is None:
                return
            received.append(request[0].split()[0])
            if count == 2:
                break
            conn.sendall(OK)
        reader.close()

    return serve


def test_a_post_the_server_dropped_unanswered_is_never_sent_again() -> None:
    received: list[str] = []
    transport = HttpTransport({})
    with raw_server(_drops_the_second_request(received)) as port:
        try:
            assert transport.request("GET", f"http://127.0.0.1:{port}/", timeout=5).status == 200
            with pytest.raises(TransportError) as info:
                transport.request("POST", f"http://127.0.0.1:{port}/commit", body=b"{}", timeout=5)
        finally:
            transport.close()
    # The server may have applied it: the caller decides (Pub/Sub redelivers), not the transport.
    assert received == ["GET", "POST"]
    assert "/commit" not in str(info.value)  # no path in errors (a webhook's carries a token)


def test_a_get_the_server_dropped_unanswered_is_sent_once_more_on_a_new_connection() -> None:
    received: list[str] = []
    transport = HttpTransport({})
    with raw_server(_drops_the_second_request(received)) as port:
        try:
            for _ in range(2):
                got = transport.request("GET", f"http://127.0.0.1:{port}/", timeout=5)
                assert got.status == 200
        finally:
            transport.close()
    assert received == ["GET", "GET", "GET"]


def test_no_answer_within_the_timeout_is_a_transient_transport_timeout() -> None:
    hold = threading.Event()

    def silent(conn: socket.socket) -> None:
        hold.wait(5)

    transport = HttpTransport({})
    with raw_server(silent) as port:
        start = time.monotonic()
        try:
            with pytest.raises(TransportTimeout) as info:
                transport.request("POST", f"http://127.0.0.1:{port}/x", body=b"{}", timeout=0.3)
        finally:
            hold.set()
            transport.close()
    assert time.monotonic() - start < 2
    assert isinstance(info.value, OSError)  # what pullfix's guard takes for transient
    assert "no answer within 0.3s" in str(info.value)


def test_a_refused_connection_is_a_transport_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    transport = HttpTransport({})
    with pytest.raises(TransportError, match=r"GET http://127\.0\.0\.1:\d+: ConnectionRefused"):
        transport.request("GET", f"http://127.0.0.1:{port}/", timeout=2)


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/hook", {"Authorization": "Bearer ya29.secret\r\nX-Injected: 1"}),  # CR LF in a value
        ("/hook/T0KEN secret?sig=1", {}),  # white space in the path
        ("/hook/\u00e9-secret?sig=1", {}),  # not ASCII
    ],
)
def test_a_request_http_cannot_carry_is_refused_before_sending_without_quoting_it(
    path: str, headers: dict[str, str]
) -> None:
    """http.client refuses a header value or a request line that would split the request;
    the refusal is a ValueError (permanent: not the transient TransportError) that names the
    origin only, and chains nothing that quotes the token or the path."""
    with serving() as (url, seen):
        transport = HttpTransport({})
        try:
            with pytest.raises(ValueError, match=r"^GET http://127\.0\.0\.1:\d+: ") as caught:
                transport.request("GET", f"{url}{path}", headers=headers, timeout=5)
        finally:
            transport.close()
    assert not isinstance(caught.value, TransportError)
    chain = [caught.value, caught.value.__cause__, caught.value.__context__]
    assert "secret" not in " ".join(repr(e) for e in chain if e is not None)
    assert seen == []


# -- TLS -----------------------------------------------------------------------------------


@pytest.fixture
def tls(tmp_path: Path) -> tuple[Path, ssl.SSLContext]:
    cert, key = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return cert, context


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_tls_trusts_the_ca_bundle_the_environment_names(
    tls: tuple[Path, ssl.SSLContext], variable: str
) -> None:
    cert, context = tls
    with serving(context=context) as (url, seen):
        trusting = HttpTransport({variable: str(cert)})
        default = HttpTransport({})
        try:
            assert trusting.request("GET", f"{url}/a", timeout=5).status == 200
            assert trusting.request("GET", f"{url}/b", timeout=5).status == 200
            with pytest.raises(TransportError, match="TLS: CERTIFICATE_VERIFY_FAILED"):
                default.request("GET", f"{url}/c", timeout=5)
        finally:
            trusting.close()
            default.close()
    assert [p for _, p, _ in seen] == ["/a", "/b"]
    assert seen[0][2] == seen[1][2]  # kept alive over TLS too


def test_a_ca_bundle_that_cannot_be_read_is_a_configuration_error(tmp_path: Path) -> None:
    transport = HttpTransport({"REQUESTS_CA_BUNDLE": str(tmp_path / "missing.pem")})
    with pytest.raises(ConfigError, match="REQUESTS_CA_BUNDLE: cannot read the CA bundle"):
        transport.request("GET", "https://127.0.0.1:9/", timeout=1)


# -- proxies -------------------------------------------------------------------------------


class _Proxy:
    """A forward proxy on loopback: CONNECT tunnels to the target; an absolute-form request
    is answered by the proxy itself. `seen` lists request lines, `authorization` the
    Proxy-Authorization headers."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.authorization: list[str] = []

    def __call__(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        line = reader.readline().decode().strip()
        if not line:
            return
        self.seen.append(line)
        while (header := reader.readline()) not in (b"\r\n", b""):
            name, _, value = header.decode().partition(":")
            if name.lower() == "proxy-authorization":
                self.authorization.append(value.strip())
        method, target, _ = line.split()
        if method != "CONNECT":
            conn.sendall(
                OK.replace(b"Content-Length: 2", b"Content-Length: 2\r\nConnection: close")
            )
            return
        host, _, port = target.rpartition(":")
        with socket.create_connection((host, int(port)), timeout=5) as upstream:
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            pump = threading.Thread(target=_pipe, args=(upstream, conn), daemon=True)
            pump.start()
            _pipe(conn, upstream)
            pump.join(timeout=5)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@pytest.mark.parametrize(
    ("asked", "no_proxy", "tunnelled"),
    [
        (True, "", True),
        (True, "127.0.0.1", False),
        (True, "10.0.0.0/8,127.0.0.0/8", False),
        (False, "", False),
    ],
)
def test_https_goes_through_the_proxys_connect_tunnel_unless_bypassed(
    tls: tuple[Path, ssl.SSLContext], asked: bool, no_proxy: str, tunnelled: bool
) -> None:
    cert, context = tls
    proxy = _Proxy()
    with serving(context=context) as (url, seen), raw_server(proxy) as proxy_port:
        environ = {
            "HTTPS_PROXY": f"http://pullfix:s%40cret@127.0.0.1:{proxy_port}",
            "NO_PROXY": no_proxy,
            "REQUESTS_CA_BUNDLE": str(cert),
        }
        # Loopback is never proxied unless asked (here, to reach a proxy test at all).
        transport = HttpTransport(environ, proxy_loopback=asked)
        try:
            got = transport.request("GET", f"{url}/through", timeout=5)
        finally:
            transport.close()
    assert got.status == 200 and [p for _, p, _ in seen] == ["/through"]
    port = url.rsplit(":", 1)[1]
    if tunnelled:
        assert [line.rsplit(" ", 1)[0] for line in proxy.seen] == [f"CONNECT 127.0.0.1:{port}"]
        assert proxy.authorization == ["Basic " + base64.b64encode(b"pullfix:s@cret").decode()]
    else:
        assert proxy.seen == []


@pytest.mark.parametrize("no_proxy", ["", "localhost:1,other.example", "*"])
def test_http_goes_to_the_proxy_in_absolute_form_unless_no_proxy_names_the_host(
    no_proxy: str,
) -> None:
    proxy = _Proxy()
    with serving() as (url, seen), raw_server(proxy) as proxy_port:
        environ = {"http_proxy": f"127.0.0.1:{proxy_port}", "no_proxy": no_proxy}
        transport = HttpTransport(environ, proxy_loopback=True)
        try:
            got = transport.request("GET", f"{url}/x?y=1", timeout=5)
        finally:
            transport.close()
    assert got.status == 200
    if no_proxy == "*":
        assert proxy.seen == [] and [p for _, p, _ in seen] == ["/x?y=1"]
    else:  # (localhost:1 names another port; other.example another host)
        assert proxy.seen == [f"GET {url}/x?y=1 HTTP/1.1"] and seen == []


def test_a_proxy_that_is_not_http_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="HTTPS_PROXY: only an http:// proxy"):
        HttpTransport({"HTTPS_PROXY": "socks5://127.0.0.1:1080"})


# -- MockTransport and google-auth's credentials ------------------------------------------

API = "https://container.googleapis.com/v1/projects/p/locations/l/clusters/c"
TOKEN_URI = "https://oauth2.googleapis.com/token"


def _google(accepted: Callable[[], str]) -> tuple[MockTransport, list[str]]:
    """Google as a handler: the token endpoint issues `new`, the metadata server too; the
    API answers 200 to the token `accepted()` names, else 401. The log lists what came."""
    log: list[str] = []

    def handler(request: Request) -> Response:
        if request.url == TOKEN_URI:
            log.append("token")
            body = json.dumps({"access_token": "new", "expires_in": 3600, "token_type": "Bearer"})
            return Response(200, {"Content-Type": "application/json"}, body.encode())
        if "metadata.google.internal" in request.url:
            assert request.header("Metadata-Flavor") == "Google"
            log.append("metadata " + request.path.rsplit("/", 1)[-1])
            if request.path.endswith("/token"):
                answer: dict[str, Any] = {"access_token": "new", "expires_in": 3600}
            else:
                answer = {"email": "fn@p.iam.gserviceaccount.com", "aliases": ["default"]}
                answer["scopes"] = ["https://www.googleapis.com/auth/cloud-platform"]
            headers = {"Metadata-Flavor": "Google", "Content-Type": "application/json"}
            return Response(200, headers, json.dumps(answer).encode())
        if request.url == API:
            token = request.header("Authorization").removeprefix("Bearer ")
            log.append(f"api {token}")
            if token == accepted():
                return Response(200, {}, b'{"name": "c"}')
            return Response(401, {}, b'{"error": {"code": 401, "status": "UNAUTHENTICATED"}}')
        return Response(404, {}, b"")

    return MockTransport(handler), log


def _user_credentials(expiry: dt.datetime) -> Any:
    from google.oauth2 import credentials

    made = credentials.Credentials(
        "old",
        refresh_token="refresh",
        token_uri=TOKEN_URI,
        client_id="id",
        client_secret="secret",
    )
    made.expiry = expiry.replace(tzinfo=None)  # google-auth keeps naive UTC
    return made


def test_a_token_google_no_longer_accepts_is_refreshed_and_the_request_sent_once_more() -> None:
    google, log = _google(lambda: "new")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)  # valid as far as it knows
    transport = AuthorizedTransport(google, _user_credentials(later))
    got = transport.request("GET", API, timeout=5)
    assert (got.status, got.json()) == (200, {"name": "c"})
    assert log == ["api old", "token", "api new"]


def test_an_expired_token_is_refreshed_before_the_request() -> None:
    google, log = _google(lambda: "new")
    earlier = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    transport = AuthorizedTransport(google, _user_credentials(earlier))
    assert transport.request("POST", API, body=b"{}", timeout=5).status == 200
    assert log == ["token", "api new"]


def test_a_401_after_a_refresh_is_the_answer_not_a_loop() -> None:
    google, log = _google(lambda: "nobody's")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)
    transport = AuthorizedTransport(google, _user_credentials(later))
    assert transport.request("GET", API, timeout=5).status == 401
    assert log == ["api old", "token", "api new"]


def test_service_account_credentials_sign_their_token_request_over_the_transport() -> None:
    from google.oauth2 import service_account

    made = service_account.Credentials.from_service_account_info(
        service_account_info(TOKEN_URI),
        scopes=["https://www.googleapis.com/auth/cloud-platform"],
    )
    google, log = _google(lambda: "new")
    assert AuthorizedTransport(google, made).request("GET", API, timeout=5).status == 200
    assert log == ["token", "api new"]
    (token_request,) = [r for r in google.requests if r.url == TOKEN_URI]
    assert token_request.method == "POST"
    assert b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer" in (
        token_request.body or b""
    )


def test_compute_engine_credentials_ask_the_metadata_server_over_the_transport() -> None:
    from google.auth import compute_engine

    google, log = _google(lambda: "new")
    transport = AuthorizedTransport(google, compute_engine.Credentials())
    assert transport.request("GET", API, timeout=5).status == 200
    assert log[-2:] == ["metadata token", "api new"]
    assert all(entry.startswith("metadata") for entry in log[:-1])


def test_a_transport_failure_reaches_google_auth_as_its_transport_error() -> None:
    from google.auth import exceptions

    from pullfix.gcp.transport import auth_request

    def unreachable(request: Request) -> Response:
        raise TransportError("POST https://oauth2.googleapis.com: ConnectionRefusedError")

    request = auth_request(MockTransport(unreachable))
    with pytest.raises(exceptions.TransportError):
        request(TOKEN_URI, method="POST", body="a=b")


def test_a_redirect_is_the_answer_and_the_token_never_reaches_where_it_points() -> None:
    """Google's calls carry a bearer token: a 3xx to another origin is returned as it is,
    never followed (following it would hand the token to that origin)."""
    elsewhere: list[str] = []

    def other(conn: socket.socket) -> None:
        if (got := _read_request(conn.makefile("rb"))) is not None:
            elsewhere.append(got[0])
            conn.sendall(OK)

    with raw_server(other) as other_port:
        location = f"http://127.0.0.1:{other_port}/stolen".encode()

        def redirecting(conn: socket.socket) -> None:
            reader = conn.makefile("rb")
            while _read_request(reader) is not None:  # kept alive: GET, then POST
                conn.sendall(
                    b"HTTP/1.1 302 Found\r\nLocation: "
                    + location
                    + b"\r\nContent-Length: 0\r\n\r\n"
                )

        with raw_server(redirecting) as port:
            later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)
            http = HttpTransport({})
            try:
                for method in ("GET", "POST"):
                    got = AuthorizedTransport(http, _user_credentials(later)).request(
                        method, f"http://127.0.0.1:{port}/v1/x", body=b"{}", timeout=5
                    )
                    assert got.status == 302
                    assert got.header("Location") == location.decode()
            finally:
                http.close()
    assert elsewhere == []
