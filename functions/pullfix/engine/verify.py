"""Closing the loop: did the fix work? One Cloud Logging query per open incident.

An incident pullfix acted on (a grant, or a ticket for a human) is checked against the
kubelet's own events of its workload and image since the action: a `Pulled` event
("Successfully pulled image", "Container image … already present on machine") on a node of
the node pool that failed means the workload pulls there again — `resolved`, with the time
from the first failure to the first successful pull and who fixed it. Failures on that pool
that go on past `escalation_grace` after a grant, with no successful pull there, are
`still_failing` (one escalation ticket). An incident with neither for `abandon_after` (the
workload was deleted, scaled to zero, or stopped retrying) is `abandoned`. Anything else
stays open for the next pass.

A log entry is evidence only once verified as remediate verifies a failure event
(`EvidenceCollector.verify`): written in its cluster's project, naming an instance that
Compute finds in one of the cluster's node pools' instance groups and that the group
created. Only incidents whose failing pool was so verified are kept open at all, so forged
events neither open incidents nor resolve them. Each entry is also matched to its incident
in code (cluster, namespace, workload, image, dated from the action, and a success no later
than the pass), not only by the query, so that one query may serve several incidents.

The query asks only for the events of one cluster, namespace and image since the action,
so verification adds no volume to the log sink and reads little.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from pullfix.core.intake import PodEvent, PullFailure, format_timestamp, parse_event
from pullfix.core.intake import parse_timestamp as _parse_time
from pullfix.core.judge import Evidence
from pullfix.core.model import AccessDenied
from pullfix.core.remediation import image_word, sh
from pullfix.engine.expiring import expiring_grants
from pullfix.logs import log

if TYPE_CHECKING:
    from pullfix.core.config import Config
    from pullfix.engine.evidence import EvidenceCollector
    from pullfix.engine.ledger import Ledger

__all__ = [
    "NodeCheck",
    "NodePools",
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
# How many distinct nodes a pass verifies for one incident's successes (and as many for its
# failures), besides the node whose failure opened the incident: the first verified one
# settles it, so only names that look like the failing pool's but are not its instances use
# them up, and a flood of those cannot make a pass ask Compute without bound. Past it, only
# the events of the incident's own node are looked at.
NODES_PER_INCIDENT = 16


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
    node_pool: str  # the node pool that failed, as remediate verified it
    grant: dict[str, Any] | None = None
    node: str | None = None  # the node whose failure remediate verified


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
        namespace = f"--namespace={sh(incident.namespace)}"
        cluster = incident.cluster.rsplit("/", 1)[-1]
        return {
            "title": f"[pullfix] grant did not fix {incident.image} in {cluster}",
            "steps": [
                *self.reasons,
                f"Read the pod's events: kubectl describe pods {namespace}",
                "Check the node pool's OAuth scopes and network path to the registry.",
            ],
            "commands": [f"kubectl get events {namespace} --field-selector reason=Failed"],
            "terraform": None,
            "reproduce": f"sudo crictl pull {image_word(incident.image)}",
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
    """The open incident an outcome starts (grants and tickets whose node pool was
    verified), else None: an event whose node could not be verified (a forgery, or a node
    already gone) opens nothing to verify, so forged events cannot fill a pass."""
    if outcome.get("action") not in ("grant", "would_grant", "ticket") or outcome.get("escalation"):
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
        action=str(outcome["action"]),
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


class NodeCheck(Protocol):
    """Which node pool a kubelet event's node is in, verified."""

    def may_hold(self, incident: OpenIncident, node: str) -> bool:
        """Whether the incident's pool could hold `node` by its name (no proof; no call)."""
        ...

    def pool_of(self, event: PodEvent) -> str | None:
        """The node pool of the event's node, verified; None when it cannot be."""
        ...


class NodePools:
    """`NodeCheck` as remediate verifies a failure event's node (`EvidenceCollector.verify`:
    the entry was written in the project its labels name, the cluster exists, Compute finds
    the instance in a node pool's instance group's zone and the group created it). Answers
    are kept for the pass (the adapter caches the cluster and the instances too)."""

    def __init__(self, collector: EvidenceCollector) -> None:
        self.collector = collector
        self._pools: dict[tuple[str | None, ...], str | None] = {}
        self._refused: set[str] = set()  # clusters pullfix may not read, said once a pass

    def may_hold(self, incident: OpenIncident, node: str) -> bool:
        project, location, cluster = incident.cluster.split("/")[1:6:2]
        try:
            info = self.collector.apis.cluster(project, location, cluster)
        except AccessDenied as exc:
            # Nothing on this cluster can be verified, so nothing resolves: said loudly, but
            # the other incidents of the pass are checked.
            if incident.cluster not in self._refused:
                self._refused.add(incident.cluster)
                log(
                    "WARNING",
                    f"pullfix verify cannot verify the nodes of {incident.cluster}: {exc}",
                    {"cluster": incident.cluster},
                )
            return False
        return info is not None and any(
            pool.name == incident.node_pool for pool, _ in info.candidate_groups(node)
        )

    def pool_of(self, event: PodEvent) -> str | None:
        key = (event.log_project, event.project, event.location, event.cluster, event.node)
        if key not in self._pools:
            evidence = Evidence()
            self.collector.verify(
                event.project,
                event.location,
                event.cluster,
                event.node,
                evidence,
                log_project=event.log_project,
            )
            pool = evidence.pool if evidence.unverified is None else None
            self._pools[key] = pool.name if pool is not None else None
        return self._pools[key]


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
    nodes: NodeCheck,
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
            nodes,
            escalation_grace,
            abandon_after,
        )
        if verdict is not None:
            yield verdict


