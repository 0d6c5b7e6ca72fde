"""Incident ids: one way to turn the facts an incident is keyed on into a ledger key."""

from __future__ import annotations

import hashlib

__all__ = ["fingerprint"]


def fingerprint(kind: str, *parts: str | None) -> str:
    """A stable incident id: `kind-` and 32 hex digits of the parts' hash."""
    text = "\x1f".join(part or "" for part in parts)
    return f"{kind}-{hashlib.sha256(text.encode()).hexdigest()[:32]}"
