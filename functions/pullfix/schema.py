"""Checks shared by the config and world loaders: each names the field that is wrong."""

from __future__ import annotations

from typing import Any

__all__ = ["mapping"]


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
