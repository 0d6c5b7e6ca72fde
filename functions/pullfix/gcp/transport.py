"""The one seam of pullfix's HTTP calls: a `Transport` sends a request and returns the answer.

`HttpTransport` is the real one, on the standard library's http.client (which the functions'
runtime has loaded already: werkzeug uses it), so that a call costs no import of requests,
urllib3 or charset_normalizer. It keeps connections alive, pooled per (scheme, host, port),
and is safe to share between threads: each connection serves one request at a time.

- TLS: the default context (the system's CAs; SSL_CERT_FILE is OpenSSL's own), or the CA
  bundle REQUESTS_CA_BUNDLE (else CURL_CA_BUNDLE) names, which replaces them, as requests
  reads it. Read when the transport is made; loaded on its first TLS connection; a bundle
  that cannot be read is a `ConfigError`.
- Proxies: HTTPS_PROXY and HTTP_PROXY (the lower-case names first, as urllib reads them),
  and NO_PROXY (`*`, host names and their subdomains, `host:port`, IP addresses and CIDR
  blocks), read when the transport is made. An https URL goes through a CONNECT tunnel, an
  http URL to the proxy in absolute form. Loopback addresses and the metadata server are
  never sent to a proxy unless `proxy_loopback` asks for it (a sandbox on this machine, or
  the metadata server, cannot be reached through one). Only http:// proxies are spoken to.
- Redirects are answers, never followed: following one could carry a credential to another
  origin.
- A kept-alive connection that the server closed while it was idle is noticed before it is
  used (it reads as readable: end of file) and dropped. One that breaks under a request is
  retried once on a new connection only when the request provably never reached the
  server (it broke while being sent, so the server never had all of it) or when it may be
  sent twice (GET, HEAD, OPTIONS, PUT, DELETE: the server closed the connection without an
  answer). A POST that was sent whole is never sent again: the caller gets a
  `TransportError` and decides (pullfix's functions leave it to Pub/Sub's redelivery).
- No answer within `timeout` seconds (to connect, or between bytes of the answer) raises
  `TransportTimeout`. Errors name the method and the origin, never a path or a query (a
  webhook's URL carries its token there) nor a header. A request http.client refuses to
  compose (CR or LF in a header value, white space or non-ASCII in the URL) is a
  `ValueError`, sent nowhere: a permanent mistake, not a transient `TransportError`.

`MockTransport(handler)` answers each request with `handler(request)`, for unit tests.
`AuthorizedTransport(transport, credentials)` applies google-auth credentials to each
request, as google-auth's `AuthorizedSession` does, with a `google.auth.transport.Request`
made on the same transport (for the token and the metadata server's calls).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import select
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol

from pullfix.core.config import ConfigError

__all__ = [
    "AuthorizedTransport",
    "HttpTransport",
    "MockTransport",
    "Request",
    "Response",
    "Transport",
    "TransportError",
    "TransportTimeout",
    "auth_request",
]

# google-auth's own default for its requests transport, when a token call names none.
AUTH_DEFAULT_TIMEOUT = 120.0
# Methods a server may receive twice with the effect of once (RFC 9110, 9.2.2).
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Never through a proxy unless asked: this machine, link-local (the metadata server).
_METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata"})


class TransportError(OSError):
    """No answer: the connection could not be made, broke, or the TLS handshake failed."""


class TransportTimeout(TransportError, TimeoutError):
    """No answer within the request's timeout."""


@dataclass(frozen=True, slots=True)
class Response:
    """An HTTP answer; `headers` by lower-case name (repeated headers joined by ", ")."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", {k.lower(): v for k, v in self.headers.items()})

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    def json(self) -> Any:
        """The body as JSON (ValueError when it is not)."""
        return json.loads(self.body)


@dataclass(frozen=True, slots=True)
class Request:
    """A request as a `MockTransport` handler sees it."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None
    timeout: float | None

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), "")

    @property
    def path(self) -> str:
        return urllib.parse.urlsplit(self.url).path

    @property
    def params(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.url).query))

    def json(self) -> Any:
        return json.loads(self.body or b"null")


class Transport(Protocol):
    """Sends one request, returns its answer (any status); raises TransportError (an OSError)
    when there is none."""

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float | None,
    ) -> Response: ...

    def close(self) -> None: ...


