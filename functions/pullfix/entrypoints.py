"""What the Cloud Functions in main.py do, kept apart so main.py stays entry points only."""

from __future__ import annotations

from typing import Any, Protocol

from pullfix.classify import classify
from pullfix.intake import PullFailure, RejectionKind, parse_cloudevent
from pullfix.logs import log

__all__ = ["CloudEventLike", "handle_pull_failure"]


class CloudEventLike(Protocol):
    """What pullfix reads of a `cloudevents.http.CloudEvent`."""

    data: Any

    def get_attributes(self) -> Any: ...


def handle_pull_failure(cloud_event: CloudEventLike) -> dict[str, Any]:
    """Read one pull-failure event, diagnose it, and log the outcome.

    Bad or irrelevant input is logged and acknowledged (returns normally): retrying it
    cannot help.
    """
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
    diagnosis = classify(result)
    outcome: dict[str, Any] = {
        "event_id": event_id,
        "cause": diagnosis.cause.value,
        "reasons": list(diagnosis.reasons),
        "image": result.image,
        "cluster": result.cluster_resource,
        "namespace": result.namespace,
        "pod": result.pod,
        "node": result.node,
        "insert_id": result.insert_id,
    }
    log(
        "INFO",
        f"pullfix: {result.image or 'image'} in {result.namespace}: {diagnosis.cause.value}",
        outcome,
    )
    return outcome
