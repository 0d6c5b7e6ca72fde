"""The sandbox: pullfix's local double of the Google APIs it calls, on their wire protocols.

REST (JSON over HTTP/1.1) on `http://127.0.0.1:PORT`, gRPC on `127.0.0.1:PORT+1`; the
single setting `PULLFIX_GCP_ENDPOINT=http://127.0.0.1:PORT` lets every adapter find both
(see `pullfix.gcp.endpoints`).
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO

from pullfix.dev.sandbox.httpserver import KeepAliveServer
from pullfix.dev.sandbox.push import PushDelivery
from pullfix.dev.sandbox.rest import RestApp
from pullfix.dev.sandbox.state import Fault, SandboxState
from pullfix.dev.sandbox.world import World, WorldError, load_world

if TYPE_CHECKING:
    from pullfix.dev.sandbox.firestore import FirestoreStore
    from pullfix.dev.sandbox.grpcsvc import GrpcServer

__all__ = ["Fault", "Sandbox", "World", "WorldError", "load_world"]


def _free_port_pair() -> int:
    """A port P such that P and P+1 are both free on 127.0.0.1."""
    for _ in range(100):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
            if port >= 65535:
                continue
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return port
    raise OSError("no free pair of adjacent ports on 127.0.0.1")


class Sandbox:
    """Both sandbox servers over one world; a context manager."""

    def __init__(
        self,
        world: World | str | Path,
        *,
        port: int = 0,
        strict: bool = False,
        log: TextIO | None = None,
        push_max_attempts: int = 8,
        push_min_backoff: float = 0.05,
        grpc: bool = True,
    ) -> None:
        """`grpc=False`: no gRPC server on port+1 (IAM admin's generated client is the only
        one that speaks it, and pullfix's own code reads IAM admin over REST), and grpc is
        not loaded."""
        self.state = SandboxState(world if isinstance(world, World) else load_world(world))
        self.pusher = PushDelivery(max_attempts=push_max_attempts, min_backoff=push_min_backoff)
        self.app = RestApp(self.state, self.pusher, strict=strict, log=log)
        self.serves_grpc = grpc
        self.port = port or _free_port_pair()
        self._http: KeepAliveServer | None = None
        self._grpc: GrpcServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        """The value of PULLFIX_GCP_ENDPOINT that reaches this sandbox."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.port + 1}"

    @property
    def store(self) -> FirestoreStore:
        """The sandbox's Firestore documents (made at their first use)."""
        return self.app.store

    @property
    def world(self) -> World:
        return self.state.world

    def start(self) -> Sandbox:
        """Listen on both ports; OSError when either is taken."""
        for port in (self.port, self.port + 1):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.bind(("127.0.0.1", port))
        if self.serves_grpc:
            from pullfix.dev.sandbox.grpcsvc import GrpcServer

            self._grpc = GrpcServer(self.state, self.port + 1)
            self._grpc.start()
        self._http = KeepAliveServer(self.port, self.app)
        self._thread = threading.Thread(
            target=self._http.serve_forever,
            name="sandbox-rest",
            kwargs={"poll_interval": 0.1},
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http.close_connections()
            self._http = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._grpc is not None:
            self._grpc.stop()
            self._grpc = None
        self.pusher.stop()

    def add_fault(self, **fault: Any) -> None:
        """Inject a fault (see `pullfix.dev.sandbox.state.Fault`)."""
        self.state.add_fault(Fault.from_dict(fault))

    def stats(self) -> dict[str, Any]:
        return self.state.stats()

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every pushed message is delivered or dead-lettered."""
        return self.pusher.drain(timeout)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