class MockTransport:
    """A transport whose every answer is `handler(request)` (which may raise TransportError
    to play a failure); `requests` lists what it was sent."""

    def __init__(self, handler: Callable[[Request], Response]) -> None:
        self.handler = handler
        self.requests: list[Request] = []
        self._lock = threading.Lock()

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float | None,
    ) -> Response:
        sent = Request(method, url, dict(headers or {}), body, timeout)
        with self._lock:
            self.requests.append(sent)
        return self.handler(sent)

    def close(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class _Proxy:
    host: str
    port: int
    authorization: str | None  # a Proxy-Authorization header, from the URL's user:password


_Key = tuple[str, str, int]  # scheme, host, port


class HttpTransport:
    """HTTP/1.1 over http.client, with pooled keep-alive connections (see the module)."""

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        *,
        proxy_loopback: bool = False,
        max_idle: int = 16,
        idle_seconds: float = 60.0,
    ) -> None:
        """`environ` (default: the process's) is read now, once. `max_idle` connections are
        kept per origin, each for at most `idle_seconds` unused (NATs and front ends drop
        idle connections without a word)."""
        env = os.environ if environ is None else environ
        variable = next((v for v in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE") if env.get(v)), None)
        self._bundle = (variable, env[variable]) if variable else None
        self._proxies = {
            scheme: _proxy(name, env[name])
            for scheme, name in (
                ("https", _env_name(env, "https_proxy")),
                ("http", _env_name(env, "http_proxy")),
            )
            if name and env[name]
        }
        no_proxy = env.get(_env_name(env, "no_proxy") or "no_proxy", "")
        self._no_proxy = tuple(e.strip().lower() for e in no_proxy.split(",") if e.strip())
        self._proxy_loopback = proxy_loopback
        self._routes: dict[_Key, _Proxy | None] = {}
        self.max_idle = max_idle
        self.idle_seconds = idle_seconds
        self._idle: dict[_Key, list[tuple[float, http.client.HTTPConnection]]] = {}
        self._lock = threading.Lock()
        self._context: ssl.SSLContext | None = None
        # Bumped by `close`: a connection checked out before it (a call still under way, such
        # as a troubleshooter's answer nobody waits for) is closed when it comes back, not
        # kept in a pool that `close` already emptied.
        self._generation = 0

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float | None,
    ) -> Response:
        parts = urllib.parse.urlsplit(url)
        key = _origin_key(parts)
        scheme = key[0]
        origin = f"{method} {scheme}://{parts.netloc.rpartition('@')[2]}"
        proxy = self._route(key)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        sent_headers = dict(headers or {})
        if proxy is not None and scheme == "http":
            target = urllib.parse.urlunsplit(
                (scheme, parts.netloc, parts.path or "/", parts.query, "")
            )
            if proxy.authorization:
                sent_headers["Proxy-Authorization"] = proxy.authorization
        for attempt in (1, 2):
            with self._lock:
                generation = self._generation
            connection, reused = self._checkout(key, proxy, timeout)
            whole = False  # the request was handed to the socket in full
            refused = None  # why http.client would not compose the request
            try:
                connection.request(method, target, body=body, headers=sent_headers)
                whole = True
                answer = connection.getresponse()
                data = answer.read()
            except TimeoutError as exc:
                connection.close()
                raise TransportTimeout(f"{origin}: no answer within {timeout}s") from exc
            except ssl.SSLError as exc:
                connection.close()
                raise TransportError(f"{origin}: TLS: {exc.reason or type(exc).__name__}") from exc
            except (ValueError, http.client.InvalidURL) as exc:
                connection.close()
                if whole:
                    raise
                # http.client refused to compose the request (CR or LF in a header value,
                # white space or a character that is not ASCII in the URL): nothing was sent,
                # and no retry can help. Its message, and the error's object, quote the value
                # or the request line (a token, a webhook's path): raised outside this block,
                # so that nothing chains it.
                refused = type(exc).__name__
            except (http.client.HTTPException, OSError) as exc:
                connection.close()
                if attempt == 1 and reused and _never_applied(exc, whole, method):
                    continue  # a connection the server had closed: once more, on a new one
                raise TransportError(f"{origin}: {type(exc).__name__}") from exc
            except BaseException:
                connection.close()
                raise
            if refused is not None:
                raise ValueError(
                    f"{origin}: a header or the URL holds what an HTTP request cannot carry "
                    f"({refused})"
                )
            if answer.will_close or connection.sock is None:
                connection.close()
            else:
                self._checkin(key, connection, generation)
            return _response(answer, data)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close every idle connection (the transport stays usable)."""
        with self._lock:
            idle, self._idle = self._idle, {}
            self._generation += 1
        for connections in idle.values():
            for _, connection in connections:
                connection.close()

    # -- connections ---------------------------------------------------------------------

    def _checkout(
        self, key: _Key, proxy: _Proxy | None, timeout: float | None
    ) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection to `key` that is still open, else a new one; (it, reused)."""
        now = time.monotonic()
        while True:
            with self._lock:
                pool = self._idle.get(key)
                stamp, connection = pool.pop() if pool else (0.0, None)
            if connection is None:
                break
            if now - stamp > self.idle_seconds or _dropped(connection):
                connection.close()
                continue
            connection.timeout = timeout
            if connection.sock is not None:
                connection.sock.settimeout(timeout)
            return connection, True
        scheme, host, port = key
        made: http.client.HTTPConnection
        if scheme == "https":
            context = self._tls()
            if proxy is None:
                made = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
            else:
                made = http.client.HTTPSConnection(
                    proxy.host, proxy.port, timeout=timeout, context=context
                )
                tunnel = (
                    {"Proxy-Authorization": proxy.authorization} if proxy.authorization else None
                )
                made.set_tunnel(host, port, headers=tunnel)
        elif proxy is None:
            made = http.client.HTTPConnection(host, port, timeout=timeout)
        else:
            made = http.client.HTTPConnection(proxy.host, proxy.port, timeout=timeout)
        return made, False

    def _checkin(self, key: _Key, connection: http.client.HTTPConnection, generation: int) -> None:
        with self._lock:
            pool = self._idle.setdefault(key, [])
            if generation == self._generation and len(pool) < self.max_idle:
                pool.append((time.monotonic(), connection))
                return
        connection.close()

    def _tls(self) -> ssl.SSLContext:
        """The TLS context, made on the first TLS connection (see the module)."""
        with self._lock:
            if self._context is None:
                self._context = _tls_context(self._bundle)
            return self._context

    # -- proxies -------------------------------------------------------------------------

    def _route(self, key: _Key) -> _Proxy | None:
        """The proxy for an origin, decided on its first request."""
        if key in self._routes:
            return self._routes[key]
        scheme, host, port = key
        proxy = self._proxies.get(scheme)
        if proxy is not None and (
            (not self._proxy_loopback and _local(host)) or _bypassed(host, port, self._no_proxy)
        ):
            proxy = None
        self._routes[key] = proxy
        return proxy


def _origin_key(parts: urllib.parse.SplitResult) -> _Key:
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in ("http", "https") or not host:
        raise ValueError(f"not an http(s) URL: {scheme}://{host or ''}")
    return scheme, host, parts.port or (443 if scheme == "https" else 80)


def _response(answer: http.client.HTTPResponse, data: bytes) -> Response:
    joined: dict[str, str] = {}
    for name, value in answer.getheaders():
        lower = name.lower()
        joined[lower] = f"{joined[lower]}, {value}" if lower in joined else value
    return Response(answer.status, joined, data)


def _env_name(env: Mapping[str, str], lower: str) -> str | None:
    """The variable to read: the lower-case name if set, else the upper-case one."""
    for name in (lower, lower.upper()):
        if env.get(name):
            return name
    return None


def _proxy(variable: str, url: str) -> _Proxy:
    parsed = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
    if parsed.scheme != "http" or not parsed.hostname:
        raise ConfigError(
            f"{variable}: only an http:// proxy (http://HOST:PORT) is supported, "
            f"got {parsed.scheme}://"
        )
    try:
        port = parsed.port or 80
    except ValueError:
        raise ConfigError(f"{variable}: the proxy's port is not a number") from None
    authorization = None
    if parsed.username is not None:
        pair = (
            f"{urllib.parse.unquote(parsed.username)}:{urllib.parse.unquote(parsed.password or '')}"
        )
        authorization = "Basic " + base64.b64encode(pair.encode()).decode()
    return _Proxy(parsed.hostname, port, authorization)


def _local(host: str) -> bool:
    """This machine or the metadata server (link-local), which no proxy can reach."""
    if host == "localhost" or host.endswith(".localhost") or host in _METADATA_HOSTS:
        return True
    address = _ip(host)
    return address is not None and (address.is_loopback or address.is_link_local)


def _ip(host: str) -> Any:
    if not host[:1].isdigit() and ":" not in host:
        return None  # a name (ipaddress is loaded only for an address)
    import ipaddress

    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _bypassed(host: str, port: int, entries: tuple[str, ...]) -> bool:
    """Whether NO_PROXY names the host (curl's and requests' reading of it)."""
    host = host.lower()
    for entry in entries:
        if entry == "*":
            return True
        name, want = entry, None
        if entry.count(":") == 1:  # host:port (an IPv6 address has more colons)
            name, _, digits = entry.partition(":")
            want = int(digits) if digits.isdigit() else None
        elif entry.startswith("[") and "]:" in entry:
            name, _, digits = entry[1:].partition("]:")
            want = int(digits) if digits.isdigit() else None
        if want is not None and want != port:
            continue
        name = name.strip("[]")
        if "/" in name or _ip(name) is not None:
            address = _ip(host)
            if address is None:
                continue
            import ipaddress

            try:
                if address in ipaddress.ip_network(name, strict=False):
                    return True
            except ValueError:
                continue
            continue
        name = name.lstrip(".")
        if name and (host == name or host.endswith(f".{name}")):
            return True
    return False


def _tls_context(bundle: tuple[str, str] | None) -> ssl.SSLContext:
    """The default context, or one trusting only the bundle (a file, or a directory of
    hashed certificates, as requests takes it)."""
    path = bundle[1] if bundle else None
    try:
        if path is not None and os.path.isdir(path):
            return ssl.create_default_context(capath=path)
        return ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        assert bundle is not None
        raise ConfigError(
            f"{bundle[0]}: cannot read the CA bundle it names ({type(exc).__name__})"
        ) from None


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """Whether an idle connection was closed by the server: an idle socket that reads as
    readable has reached its end (or holds bytes no request asked for): unusable."""
    sock = connection.sock
    if sock is None:
        return True
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


def _never_applied(exc: BaseException, whole: bool, method: str) -> bool:
    """Whether a request that broke on a reused connection may be sent again: it broke
    while being sent (the server never had all of it), or the server closed the connection
    without a byte of answer and the method may be received twice."""
    broken = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)
    if not whole:
        return isinstance(exc, broken)
    return isinstance(exc, (http.client.RemoteDisconnected, *broken)) and method in IDEMPOTENT


