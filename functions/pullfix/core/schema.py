"""Checks shared by the config and world loaders: each names the field that is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["load_yaml", "mapping"]


def mapping(
    value: object, where: str, allowed: tuple[str, ...] | None, error: type[ValueError]
) -> dict[str, Any]:
    """`value` as a mapping whose keys are all `allowed` (None: any); else `error`."""
    if not isinstance(value, dict):
        raise error(f"{where}: expected a mapping, got {type(value).__name__}")
    if allowed is not None:
        unknown = sorted(str(k) for k in value if k not in allowed)
        if unknown:
            raise error(
                f"{where}: unknown field {unknown[0]!r}; expected one of {', '.join(allowed)}"
            )
    return value


def load_yaml(path: str | Path, what: str, error: type[ValueError]) -> Any:
    """The YAML document in a file; `error` names the file and what is wrong with it."""
    import yaml  # only where a file is read: a function without a config never loads it

    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(f"{what} {path} is not valid YAML: {exc}") from exc
