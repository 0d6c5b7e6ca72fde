"""JSON for the hot path (intake, `pullfix classify`): orjson where it can, the standard
library where orjson refuses what the standard library accepts.

orjson parses and writes several times faster than `json` (it is a compiled extension with
no imports of its own). It refuses some documents `json` accepts (NaN and Infinity, lone
surrogates in strings); those fall back to `json`, so the errors pullfix reports stay the
standard library's. (Integers beyond 64 bits it reads as floats; no field pullfix reads is
a number.) A lone surrogate is refused either way: it is no text, and nothing downstream
(hashing, logging, output) could encode it.
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
        return _checked(json.loads(data))


def _checked(value: Any) -> Any:
    """A value the standard library read where orjson would not: refuse lone surrogates."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"a string holds a lone surrogate ({exc.object[exc.start : exc.end]!a}), "
            "which is not text"
        ) from None
    return value


def loads_utf8(data: bytes) -> Any:
    """`loads` of UTF-8 bytes; UnicodeDecodeError (with its position) when they are not."""
    try:
        return orjson.loads(data)  # validates UTF-8 as it parses
    except orjson.JSONDecodeError:
        return _checked(json.loads(data.decode("utf-8")))


def dumps(value: Any) -> str:
    """Compact JSON text, non-ASCII kept as is (json.dumps with ensure_ascii=False)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
