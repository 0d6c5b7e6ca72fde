"""Where structured log lines go: stdout, or a stream for the length of a `with` block."""

from __future__ import annotations

import io
import json

import pytest

from pullfix.logs import log, logs_to


def test_lines_go_to_the_block_s_stream_and_back_to_stdout_after(
    capsys: pytest.CaptureFixture[str],
) -> None:
    outer, inner = io.StringIO(), io.StringIO()
    with logs_to(outer):
        log("INFO", "one")
        with logs_to(inner):
            log("INFO", "two")
        log("INFO", "three")
    log("INFO", "four")
    assert [json.loads(line)["message"] for line in outer.getvalue().splitlines()] == [
        "one",
        "three",
    ]
    assert json.loads(inner.getvalue())["message"] == "two"
    assert json.loads(capsys.readouterr().out) == {"severity": "INFO", "message": "four"}


def test_an_error_inside_the_block_gives_the_destination_back(
    capsys: pytest.CaptureFixture[str],
) -> None:
    stream = io.StringIO()
    with pytest.raises(RuntimeError), logs_to(stream):
        raise RuntimeError("the command failed")
    log("WARNING", "after")
    assert stream.getvalue() == ""
    assert json.loads(capsys.readouterr().out)["message"] == "after"