# -- google-auth -----------------------------------------------------------------------------


class _AnyCase(dict[str, str]):
    """Headers by lower-case name, found by any case (as requests' are)."""

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)


@cache
def _auth_request_class() -> type[Any]:
    """google.auth.transport.Request on a Transport; made on first use, so that a process
    without Google credentials (a sandbox) loads nothing of google-auth."""
    from google.auth import exceptions
    from google.auth import transport as auth_transport

    class _AuthResponse(auth_transport.Response):
        def __init__(self, response: Response) -> None:
            self._response = response

        @property
        def status(self) -> int:
            return self._response.status

        @property
        def headers(self) -> Mapping[str, str]:
            return _AnyCase(self._response.headers)

        @property
        def data(self) -> bytes:
            return self._response.body

    class AuthRequest(auth_transport.Request):
        """google-auth's transport interface (google.auth.transport.Request) on a
        Transport: what credentials refresh their tokens with, and what
        google.oauth2.id_token fetches certificates with."""

        def __init__(self, transport: Transport, timeout: float | None = None) -> None:
            self.transport = transport
            self.timeout = timeout

        def __call__(
            self,
            url: str,
            method: str = "GET",
            body: bytes | str | None = None,
            headers: Mapping[str, str] | None = None,
            timeout: float | None = None,
            **kwargs: Any,
        ) -> _AuthResponse:
            data = body.encode() if isinstance(body, str) else body
            wait = timeout if timeout is not None else self.timeout
            try:
                answer = self.transport.request(
                    method,
                    url,
                    headers=headers,
                    body=data,
                    timeout=wait if wait is not None else AUTH_DEFAULT_TIMEOUT,
                )
            except TransportError as exc:
                raise exceptions.TransportError(str(exc)) from exc  # type: ignore[no-untyped-call]
            return _AuthResponse(answer)

        def __deepcopy__(self, memo: dict[int, Any]) -> AuthRequest:
            # google-auth copies the request it hands a background refresh thread (the
            # regional access boundary's); a Transport is shared between threads by design.
            return self

    return AuthRequest


