"""`pullfix classify` and `pullfix demo` as a user runs them: the installed console script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from pullfix.dev.events import log_entry, pull_message, push_body, structured_cloudevent

PULLFIX = shutil.which("pullfix") or str(Path(sys.executable).parent / "pullfix")


def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [PULLFIX, *args], input=stdin, capture_output=True, timeout=60, check=False
    )


def _entry(message: str, reason: str = "Failed") -> dict[str, Any]:
    return log_entry(
        project="p1",
        location="us-central1",
        cluster="c1",
        namespace="shop",
        pod="web-1",
        node="gke-c1-default-pool-1a2b3c4d-x7k9",
        message=message,
        reason=reason,
        controller=("Deployment", "web"),
        container="web",
    )


def test_classify_streams_one_line_per_input_line_in_order(tmp_path: Path) -> None:
    image = "us-central1-docker.pkg.dev/other/app/web:1"
    denied = _entry(pull_message(image, "403 Forbidden"))
    lines = [
        json.dumps(denied),
        json.dumps(push_body(_entry(pull_message("busybox", "toomanyrequests")))),
        "this is not json",
        json.dumps(
            structured_cloudevent(
                push_body(_entry("Back-off restarting failed container", "BackOff"))
            )
        ),
        "",
        '{"message": {"data": "@@@"}}',
    ]
    path = tmp_path / "events.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode() + b"\xff\xfe\n")
    done = run("classify", str(path))
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert len(out) == 7
    assert out[0]["cause"] == "cross_project"
    assert out[0]["cluster"] == "projects/p1/locations/us-central1/clusters/c1"
    assert out[0]["ar_repository"] == "projects/other/locations/us-central1/repositories/app"
    assert (out[0]["namespace"], out[0]["pod"], out[0]["node"]) == (
        "shop",
        "web-1",
        "gke-c1-default-pool-1a2b3c4d-x7k9",
    )
    assert out[0]["image"] == image
    assert out[0]["reasons"]
    assert out[1]["cause"] == "rate_limit"
    assert out[1]["ar_repository"] is None
    assert out[2]["error"].startswith("line 3: not JSON")
    assert out[3]["cause"] == "not_a_pull_failure"
    assert out[3]["image"] is None
    assert out[4] == {"error": "line 5: empty line"}
    assert "not base64" in out[5]["error"]
    assert "not UTF-8" in out[6]["error"]


def test_classify_reads_stdin() -> None:
    entry = json.dumps(_entry('Back-off pulling image "busybox"', "BackOff")).encode()
    for args in (("classify",), ("classify", "-")):
        done = run(*args, stdin=entry + b"\n")
        assert done.returncode == 0
        assert json.loads(done.stdout)["cause"] == "unknown"


def test_classify_unreadable_input_is_an_error(tmp_path: Path) -> None:
    done = run("classify", str(tmp_path / "missing.jsonl"))
    assert done.returncode == 3
    assert b"cannot read" in done.stderr
    assert done.stdout == b""


def test_classify_imports_no_google_client(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text(json.dumps(_entry(pull_message("gcr.io/p1/a", "403 Forbidden"))) + "\n")
    code = (
        "import sys, io, contextlib\n"
        "before = set(sys.modules)\n"
        "from pullfix.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main(['classify', {str(path)!r}]) == 0\n"
        "new = set(sys.modules) - before\n"
        "loaded = sorted(m for m in new if m.startswith(('google', 'grpc')))\n"
        "print(loaded)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


def test_demo_prints_a_table_and_exits_zero() -> None:
    done = run("demo")
    assert done.returncode == 0, done.stderr
    text = done.stdout.decode()
    for cause in ("cross_project", "not_found", "network", "rate_limit", "not_a_pull_failure"):
        assert cause in text
    assert "cause" in text and "events" in text


def test_version_and_usage() -> None:
    done = run("--version")
    assert done.returncode == 0 and done.stdout.decode().startswith("pullfix ")
    assert run().returncode == 2
    listed = run("--help")
    assert listed.returncode == 0
    for command in (b"classify", b"replay", b"diagnose", b"scan", b"sandbox", b"demo"):
        assert command in listed.stdout
