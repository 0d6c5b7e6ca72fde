"""One escalation per grant, whoever sees it first.

A grant whose pulls still fail past `escalation_grace` gets one ticket, "grant did not fix
it", from a failure event (`remediate`) or a verification pass (`verify`), never both. Both
go through this module: who may escalate (the grant record's `escalated` flag, set once,
names who), how long the incident then stays open for verification, and the ticket.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pullfix.core.causes import Cause
from pullfix.core.remediation import Context, escalation_ticket

if TYPE_CHECKING:
    from pullfix.core.config import Config
    from pullfix.engine.ledger import Ledger

__all__ = [
    "FLAG",
    "by_message",
    "by_verification",
    "claim",
    "keep_open",
    "kept_until",
    "past_grace",
    "ticket",
]

# The grant record's flag (and the open incident's): its value names who escalated.
FLAG = "escalated"


def past_grace(grace: int, granted_at: datetime, failed_at: datetime) -> bool:
    """Whether a failure at `failed_at` is due an escalation: `grace` seconds (the config's
    `escalation_grace`; IAM takes minutes to propagate) or more after the grant."""
    return (failed_at - granted_at).total_seconds() >= grace


def by_message(message_id: str | None) -> str:
    """The flag of an escalation made by a failure event's Pub/Sub message (its redelivery
    is the same one, and goes on with the work a crash cut short)."""
    return f"message:{message_id or ''}"


def by_verification(now: datetime) -> str:
    """The flag of an escalation made by the verification pass of `now` (no later pass is
    the same one: a pass that finds a flag never escalates again)."""
    return f"verification:{now.isoformat()}"


def kept_until(config: Config, acted_at: datetime) -> datetime:
    """How long an incident stays open for verification after pullfix last acted on it (a
    grant, a ticket, or its escalation): an escalation never shortens it."""
    return acted_at + timedelta(seconds=2 * config.abandon_after + config.escalation_grace)


def claim(
    ledger: Ledger, grant_key: str, who: str, now: datetime, open_flag: str | None = None
) -> bool:
    """Whether `who` is the one to escalate the grant `grant_key`: the first to set its
    record's flag, or the one that set it before a crash (a flag naming `who`). A flag that
    names another, on the grant record or on the open incident (`open_flag`: the grant
    record lives only a dedupe window), means the escalation is made or being made."""
    flagged = (ledger.get(grant_key, now) or {}).get(FLAG) or open_flag
    if flagged:
        return flagged == who
    if ledger.set_flag_once(grant_key, FLAG, now, who):
        return True
    # Not set: another set it meanwhile, or the grant record is gone (expired).
    flagged = (ledger.get(grant_key, now) or {}).get(FLAG)
    return not flagged or flagged == who


def keep_open(ledger: Ledger, grant_key: str, who: str, now: datetime, config: Config) -> None:
    """Mark the open incident escalated, by `who`, and keep it open from the escalation."""
    ledger.open_incident(grant_key, {FLAG: who}, kept_until(config, now))


def ticket(
    grant_key: str,
    *,
    cluster: str,
    namespace: str | None,
    workload: str | None,
    image: str | None,
    grant: dict[str, Any] | None,
) -> dict[str, Any]:
    """The escalation ticket of the grant incident `grant_key` (`cluster`, its resource
    name `projects/P/locations/L/clusters/C`; `workload`, the incident's workload key)."""
    draft = escalation_ticket(
        Context(
            cause=Cause.ROLE,
            cluster=cluster.rsplit("/", 1)[-1] or None,
            namespace=namespace,
            workload=workload,
            image=image,
            grant={k: str(v) for k, v in grant.items()} if grant else None,
            escalation=True,
        )
    )
    draft["fingerprint"] = grant_key
    return draft
