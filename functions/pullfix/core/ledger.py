"""The dedupe ledger's port: what remediate, verify and notify ask of a ledger.

`pullfix.engine.ledger` has the two ledgers (memory, Firestore). The port lives in core, as
the read port (`pullfix.core.model.GoogleApis`) does, so that notify, which does not load the
engine, can name it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = ["Claim", "Ledger"]


@dataclass(frozen=True, slots=True)
class Claim:
    new: bool
    record: dict[str, str]


class Ledger(Protocol):
    def claim(self, key: str, now: datetime, window: int, data: dict[str, str]) -> Claim:
        """Claim `key` until now + window, unless a live record holds it (then return that)."""
        ...

    def get(self, key: str, now: datetime) -> dict[str, str] | None:
        """The live record of `key`, if any."""
        ...

    def take_over(
        self, key: str, now: datetime, window: int, data: dict[str, str], wall: float
    ) -> Claim:
        """Replace the record of `key` with `data` if its lease ended before `wall` (or it has
        none left); else return the record that holds it. Atomic, like `claim`."""
        ...

    def update(self, key: str, data: dict[str, str]) -> None:
        """Merge fields into an existing record."""
        ...

    def release(self, key: str) -> None:
        """Forget a claim (its work failed and will be redelivered)."""
        ...

    def set_flag_once(self, key: str, flag: str, now: datetime, value: str = "true") -> bool:
        """Set `flag` to `value` on a live record that has none; True only for the one
        caller that set it. False when the record read holds another writer's value (or
        there is no live record to flag); TransientError when the record kept changing and
        neither could be told."""
        ...

    def take_grant_slot(self, now: datetime, limit: int) -> bool:
        """Count one grant at `now`; False when `limit` were made within an hour of it,
        before or after: so no 60 minutes ever hold more than `limit`, in whatever order
        the grants' times come (replay reads events as of their own time). A `now` more than
        an hour before the latest grant is refused: the ledgers keep two hours of grants."""
        ...

    def open_incident(self, key: str, data: dict[str, str], until: datetime) -> None:
        """Keep (or refresh) an incident pullfix acted on, for verification, until `until`."""
        ...

    def open_incidents(self, now: datetime, limit: int) -> list[tuple[str, dict[str, str]]]:
        """Up to `limit` open incidents still kept at `now`, least recently checked first (an
        incident never checked counts as checked when it was opened)."""
        ...

    def mark_checked(self, keys: list[str]) -> None:
        """Put the open incidents `keys` at the end of the queue, in that order (a pass
        checked them); a key no longer open is skipped."""
        ...

    def close_incident(self, key: str) -> None:
        """Forget an open incident (verification closed it)."""
        ...
