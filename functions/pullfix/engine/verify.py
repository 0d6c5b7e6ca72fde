"""Closing the loop: did the fix work? One Cloud Logging query per open incident.

An incident pullfix acted on (a grant, or a ticket for a human) is checked against the
kubelet's own events of its workload and image since the action: a `Pulled` event
("Successfully pulled image", "Container image … already present on machine") means the
workload pulls again — `resolved`, with the time from the first failure to the first
successful pull and who fixed it. Failures that go on past `escalation_grace` after a grant,
with no successful pull, are `still_failing` (one escalation ticket). An incident with
neither a success nor a failure for `abandon_after` (the workload was deleted, scaled to
zero, or stopped retrying) is `abandoned`. Anything else stays open for the next pass.

The query asks only for the events of one cluster, namespace and image since the action,
so verification adds no volume to the log sink and reads little.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pullfix.core.intake import PodEvent, PullFailure, format_timestamp, parse_event
from pullfix.core.intake import parse_timestamp as _parse_time

if TYPE_CHECKING:
    from pullfix.core.config import Config
    from pullfix.engine.ledger import Ledger

__all__ = [
    "OpenIncident",
    "Verdict",
    "incident_from_outcome",
    "logging_query",
    "run_verification",
    "success_filter",
    "verify_incidents",
]

# kubelet (pkg/kubelet/images/image_manager.go): the `Pulled` event's two wordings.
_PULLED_RE = re.compile(
    r'^(?:Successfully pulled image|Container image) "(?P<image>[^"]*)"(?: in |'
    r" already present on machine|$)"
)


@dataclass(frozen=True, slots=True)
class OpenIncident:
    """An incident pullfix acted on, as its first outcome describes it."""

    fingerprint: str
    action: str  # grant, would_grant or ticket
    cause: str
    cluster: str  # projects/P/locations/L/clusters/C
    namespace: str
    workload: str  # the incident's workload key (see PodEvent.incident_workload)
    image: str
    first_failure: datetime
    acted_at: datetime
    grant: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one verification found: resolved, still_failing or abandoned."""

    incident: OpenIncident
    action: str
    reasons: tuple[str, ...]
    checked_at: datetime
    first_success: datetime | None = None

    @property
    def time_to_fix_seconds(self) -> int | None:
        if self.first_success is None:
            return None
        return max(0, int((self.first_success - self.incident.first_failure).total_seconds()))

    def _escalation_ticket(self) -> dict[str, Any]:
        incident = self.incident
        cluster = incident.cluster.rsplit("/", 1)[-1]
        return {
            "title": f"[pullfix] grant did not fix {incident.image} in {cluster}",
            "steps": [
                *self.reasons,
                f"Read the pod's events: kubectl describe pods -n {incident.namespace}",
                "Check the node pool's OAuth scopes and network path to the registry.",
            ],
            "commands": [
                f"kubectl get events -n {incident.namespace} --field-selector reason=Failed"
            ],
            "terraform": None,
            "reproduce": f"sudo crictl pull {incident.image}",
        }

    def to_dict(self) -> dict[str, Any]:
        incident = self.incident
        fixed_by = None
        if self.action == "resolved":
            fixed_by = "pullfix's grant" if incident.action == "grant" else "a human"
        return {
            "schema": "pullfix.outcome/v1",
            "action": self.action,
            "cause": incident.cause,
            "fingerprint": incident.fingerprint,
            "time_to_fix_seconds": self.time_to_fix_seconds,
            "fixed_by": fixed_by,
            "first_failure": format_timestamp(incident.first_failure),
            "first_success": format_timestamp(self.first_success) if self.first_success else None,
            "acted": incident.action,
            "grant": incident.grant,
            "escalation": self.action == "still_failing",
            "ticket": self._escalation_ticket() if self.action == "still_failing" else None,
            "reasons": list(self.reasons),
            "event": {
                "cluster": incident.cluster,
                "namespace": incident.namespace,
                "workload": incident.workload,
                "image": incident.image,
                "timestamp": format_timestamp(self.checked_at),
            },
        }


