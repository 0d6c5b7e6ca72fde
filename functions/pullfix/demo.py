"""`pullfix demo`: pullfix run on bundled sample events, ending with a summary table."""

from __future__ import annotations

from collections import Counter
from importlib import resources
from typing import TextIO

from pullfix.classify import offline_record
from pullfix.intake import parse_json

__all__ = ["render_table", "run_demo", "sample_events"]


def sample_events() -> list[bytes]:
    """The bundled sample events, one JSON document per line."""
    text = resources.files("pullfix").joinpath("samples/events.jsonl").read_bytes()
    return [line for line in text.splitlines() if line.strip()]


def render_table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain-text table with columns as wide as their widest cell."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows
    )
    return "\n".join(line.rstrip() for line in lines)


def run_demo(out: TextIO) -> int:
    """Classify the bundled events offline and print what pullfix concluded."""
    events = sample_events()
    rows: list[list[str]] = []
    causes: Counter[str] = Counter()
    for number, raw in enumerate(events, start=1):
        record = offline_record(parse_json(raw))
        if "error" in record:
            rows.append([str(number), "-", "-", "rejected", str(record["error"])])
            causes["rejected (malformed)"] += 1
            continue
        cause = str(record["cause"])
        causes[cause] += 1
        reasons = record["reasons"]
        first_reason = reasons[0] if isinstance(reasons, list) and reasons else ""
        rows.append(
            [
                str(number),
                f"{record['namespace']}/{record['workload'] or record['pod']}",
                str(record["image"] or "-"),
                cause,
                str(first_reason),
            ]
        )
    out.write(f"pullfix demo: {len(events)} bundled events, classified offline\n\n")
    out.write(render_table(["#", "workload", "image", "cause", "why"], rows) + "\n\n")
    summary = [
        [cause, str(n)] for cause, n in sorted(causes.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    out.write(render_table(["cause", "events"], summary) + "\n")
    out.write(f"\n{len(events)} events, {len(causes)} distinct outcomes\n")
    return 0
