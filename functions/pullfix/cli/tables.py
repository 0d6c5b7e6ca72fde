"""Plain-text tables for the command line: as wide as the terminal, colour only where wanted."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Collection
from typing import TextIO

__all__ = ["colour_enabled", "paint", "render_table", "terminal_width"]

_ANSI_RE = re.compile(r"\033\[[0-9;]*m")
_MIN_COLUMN = 8
# Characters of an image's path an image column keeps beside its tag or digest before any
# other column has been shrunk as far as it goes.
_IMAGE_PATH_KEPT = 12


def colour_enabled(out: TextIO) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    return out.isatty() and not os.environ.get("NO_COLOR")


class Painted(str):
    """A cell pullfix coloured itself: its escape codes are pullfix's, kept as they are."""

    __slots__ = ()


def paint(text: str, colour: str | None, out: TextIO) -> str:
    """`text` in the ANSI colour `colour` (e.g. "31"), when `out` wants colour."""
    return Painted(f"\033[{colour}m{text}\033[0m") if colour and colour_enabled(out) else text


def shown(text: str) -> str:
    """`text` with every character a terminal would act on or hide spelled out (`\\x1b`,
    `\\u202e`): an image or a namespace from an event can clear the screen, link, or
    reorder what the operator reads otherwise (controls, bidi and other format
    characters, line and paragraph separators)."""
    if text.isprintable():
        return text
    return "".join(
        ch
        if ch.isprintable() or ch == " "
        else (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        if ord(ch) <= 0xFFFF
        else f"\\U{ord(ch):08x}"
        for ch in text
    )


def terminal_width() -> int:
    """The terminal's columns ($COLUMNS first); 120 when there is no terminal."""
    return shutil.get_terminal_size((120, 24)).columns


def _visible(cell: str) -> int:
    return len(_ANSI_RE.sub("", cell))


def _fit(cell: str, width: int, image: bool = False) -> str:
    """`cell` cut to `width` visible characters with an ellipsis; colour codes kept whole.
    An image reference (`image`) is cut in the middle of its path, so that its tag or
    digest stays readable."""
    if _visible(cell) <= width:
        return cell + " " * (width - _visible(cell))
    text = _ANSI_RE.sub("", cell)
    plain = _cut_image(text, width) if image else text[: width - 1] + "…"
    codes = _ANSI_RE.findall(cell)
    return f"{codes[0]}{plain}\033[0m" if codes else plain


def _cut_image(ref: str, width: int) -> str:
    """`ref`, longer than `width`, in `width` characters that end with its `:tag` or
    `@digest`: `us-docker.pkg.dev/shop/apps/web:1.4` → `us-dock…/apps/web:1.4`. When not
    even the tag or digest fits beside a character of the path on each side, the last
    `width - 1` characters, after the ellipsis."""
    path, end = _split_image(ref)
    room = width - 1 - len(end)  # characters of the path kept around the ellipsis
    if room < 2:
        return "…" + ref[len(ref) - (width - 1) :]
    head = (room + 1) // 2
    return path[:head] + "…" + path[len(path) - (room - head) :] + end


def _split_image(ref: str) -> tuple[str, str]:
    """(path, end): the end is `@digest` (with any tag before it) or `:tag`, else empty."""
    at = ref.find("@")
    if at < 0:
        colon, slash = ref.rfind(":"), ref.rfind("/")
        at = colon if colon > slash else len(ref)
    return ref[:at], ref[at:]


def _end_width(cell: object) -> int:
    return len(_split_image(_ANSI_RE.sub("", str(cell)))[1])


def render_table(
    headers: list[str],
    rows: list[list[str]],
    width: int | None = None,
    *,
    image_columns: Collection[str] = ("image",),
) -> str:
    """A table whose columns are as wide as their widest cell, shrunk (widest first, cells cut
    with "…") so that each line fits `width` (default: the terminal's). The cells of the
    columns headed by a name in `image_columns` are image references: cut in the middle,
    they keep their tag or digest."""
    limit = terminal_width() if width is None else width
    headers = [shown(h) for h in headers]
    rows = [[c if isinstance(c, Painted) else shown(str(c)) for c in row] for row in rows]
    columns = list(zip(headers, *rows, strict=True))
    widths = [max(_visible(str(cell)) for cell in column) for column in columns]
    gaps = 2 * (len(widths) - 1)
    images = [header in image_columns for header in headers]
    # An image column gives way last below the width of its longest tag or digest and a few
    # characters of path; any column may then shrink to _MIN_COLUMN.
    floors = [
        min(width, max(_MIN_COLUMN, _IMAGE_PATH_KEPT + max(_end_width(c) for c in column)))
        if image
        else _MIN_COLUMN
        for column, width, image in zip(columns, widths, images, strict=True)
    ]
    for floor in (floors, [_MIN_COLUMN] * len(widths)):
        while sum(widths) + gaps > limit:
            shrinkable = [i for i, w in enumerate(widths) if w > floor[i]]
            if not shrinkable:
                break
            widest = max(shrinkable, key=widths.__getitem__)
            excess = sum(widths) + gaps - limit
            widths[widest] = max(floor[widest], widths[widest] - excess)
    lines = ["  ".join(_fit(h, w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(
        "  ".join(_fit(str(c), w, image) for c, w, image in zip(row, widths, images, strict=True))
        for row in rows
    )
    return "\n".join(line.rstrip() for line in lines)