def incident_from_outcome(outcome: dict[str, Any]) -> OpenIncident | None:
    """The open incident an outcome starts (grants and tickets), else None."""
    if outcome.get("action") not in ("grant", "would_grant", "ticket") or outcome.get("escalation"):
        return None
    event = outcome.get("event") or {}
    when = _parse_time(str(event.get("timestamp") or ""))
    if not (event.get("cluster") and event.get("namespace") and event.get("image") and when):
        return None
    return OpenIncident(
        fingerprint=str(outcome["fingerprint"]),
        action=str(outcome["action"]),
        cause=str(outcome.get("cause")),
        cluster=str(event["cluster"]),
        namespace=str(event["namespace"]),
        workload=_workload_key(event.get("workload"), event.get("pod")),
        image=str(event["image"]),
        first_failure=when,
        acted_at=when,
        grant=outcome.get("grant"),
    )


def _workload_key(workload: str | None, pod: str | None) -> str:
    """PodEvent.incident_workload, from an outcome's event summary."""
    if workload and not workload.startswith("Pod/"):
        kind, _, name = workload.partition("/")
        event = PodEvent(reason="", message="", controller_kind=kind, controller_name=name)
    else:
        event = PodEvent(reason="", message="", pod=pod or (workload or "Pod/")[4:] or None)
    return event.incident_workload or ""


def success_filter(incident: OpenIncident) -> str:
    """The Cloud Logging query for one incident: its cluster's pod events about its image
    since the action (pull failures and successful pulls)."""
    project, _, location, _, cluster = incident.cluster.split("/")[1:6]
    # A workload's pods are named after it (`web-7d9f8c5b4-xk2p9` for Deployment/web): the
    # name narrows the answer to its pods; the exact workload is checked on each entry.
    pods = incident.workload.partition("/")[2]
    return "\n".join(
        (
            'log_id("events")',
            'resource.type="k8s_pod"',
            f'resource.labels.project_id="{_quoted(project)}"',
            f'resource.labels.location="{_quoted(location)}"',
            f'resource.labels.cluster_name="{_quoted(cluster)}"',
            f'resource.labels.namespace_name="{_quoted(incident.namespace)}"',
            *([f'resource.labels.pod_name:"{_quoted(pods)}-"'] if pods else []),
            'jsonPayload.reason=("Pulled" OR "Failed" OR "BackOff")',
            f'jsonPayload.message:"{_quoted(incident.image)}"',
            f'timestamp>="{format_timestamp(incident.acted_at)}"',
        )
    )


