"""Run pullfix's functions locally under functions-framework, on loopback, for demos and tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO

__all__ = ["ENTRYPOINTS", "FunctionServer", "free_port", "post", "wait_for_port"]

# The package's own entry-point module: served as is, from a checkout or an installed wheel.
ENTRYPOINTS = Path(__file__).resolve().parents[1] / "entrypoints.py"


def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float = 60.0) -> int:
    """POST to a local server; the HTTP status it answers (0 if it cannot be reached)."""
    if not url.startswith(("http://127.0.0.1:", "http://localhost:")):
        raise ValueError(f"not a loopback URL: {url}")
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code
    except OSError:
        return 0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(
    port: int, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Block until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")


class FunctionServer:
    """One function of pullfix (or of `source`) served by functions-framework: a CloudEvent
    function, or an HTTP one (`signature_type="http"`: `approve`)."""

    def __init__(
        self,
        target: str,
        *,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        log_path: Path | None = None,
        source: Path | None = None,
        python: str | None = None,
        signature_type: str = "cloudevent",
    ) -> None:
        self.target = target
        self.signature_type = signature_type
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = log_path
        self._env = dict(env or {})
        self._source = source or ENTRYPOINTS
        # Another interpreter (a virtual environment with the functions' runtime only).
        self._python = python or sys.executable
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, timeout: float = 30.0) -> FunctionServer:
        """Start the server and wait until it accepts connections."""
        env = {**os.environ, **self._env, "PYTHONUNBUFFERED": "1"}
        command = [
            self._python,
            "-m",
            "functions_framework",
            "--target",
            self.target,
            "--source",
            str(self._source),
            "--signature-type",
            self.signature_type,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        stdout: int | IO[bytes] = subprocess.DEVNULL
        if self.log_path is not None:
            self._log = stdout = self.log_path.open("ab")
        # Run beside the package, not inside it: the working directory leads sys.path.
        cwd = ENTRYPOINTS.parents[1] if self._source == ENTRYPOINTS else self._source.parent
        self._process = subprocess.Popen(  # noqa: S603 - fixed argv, our own interpreter
            command,
            env=env,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,  # its own process group: kill() takes the whole tree
        )
        try:
            wait_for_port(self.port, timeout, self._process)
        except BaseException:
            self.stop()
            raise
        return self

    def kill(self) -> None:
        """SIGKILL the server's whole process tree, as a crashed instance dies: no cleanup."""
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
        self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self) -> None:
        """Stop the server and wait for it to exit."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> FunctionServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
