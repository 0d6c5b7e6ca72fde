"""The incident lifecycle, where the engine's modules have imported it from: it lives in
`pullfix.core.lifecycle` (pure, and shared with notify, which does not load the engine)."""

from pullfix.core.lifecycle import DEFAULT_LEASE, TABLE, State, Step, lease_fields, next_step
from pullfix.core.model import TransientError

__all__ = ["DEFAULT_LEASE", "TABLE", "InProgress", "State", "Step", "lease_fields", "next_step"]


class InProgress(TransientError):
    """This message's own work is under way elsewhere (a live lease): retry later."""
