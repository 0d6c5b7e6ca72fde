"""Cloud Functions entry points `remediate`, `notify`, `verify`, `approve` (pullfix.entrypoints)."""

from pullfix.entrypoints import approve, notify, remediate, verify

__all__ = ["approve", "notify", "remediate", "verify"]
