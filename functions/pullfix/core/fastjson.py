"""JSON for the hot path (intake, `pullfix classify`): orjson where it can, the standard
library where orjson refuses what the standard library accepts.

orjson parses and writes several times faster than `json` (it is a compiled extension with
no imports of its own). It refuses some documents `json` accepts: NaN and Infinity, integers
beyond 64 bits, lone surrogates in strings. Those fall back to `json`, so what pullfix
accepts and the errors it reports stay the standard library's.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["dumps", "loads", "loads_utf8"]


def loads(data: str | bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def loads_utf8(data: bytes) -> Any:
    """`loads` of UTF-8 bytes; UnicodeDecodeError (with its position) when they are not."""
    try:
        return orjson.loads(data)  # validates UTF-8 as it parses
    except orjson.JSONDecodeError:
        return json.loads(data.decode("utf-8"))


def dumps(value: Any) -> str:
    """Compact JSON text, non-ASCII kept as is (json.dumps with ensure_ascii=False)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
