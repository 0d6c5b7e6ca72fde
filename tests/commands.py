"""`pullfix` run in the test's own process: its exit code, stdout and stderr as the command
gives them, without the start-up of a process of its own (the command's process behaviour —
a closed pipe, a missing credential — is held by tests that run it as one)."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys

import pytest

from pullfix.cli.main import main


def pullfix(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`pullfix ARGS` with `stdin` as its standard input; argparse's usage errors give their
    exit code as the process would."""
    out, err = io.StringIO(), io.StringIO()
    with (
        pytest.MonkeyPatch.context() as patch,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        patch.setattr(sys, "stdin", io.StringIO(stdin))
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return subprocess.CompletedProcess(["pullfix", *args], code, out.getvalue(), err.getvalue())
