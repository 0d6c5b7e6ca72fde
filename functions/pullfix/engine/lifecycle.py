"""The incident lifecycle, where the engine's modules have imported it from: it lives in
`pullfix.core.lifecycle` (pure, and shared with notify, which does not load the engine)."""

from pullfix.core.lifecycle import DEFAULT_LEASE, TABLE, State, Step, lease_fields, next_step

__all__ = ["DEFAULT_LEASE", "TABLE", "State", "Step", "lease_fields", "next_step"]
