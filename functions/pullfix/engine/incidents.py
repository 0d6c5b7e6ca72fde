"""The incident a `remediate` outcome opens for verification, read from the outcome alone.

Apart from `pullfix.engine.verify`, which checks these incidents, so that `remediate`, which
opens one for every grant and ticket, does not load the verification pass on its first event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pullfix.core.causes import Action
from pullfix.core.intake import PodEvent
from pullfix.core.intake import parse_timestamp as _parse_time

__all__ = ["OpenIncident", "incident_from_outcome"]


@dataclass(frozen=True, slots=True)
class OpenIncident:
    """An incident pullfix acted on, as its first outcome describes it."""

    fingerprint: str
    action: Action  # grant, would_grant or ticket
    cause: str
    cluster: str  # projects/P/locations/L/clusters/C
    namespace: str
    workload: str  # the incident's workload key (see PodEvent.incident_workload)
    image: str
    first_failure: datetime
    acted_at: datetime
    node_pool: str  # the node pool that failed, as remediate verified it
    grant: dict[str, Any] | None = None
    node: str | None = None  # the node whose failure remediate verified


# The actions that open an incident for verification.
_ACTED = frozenset({Action.GRANT, Action.WOULD_GRANT, Action.TICKET})


def incident_from_outcome(outcome: dict[str, Any]) -> OpenIncident | None:
    """The open incident an outcome starts (grants and tickets whose node pool was
    verified), else None: an event whose node could not be verified (a forgery, or a node
    already gone) opens nothing to verify, so forged events cannot fill a pass."""
    try:
        action = Action(str(outcome.get("action")))
    except ValueError:
        return None
    if action not in _ACTED or outcome.get("escalation"):
        return None
    event = outcome.get("event") or {}
    when = _parse_time(str(event.get("timestamp") or ""))
    if not (event.get("cluster") and event.get("namespace") and event.get("image") and when):
        return None
    pool = (outcome.get("evidence") or {}).get("node_pool")
    if not isinstance(pool, str) or not pool:
        return None
    return OpenIncident(
        fingerprint=str(outcome["fingerprint"]),
        action=action,
        cause=str(outcome.get("cause")),
        cluster=str(event["cluster"]),
        namespace=str(event["namespace"]),
        workload=_workload_key(event.get("workload"), event.get("pod")),
        image=str(event["image"]),
        first_failure=when,
        acted_at=when,
        node_pool=pool,
        grant=outcome.get("grant"),
        node=str(event["node"]) if event.get("node") else None,
    )


def _workload_key(workload: str | None, pod: str | None) -> str:
    """PodEvent.incident_workload, from an outcome's event summary."""
    if workload and not workload.startswith("Pod/"):
        kind, _, name = workload.partition("/")
        event = PodEvent(reason="", message="", controller_kind=kind, controller_name=name)
    else:
        event = PodEvent(reason="", message="", pod=pod or (workload or "Pod/")[4:] or None)
    return event.incident_workload or ""
