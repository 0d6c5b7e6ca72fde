"""Structured log lines: one JSON object per line on stdout, as Cloud Logging parses them."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

__all__ = ["log", "log_to"]

# Cloud Logging reads a function's stdout; command-line tools send logs to stderr instead.
_stream: TextIO | None = None


def log_to(stream: TextIO | None) -> TextIO | None:
    """Send log lines to `stream` (None: stdout, the default); the destination before."""
    global _stream  # one log destination per process
    previous, _stream = _stream, stream
    return previous


def log(
    severity: str, message: str, fields: dict[str, Any] | None = None, stream: TextIO | None = None
) -> None:
    """Write one structured entry; `severity` and `message` are what Cloud Logging shows."""
    entry = {"severity": severity, "message": message, **(fields or {})}
    out = stream or _stream or sys.stdout
    out.write(json.dumps(entry, default=str, ensure_ascii=False, separators=(",", ":")) + "\n")
    out.flush()
