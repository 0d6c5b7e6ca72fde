"""The one exception base of pullfix; narrow subclasses live next to what raises them."""

from __future__ import annotations


class PullfixError(Exception):
    """Base of every error pullfix raises on purpose."""
