"""Plain-text tables for the command line: as wide as the terminal, colour only where wanted."""

from __future__ import annotations

import os
import re
import shutil
from typing import TextIO

__all__ = ["colour_enabled", "paint", "render_table", "terminal_width"]

_ANSI_RE = re.compile(r"\033\[[0-9;]*m")
_MIN_COLUMN = 8


def colour_enabled(out: TextIO) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    return out.isatty() and not os.environ.get("NO_COLOR")


def paint(text: str, colour: str | None, out: TextIO) -> str:
    """`text` in the ANSI colour `colour` (e.g. "31"), when `out` wants colour."""
    return f"\033[{colour}m{text}\033[0m" if colour and colour_enabled(out) else text


def terminal_width() -> int:
    """The terminal's columns ($COLUMNS first); 120 when there is no terminal."""
    return shutil.get_terminal_size((120, 24)).columns


def _visible(cell: str) -> int:
    return len(_ANSI_RE.sub("", cell))


def _fit(cell: str, width: int) -> str:
    """`cell` cut to `width` visible characters with an ellipsis; colour codes kept whole."""
    if _visible(cell) <= width:
        return cell + " " * (width - _visible(cell))
    plain = _ANSI_RE.sub("", cell)[: width - 1] + "…"
    codes = _ANSI_RE.findall(cell)
    return f"{codes[0]}{plain}\033[0m" if codes else plain


def render_table(headers: list[str], rows: list[list[str]], width: int | None = None) -> str:
    """A table whose columns are as wide as their widest cell, shrunk (widest first, cells cut
    with "…") so that each line fits `width` (default: the terminal's)."""
    limit = terminal_width() if width is None else width
    columns = list(zip(headers, *rows, strict=True))
    widths = [max(_visible(str(cell)) for cell in column) for column in columns]
    gaps = 2 * (len(widths) - 1)
    while sum(widths) + gaps > limit and max(widths) > _MIN_COLUMN:
        widest = widths.index(max(widths))
        widths[widest] = max(_MIN_COLUMN, widths[widest] - (sum(widths) + gaps - limit))
    lines = ["  ".join(_fit(h, w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(
        "  ".join(_fit(str(c), w) for c, w in zip(row, widths, strict=True)) for row in rows
    )
    return "\n".join(line.rstrip() for line in lines)
