"""`pullfix sandbox serve` as a user runs it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from pullfix.dev.localrun import wait_for_port
from pullfix.dev.sandbox import _free_port_pair
from tests.integration.conftest import TEST_WORLD

pytestmark = pytest.mark.integration
PULLFIX = str(Path(sys.executable).parent / "pullfix")


def test_serve_answers_and_logs_each_request(tmp_path: Path) -> None:
    port = _free_port_pair()
    log = tmp_path / "sandbox.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                PULLFIX,
                "sandbox",
                "serve",
                "--world",
                str(TEST_WORLD),
                "--port",
                str(port),
                "--strict",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(port, 30, process)  # type: ignore[arg-type]
            wait_for_port(port + 1, 30, process)  # type: ignore[arg-type]
            url = f"http://127.0.0.1:{port}/v1/projects/shop-prod/locations/us-central1/clusters/checkout"
            with urllib.request.urlopen(url, timeout=10) as response:
                assert json.loads(response.read())["name"] == "checkout"
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/_sandbox/stats", timeout=10
            ) as response:
                assert json.loads(response.read())["total"] == 1
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=15) == 0
    text = log.read_text()
    assert f"export PULLFIX_GCP_ENDPOINT=http://127.0.0.1:{port}" in text
    assert (
        "sandbox 200 GET /v1/projects/shop-prod/locations/us-central1/clusters/checkout "
        "container.projects.locations.clusters.get" in text
    )


def test_serve_refuses_a_bad_world(tmp_path: Path) -> None:
    world = tmp_path / "world.yaml"
    world.write_text("projects: {Shop: {number: 1}}\n")
    done = subprocess.run(
        [PULLFIX, "sandbox", "serve", "--world", str(world)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 3
    assert "projects.Shop: 'Shop' is not a project id" in done.stderr


@pytest.mark.parametrize("taken", [0, 1], ids=["rest-port", "grpc-port"])
def test_a_taken_port_is_a_clear_error(taken: int) -> None:
    import socket

    port = _free_port_pair()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", port + taken))
        holder.listen()
        done = subprocess.run(
            [PULLFIX, "sandbox", "serve", "--world", str(TEST_WORLD), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 3
    assert f"cannot listen on ports {port} and {port + 1}" in done.stderr
