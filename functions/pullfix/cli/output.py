"""`--format table|json|yaml`: one way every command prints its results.

JSON is JSON Lines where a command reports one object per event or incident (`classify`,
`replay`, `scan`): those streams can be long, each line stands alone, and `jq -s` gathers
them. A command with one answer (`diagnose`, `config validate`) prints one JSON object.
YAML is always one document: the list of those objects, or the one object.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from typing import Any, TextIO

import yaml

__all__ = ["add_format_argument", "output_format", "write_json_line", "write_structured"]

FORMATS = ("table", "json", "yaml")


def add_format_argument(parser: argparse.ArgumentParser, json_help: str) -> None:
    """`--format` and its historical short form `--json`."""
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help=f"output: table (default), json ({json_help}) or yaml",
    )
    parser.add_argument(
        "--json",
        dest="format",
        action="store_const",
        const="json",
        help="same as --format json",
    )


def output_format(args: argparse.Namespace) -> str:
    return str(getattr(args, "format", None) or "table")


def write_json_line(record: Any, out: TextIO) -> None:
    out.write(json.dumps(record, ensure_ascii=False) + "\n")


def write_structured(value: Any, fmt: str, out: TextIO) -> None:
    """`value` as one JSON object or one YAML document (lists stream as JSON Lines)."""
    if fmt == "yaml":
        out.write(yaml.safe_dump(_plain(value), sort_keys=False, allow_unicode=True))
    elif isinstance(value, list):
        for record in value:
            write_json_line(record, out)
    else:
        write_json_line(value, out)


def _plain(value: Any) -> Any:
    """JSON-shaped data only (tuples become lists), so that YAML and JSON say the same."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        return [_plain(v) for v in value]
    return value
