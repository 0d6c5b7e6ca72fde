"""Cloud Functions entry points `remediate`, `notify` and `verify` (pullfix.entrypoints)."""

from pullfix.entrypoints import notify, remediate, verify

__all__ = ["notify", "remediate", "verify"]
