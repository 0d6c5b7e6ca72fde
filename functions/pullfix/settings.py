"""Where the settings come from: the files and the environment, read here and nowhere in core.

`pullfix.core.config` builds a Config from a file's bytes; this module finds and reads them
(the file PULLFIX_CONFIG names, for the functions and the command line), and reads the YAML
files the sandbox's world comes from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pullfix.core.config import (
    CONFIG_VARIABLE,
    MAX_CONFIG_BYTES,
    Config,
    ConfigError,
    config_from_yaml,
)
from pullfix.core.schema import MAX_BYTES, parse_yaml

__all__ = ["config_from_env", "load_config", "load_yaml", "read_limited"]


def read_limited(path: str | Path, what: str, error: type[ValueError], max_bytes: int) -> bytes:
    """The bytes of a file, one more than `max_bytes` at most (the parser refuses a file
    that long); `error` names the file when it cannot be read."""
    try:
        with open(path, "rb") as stream:
            return stream.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror}") from exc


def load_yaml(
    path: str | Path,
    what: str,
    error: type[ValueError],
    *,
    max_bytes: int = MAX_BYTES,
    strict: bool = False,
) -> Any:
    """The YAML document in a file, checked as `pullfix.core.schema.parse_yaml` checks it."""
    raw = read_limited(path, what, error, max_bytes)
    return parse_yaml(raw, f"{what} {path}", error, max_bytes=max_bytes, strict=strict)


def load_config(path: str | Path | None) -> Config:
    """Read and validate a config file; None gives the defaults."""
    if path is None:
        return Config()
    raw = read_limited(path, "config file", ConfigError, MAX_CONFIG_BYTES)
    return config_from_yaml(raw, str(path))


def config_from_env(environ: Mapping[str, str] | None = None) -> Config:
    """The config named by PULLFIX_CONFIG (in `environ`, by default the process's), or the
    defaults."""
    environ = os.environ if environ is None else environ
    return load_config(environ.get(CONFIG_VARIABLE) or None)