def auth_request(transport: Transport, timeout: float | None = None) -> Any:
    """A `google.auth.transport.Request` that sends on `transport` (`timeout`: for the calls
    that name none)."""
    return _auth_request_class()(transport, timeout)


class AuthorizedTransport:
    """`transport` with google-auth `credentials` applied to each request
    (`credentials.before_request`, which refreshes an expired token first). A 401 answer
    refreshes the credentials and sends the request once more (Google refused it without
    acting on it), as google-auth's AuthorizedSession does; a second 401 is the answer."""

    def __init__(self, transport: Transport, credentials: Any) -> None:
        self.transport = transport
        self.credentials = credentials
        self._refresh_lock = threading.Lock()

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float | None,
    ) -> Response:
        token_request = auth_request(self.transport, timeout)
        for attempt in (1, 2):
            sent = dict(headers or {})
            self.credentials.before_request(token_request, method, url, sent)
            used = getattr(self.credentials, "token", None)
            answer = self.transport.request(method, url, headers=sent, body=body, timeout=timeout)
            if answer.status != 401 or attempt == 2:
                return answer
            with self._refresh_lock:
                # Another thread may have refreshed meanwhile: its token is the new one.
                if getattr(self.credentials, "token", None) == used:
                    self.credentials.refresh(token_request)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        self.transport.close()