def _of_incident(
    incident: OpenIncident, event: PodEvent, image: str, until: datetime | None
) -> bool:
    """Whether an event is about the incident: its cluster, namespace, workload and image,
    on a named node, dated from the action (to `until`, if given), whatever the query
    asked for."""
    return (
        event.cluster_resource == incident.cluster
        and event.namespace == incident.namespace
        and event.incident_workload == incident.workload
        and image == incident.image
        and bool(event.node)
        and event.timestamp is not None
        and incident.acted_at <= event.timestamp
        and (until is None or event.timestamp <= until)
    )


def _first_on_pool(
    incident: OpenIncident, events: list[PodEvent], nodes: NodeCheck
) -> PodEvent | None:
    """The first of `events` whose node is verified in the incident's node pool, verifying
    the incident's own node and at most NODES_PER_INCIDENT others (names the pool cannot
    hold cost nothing), so that forged names cannot hide the own node's events."""
    asked: dict[str, bool] = {}
    for event in events:
        node = event.node or ""
        if node not in asked:
            others = len(asked) - (incident.node in asked)
            if node != incident.node and others >= NODES_PER_INCIDENT:
                continue
            asked[node] = nodes.may_hold(incident, node) and (
                nodes.pool_of(event) == incident.node_pool
            )
        if asked[node]:
            return event
    return None


def _verify_one(
    incident: OpenIncident,
    entries: Iterable[dict[str, Any]],
    as_of: datetime,
    nodes: NodeCheck,
    escalation_grace: int,
    abandon_after: int,
) -> Verdict | None:
    successes: list[PodEvent] = []
    failures: list[PodEvent] = []
    for entry in entries:
        pulled = _pulled(entry)
        if pulled is not None:
            # A success counts once it happened (by the pass's clock); failures as logged
            # (replay judges as of a moment before the last of them).
            if _of_incident(incident, *pulled, as_of):
                successes.append(pulled[0])
            continue
        parsed = parse_event(entry)
        if isinstance(parsed, PullFailure) and _of_incident(
            incident, parsed, parsed.image or "", None
        ):
            failures.append(parsed)
    # Verification order: successes oldest first (the first one verified is the fix),
    # failures newest first (the last one verified is how long it went on).
    successes.sort(key=lambda event: event.timestamp or as_of)
    failures.sort(key=lambda event: event.timestamp or as_of, reverse=True)
    success = _first_on_pool(incident, successes, nodes)
    if success is not None and success.timestamp is not None:
        fixed = "pullfix's grant" if incident.action == "grant" else "a human"
        return Verdict(
            incident,
            "resolved",
            (
                f"{incident.workload} pulled {incident.image} again on node pool "
                f"{incident.node_pool} ({success.node}); fixed by {fixed}",
            ),
            as_of,
            success.timestamp,
        )
    failure = _first_on_pool(incident, failures, nodes)
    last_failure = failure.timestamp if failure is not None else None
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
                f"pulls of {incident.image} on node pool {incident.node_pool} still fail "
                f"{int((last_failure - incident.acted_at).total_seconds())}s after the grant "
                f"(grace {escalation_grace}s), and none has succeeded there",
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
                f"no pull of {incident.image} by {incident.workload} on node pool "
                f"{incident.node_pool}, failed or successful, for {abandon_after}s: the "
                "workload is gone or stopped retrying",
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
    collector: EvidenceCollector,
    limit: int | None = None,
    publish: Callable[[dict[str, Any]], None] | None = None,
) -> list[Verdict]:
    """One pass over the ledger's open incidents, least recently checked first (at most
    `limit`, else the config's `verify_per_run`): publish each verdict, then close the
    incidents that are resolved or abandoned; a still-failing grant escalates once (here, or
    from a failure event past the grace period, whichever comes first). Every incident
    checked and still open goes to the end of the ledger's queue, so every open incident is
    checked within ceil(open / limit) passes. `collector` verifies the nodes of the events
    (see `NodePools`)."""
    escalation_grace, abandon_after = config.escalation_grace, config.abandon_after
    limit = limit or config.verify_per_run
    incidents: list[OpenIncident] = []
    records: dict[str, dict[str, str]] = {}  # each open record, by incident fingerprint
    for key, data in ledger.open_incidents(now, limit):
        try:
            incident = incident_from_outcome(json.loads(data.get("outcome") or "{}"))
        except ValueError:
            incident = None
        if incident is None or incident.fingerprint != key:
            ledger.close_incident(key)  # a record no verification can read, or unverified
            continue
        incidents.append(incident)
        records[incident.fingerprint] = data
    # In the order the pass checked them; an incident whose check raised counts as checked,
    # so that one that always fails goes to the end of the queue instead of heading it.
    checked: list[str] = []

    def checking(incident: OpenIncident, text: str) -> Iterable[dict[str, Any]]:
        checked.append(incident.fingerprint)
        return query(incident, text)

    verdicts = []
    closed: set[str] = set()
    try:
        for verdict in verify_incidents(
            incidents,
            checking,
            now,
            nodes=NodePools(collector),
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
                closed.add(incident.fingerprint)
            verdicts.append(verdict)
    finally:
        ledger.mark_checked([key for key in checked if key not in closed])
    # Grants that expire soon (auto_grant.expires_after): logged with the Terraform to keep them.
    expiring_grants(incidents, collector.apis, now, config)
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
