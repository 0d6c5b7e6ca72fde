"""Structured log lines: one JSON object per line on stdout, as Cloud Logging parses them."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

__all__ = ["log", "logs_to"]

# Cloud Logging reads a function's stdout; command-line tools send logs to stderr instead,
# within `logs_to`, which alone changes this.
_stream: TextIO | None = None


@contextmanager
def logs_to(stream: TextIO | None) -> Iterator[None]:
    """Within the block, log lines go to `stream` (None: stdout), from every thread; on
    leaving it, however, they go where they went before."""
    global _stream  # noqa: PLW0603 - one log destination per process, set only here
    previous, _stream = _stream, stream
    try:
        yield
    finally:
        _stream = previous


def log(
    severity: str, message: str, fields: dict[str, Any] | None = None, stream: TextIO | None = None
) -> None:
    """Write one structured entry; `severity` and `message` are what Cloud Logging shows."""
    entry = {"severity": severity, "message": message, **(fields or {})}
    out = stream or _stream or sys.stdout
    out.write(json.dumps(entry, default=str, ensure_ascii=False, separators=(",", ":")) + "\n")
    out.flush()
