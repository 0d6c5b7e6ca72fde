"""The Cloud Functions `remediate`, `notify` and `verify`, and what each does with its event.

`functions/main.py` (the source Cloud Functions builds) only imports the two entry points from
here, so the installed package serves them as well (the demo and the local runner do).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

import functions_framework
from cloudevents.http import CloudEvent

from pullfix.core.intake import (
    PullFailure,
    Rejection,
    RejectionKind,
    decode_push,
    format_timestamp,
    parse_cloudevent,
)
from pullfix.logs import log

__all__ = [
    "CloudEventLike",
    "handle_outcome",
    "handle_pull_failure",
    "handle_verification",
    "notify",
    "remediate",
    "verify",
]


# Events dated further ahead than this are refused (clocks drift; kubelet's by seconds).
MAX_SKEW = 300


class CloudEventLike(Protocol):
    """What pullfix reads of a `cloudevents.http.CloudEvent`."""

    data: Any

    def get_attributes(self) -> Any: ...


def handle_pull_failure(cloud_event: CloudEventLike) -> dict[str, Any]:
    """Remediate one pull-failure event.

    Bad or irrelevant input is logged and acknowledged (returns normally): retrying it
    cannot help. Transient Google errors raise, so that Pub/Sub redelivers the event.
    """
    from pullfix.core.config import ConfigError
    from pullfix.core.model import TransientError
    from pullfix.engine.runtime import runtime

    attributes = dict(cloud_event.get_attributes())
    result = parse_cloudevent(attributes, cloud_event.data)
    event_id = attributes.get("id")
    if not isinstance(result, PullFailure):
        severity = "WARNING" if result.kind is RejectionKind.MALFORMED else "DEBUG"
        ignored: dict[str, Any] = {
            "event_id": event_id,
            "action": "ignored",
            "rejection": result.kind.value,
            "detail": result.detail,
        }
        log(severity, f"pullfix: event {event_id} ignored: {result.detail}", ignored)
        return ignored
    try:
        rt = runtime()
    except ConfigError as exc:
        # Events are kept (redelivered, then dead-lettered) until the configuration is fixed.
        log("CRITICAL", f"pullfix: invalid configuration: {exc}", {"event_id": event_id})
        raise
    now = datetime.now(UTC)
    if result.timestamp is not None and (result.timestamp - now).total_seconds() > MAX_SKEW:
        # A clock far ahead, or a forged entry: it would hold its incident's claim until then.
        future = {
            "event_id": event_id,
            "action": "ignored",
            "rejection": "future",
            "detail": f"event is dated {format_timestamp(result.timestamp)}, more than "
            f"{MAX_SKEW}s ahead of this clock",
        }
        log("WARNING", f"pullfix: event {event_id} ignored: {future['detail']}", future)
        return future
    if result.timestamp is not None:
        age = (now - result.timestamp).total_seconds()
        if age > rt.config.max_event_age:
            dropped = {
                "event_id": event_id,
                "action": "ignored",
                "rejection": "too_old",
                "detail": f"event is {int(age)}s old; max_event_age is {rt.config.max_event_age}s",
            }
            log("INFO", f"pullfix: event {event_id} dropped: {dropped['detail']}", dropped)
            return dropped
    try:
        outcome = rt.remediator.handle(result, now)
    except TransientError as exc:
        log("WARNING", f"pullfix: event {event_id} will be retried: {exc}", {"event_id": event_id})
        raise
    summary = outcome.to_dict()
    summary["event_id"] = event_id
    log(
        "INFO",
        f"pullfix: {result.image or 'image'} in {result.namespace}: "
        f"{outcome.cause.value} -> {outcome.action.value}",
        summary,
    )
    return summary


def handle_outcome(cloud_event: CloudEventLike) -> dict[str, Any]:
    """Deliver one remediation outcome to the owning team (chat, tickets).

    A malformed outcome is logged and acknowledged; a destination that fails transiently
    raises, so that Pub/Sub redelivers (destinations already reached are not posted again).
    """
    from pullfix.core.config import ConfigError
    from pullfix.core.model import TransientError
    from pullfix.core.outcome import outcome_problem
    from pullfix.engine.runtime import notifier
    from pullfix.notify.delivery import DeliveryFailed

    attributes = dict(cloud_event.get_attributes())
    event_id = attributes.get("id")
    outcome = decode_push(cloud_event.data)
    problem = outcome.detail if isinstance(outcome, Rejection) else outcome_problem(outcome)
    if problem is not None or not isinstance(outcome, dict):
        ignored = {"event_id": event_id, "action": "ignored", "detail": problem}
        log("WARNING", f"notify: event {event_id} ignored: {problem}", ignored)
        return ignored
    try:
        delivered = notifier().handle(outcome, datetime.now(UTC), event_id)
    except ConfigError as exc:
        log("CRITICAL", f"notify: invalid configuration: {exc}", {"event_id": event_id})
        raise
    except (DeliveryFailed, TransientError) as exc:
        log("WARNING", f"notify: event {event_id} will be retried: {exc}", {"event_id": event_id})
        raise
    result = {"event_id": event_id, "fingerprint": outcome["fingerprint"], "delivered": delivered}
    log("INFO", f"notify: {outcome['fingerprint']} delivered to {delivered or 'no route'}", result)
    return result


def handle_verification(cloud_event: CloudEventLike) -> dict[str, Any]:
    """One verification pass over the open incidents (the scheduler's tick is the event).

    Each verdict is published like any outcome (notify updates the team's thread and
    ticket); a transient error raises, so the tick is redelivered.
    """
    from pullfix.core.config import ConfigError
    from pullfix.core.model import TransientError
    from pullfix.engine.runtime import runtime
    from pullfix.engine.verify import logging_query, run_verification

    event_id = dict(cloud_event.get_attributes()).get("id")
    try:
        rt = runtime()
    except ConfigError as exc:
        log("CRITICAL", f"pullfix verify: invalid configuration: {exc}", {"event_id": event_id})
        raise
    remediator, config = rt.remediator, rt.config
    try:
        verdicts = run_verification(
            remediator.ledger,
            logging_query(rt.clients),
            datetime.now(UTC),
            config,
            collector=remediator.collector,
            publish=remediator.publisher.publish if remediator.publisher else None,
        )
    except TransientError as exc:
        log("WARNING", f"pullfix verify: will be retried: {exc}", {"event_id": event_id})
        raise
    for verdict in verdicts:
        record = verdict.to_dict()
        log(
            "NOTICE",
            f"pullfix verify: {verdict.incident.fingerprint} {verdict.action}",
            {"verification": record},
        )
    summary = {"event_id": event_id, "verdicts": len(verdicts)}
    log("INFO", f"pullfix verify: {len(verdicts)} incidents closed or escalated", summary)
    return summary


@functions_framework.cloud_event
def remediate(cloud_event: CloudEvent) -> None:
    """Pub/Sub "pull-failures" → diagnose one image-pull failure."""
    handle_pull_failure(cloud_event)


@functions_framework.cloud_event
def notify(cloud_event: CloudEvent) -> None:
    """Pub/Sub "pull-outcomes" → tell the owning team (chat, tickets)."""
    handle_outcome(cloud_event)


@functions_framework.cloud_event
def verify(cloud_event: CloudEvent) -> None:
    """Pub/Sub "verify" (Cloud Scheduler) → check that fixes worked; close the loop."""
    handle_verification(cloud_event)
