"""Cloud Functions entry points `remediate` and `notify`, defined in pullfix.entrypoints."""

from pullfix.entrypoints import notify, remediate

__all__ = ["notify", "remediate"]