def _quoted(text: str) -> str:
    """A string for inside a Logging query's double quotes."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _pulled(entry: dict[str, Any]) -> tuple[PodEvent, str] | None:
    """(the pod event, its image) for a kubelet `Pulled` event; else None."""
    result = parse_event(entry)
    if isinstance(result, PullFailure) or result.event is None:
        return None
    event = result.event
    match = _PULLED_RE.match(event.message or "")
    if event.reason != "Pulled" or match is None:
        return None
    return event, match.group("image")


def verify_incidents(
    incidents: Iterable[OpenIncident],
    query: Callable[[OpenIncident, str], Iterable[dict[str, Any]]],
    as_of: datetime,
    *,
    escalation_grace: int,
    abandon_after: int,
    limit: int,
) -> Iterator[Verdict]:
    """One verification pass: at most `limit` incidents, one query each."""
    for number, incident in enumerate(incidents):
        if number >= limit:
            return
        verdict = _verify_one(
            incident,
            query(incident, success_filter(incident)),
            as_of,
            escalation_grace,
            abandon_after,
        )
        if verdict is not None:
            yield verdict


def _verify_one(
    incident: OpenIncident,
    entries: Iterable[dict[str, Any]],
    as_of: datetime,
    escalation_grace: int,
    abandon_after: int,
) -> Verdict | None:
    first_success: datetime | None = None
    last_failure: datetime | None = None
    for entry in entries:
        pulled = _pulled(entry)
        if pulled is not None:
            event, image = pulled
            if image != incident.image or event.incident_workload != incident.workload:
                continue
            if event.timestamp and (first_success is None or event.timestamp < first_success):
                first_success = event.timestamp
            continue
        failure = parse_event(entry)
        if (
            isinstance(failure, PullFailure)
            and failure.image == incident.image
            and failure.incident_workload == incident.workload
            and failure.timestamp
            and (last_failure is None or failure.timestamp > last_failure)
        ):
            last_failure = failure.timestamp
    if first_success is not None and first_success <= as_of:
        fixed = "pullfix's grant" if incident.action == "grant" else "a human"
        return Verdict(
            incident,
            "resolved",
            (f"{incident.workload} pulled {incident.image} again; fixed by {fixed}",),
            as_of,
            first_success,
        )
    since_action = (as_of - incident.acted_at).total_seconds()
    if (
        incident.action == "grant"
        and last_failure is not None
        and (last_failure - incident.acted_at).total_seconds() >= escalation_grace
    ):
        return Verdict(
            incident,
            "still_failing",
            (
                f"pulls of {incident.image} still fail "
                f"{int((last_failure - incident.acted_at).total_seconds())}s after the grant "
                f"(grace {escalation_grace}s), and none has succeeded",
                "something besides the missing role blocks the pull",
            ),
            as_of,
        )
    quiet_since = last_failure or incident.acted_at
    if since_action >= abandon_after and (as_of - quiet_since).total_seconds() >= abandon_after:
        return Verdict(
            incident,
            "abandoned",
            (
                f"no pull of {incident.image} by {incident.workload}, failed or successful, "
                f"for {abandon_after}s: the workload is gone or stopped retrying",
            ),
            as_of,
        )
    return None


def run_verification(
    ledger: Ledger,
    query: Callable[[OpenIncident, str], Iterable[dict[str, Any]]],
    now: datetime,
    config: Config,
    *,
    limit: int | None = None,
    publish: Callable[[dict[str, Any]], None] | None = None,
) -> list[Verdict]:
    """One pass over the ledger's open incidents (at most `limit`, else the config's
    `verify_per_run`): publish each verdict, then close the incidents that are resolved or
    abandoned; a still-failing grant escalates once (here, or from a failure event past the
    grace period, whichever comes first)."""
    escalation_grace, abandon_after = config.escalation_grace, config.abandon_after
    limit = limit or config.verify_per_run
    incidents: list[OpenIncident] = []
    records: dict[str, dict[str, str]] = {}  # each open record, by incident fingerprint
    for key, data in ledger.open_incidents(now, limit):
        try:
            incident = incident_from_outcome(json.loads(data.get("outcome") or "{}"))
        except ValueError:
            incident = None
        if incident is None:
            ledger.close_incident(key)  # a record no verification can read
            continue
        incidents.append(incident)
        records[incident.fingerprint] = data
    verdicts = []
    for verdict in verify_incidents(
        incidents,
        query,
        now,
        escalation_grace=escalation_grace,
        abandon_after=abandon_after,
        limit=limit,
    ):
        incident = verdict.incident
        if verdict.action == "still_failing":
            grant_record = ledger.get(incident.fingerprint, now) or {}
            if grant_record.get("escalated") or records[incident.fingerprint].get("escalated"):
                continue
            if not ledger.set_flag_once(incident.fingerprint, "escalated", now) and (
                ledger.get(incident.fingerprint, now) or {}
            ).get("escalated"):
                continue  # a failure event escalated it meanwhile
            ledger.open_incident(
                incident.fingerprint,
                {"escalated": "true"},
                now + timedelta(seconds=abandon_after * 2),
            )
        if publish is not None:
            publish(verdict.to_dict())
        if verdict.action in ("resolved", "abandoned"):
            ledger.close_incident(incident.fingerprint)
        verdicts.append(verdict)
    return verdicts


def logging_query(clients: Any) -> Callable[[OpenIncident, str], list[dict[str, Any]]]:
    """The query each verification makes: Cloud Logging `entries.list` in the incident's
    cluster project, oldest first (google-cloud-logging's HTTP/JSON client)."""
    from pullfix.gcp.adapter import PERMISSIONS, guard, list_log_entries

    def query(incident: OpenIncident, text: str) -> list[dict[str, Any]]:
        project = incident.cluster.split("/")[1]
        return guard(
            f"reading the events of {incident.cluster}",
            lambda: list(list_log_entries(clients.logging, [f"projects/{project}"], text)),
            PERMISSIONS["verify_logs"],
        )

    return query
