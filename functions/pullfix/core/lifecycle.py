"""The incident lifecycle: what a delivery does with the ledger record it finds. Pure.

Every ledger record of work in progress is a lease: `holder` (the Pub/Sub message that took
it) and `lease_until` (wall-clock seconds, a little above the function timeout). A worker that
dies leaves nothing behind but a lease that expires by itself; the next delivery after the
expiry takes the work over. IAM, not the ledger, says whether a grant was made: a taken-over
grant re-reads the policy (pullfix's read-modify-write writes nothing when the binding is
there) and finishes with the audit line and the outcome either way.

| state | meaning | the same message, lease live | another message, lease live | lease expired |
|---|---|---|---|---|
| (none) | nobody has seen the incident | — | — | take: claim and work |
| `working` | evidence, decision, action under way | retry (non-2xx) | suppress | take over |
| `granting` | the IAM write may be in flight | retry | suppress | take over, re-read IAM |
| `acted` | outcome stored, not yet published (outbox) | retry | suppress | publish it |
| `granted` | the binding was written (or found) | suppress: already fixed | suppress | suppress |
| `done` | handled and published | suppress | suppress | suppress |

`notify` runs the same table for each (outcome, destination) with `sending` for `working`
and `sent` / `refused` for `done`.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["DEFAULT_LEASE", "TABLE", "State", "Step", "lease_fields", "next_step"]

# Above the remediate function's 120 s timeout (terraform/functions.tf), so a live lease
# always belongs to a worker that may still be running.
DEFAULT_LEASE = 150


class State(StrEnum):
    WORKING = "working"
    GRANTING = "granting"
    ACTED = "acted"
    GRANTED = "granted"
    DONE = "done"
    # notify's names for the same states
    SENDING = "sending"
    SENT = "sent"
    REFUSED = "refused"


class Step(StrEnum):
    """What a delivery does about the record it found."""

    TAKE = "take"  # (re)do the work: nobody holds it
    RETRY = "retry"  # answer non-2xx: this message's own work is under way elsewhere
    SUPPRESS = "suppress"  # acknowledge: the incident is handled, or being handled
    PUBLISH = "publish"  # the work was done, its outcome not yet published


_IN_PROGRESS = (State.WORKING, State.GRANTING, State.SENDING)
_FINISHED = (State.GRANTED, State.DONE, State.SENT, State.REFUSED)

# (state, lease live, same message) -> step
TABLE: dict[tuple[State, bool, bool], Step] = {}
for _state in _IN_PROGRESS:
    TABLE[(_state, True, True)] = Step.RETRY
    TABLE[(_state, True, False)] = Step.SUPPRESS
    TABLE[(_state, False, True)] = Step.TAKE
    TABLE[(_state, False, False)] = Step.TAKE
TABLE[(State.ACTED, True, True)] = Step.RETRY
TABLE[(State.ACTED, True, False)] = Step.SUPPRESS
TABLE[(State.ACTED, False, True)] = Step.PUBLISH
TABLE[(State.ACTED, False, False)] = Step.PUBLISH
for _state in _FINISHED:
    for _live in (True, False):
        for _same in (True, False):
            TABLE[(_state, _live, _same)] = Step.SUPPRESS


def next_step(record: dict[str, str] | None, message_id: str | None, wall: float) -> Step:
    """The step for a delivery of `message_id` that finds `record` at wall-clock `wall`."""
    if record is None:
        return Step.TAKE
    try:
        state = State(record.get("state") or State.DONE)
    except ValueError:
        state = State.DONE  # a record of an older pullfix: finished work
    live = float(record.get("lease_until") or 0) > wall
    same = bool(message_id) and record.get("holder") == message_id
    return TABLE[(state, live, same)]


def lease_fields(state: State, message_id: str | None, wall: float, lease: int) -> dict[str, str]:
    """The fields of a record held by `message_id` for `lease` seconds from `wall`."""
    return {"state": state.value, "holder": message_id or "", "lease_until": f"{wall + lease:.3f}"}
