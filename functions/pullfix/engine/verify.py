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

A pass makes one Cloud Logging query per cluster project for all of that project's open
incidents of the pass (each incident's cluster, namespace, pods and image, since its action,
OR-ed), split so that no filter passes Cloud Logging's 20,000-character limit, and matches
the entries back to their incidents in memory. Every page read is an `entries.list` request
against the project's quota (60 a minute): a pass reads at most `verify_requests_per_run`
pages, and a 429 from Logging ends it early; incidents not reached keep their place at the
head of the queue for the next pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import TYPE_CHECKING, Any, Protocol

from pullfix.core.causes import Action, Cause
from pullfix.core.intake import PodEvent, PullFailure, format_timestamp, parse_event
from pullfix.core.judge import Evidence
from pullfix.core.model import AccessDenied
from pullfix.core.outcome import Outcome, Verified
from pullfix.engine import escalation
from pullfix.engine.expiring import expiring_grants
from pullfix.engine.incidents import OpenIncident, incident_from_outcome
from pullfix.errors import PullfixError
from pullfix.logs import log

if TYPE_CHECKING:
    from pullfix.core.config import Config
    from pullfix.engine.evidence import EvidenceCollector
    from pullfix.engine.ledger import Ledger

__all__ = [
    "MAX_FILTER_CHARS",
    "PAGE_SIZE",
    "LogQuery",
    "LoggingQuotaExceeded",
    "NodeCheck",
    "NodePools",
    "OpenIncident",
    "PassReport",
    "Query",
    "Verdict",
    "incident_from_outcome",
    "logging_query",
    "query_plan",
    "run_verification",
    "scope_filter",
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
# Cloud Logging's limit on a query: "Length of a Logging query language query: 20,000
# characters" (https://cloud.google.com/logging/quotas); a longer filter is refused (400
# INVALID_ARGUMENT), so a pass splits its queries to stay within it.
MAX_FILTER_CHARS = 20_000
# A large page, so that a pass reads its entries in few requests: Google's advice to use the
# entries.list quota efficiently is "Set a large pageSize"
# (https://cloud.google.com/logging/docs/reference/api-overview).
PAGE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one verification found: resolved, still_failing or abandoned."""

    incident: OpenIncident
    action: Action  # resolved, still_failing or abandoned
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
        return escalation.ticket(
            incident.fingerprint,
            cluster=incident.cluster,
            namespace=incident.namespace,
            workload=incident.workload,
            image=incident.image,
            grant=incident.grant,
        )

    def outcome(self) -> Outcome:
        """The verdict as the one outcome type `remediate` publishes too."""
        from pullfix.core.policy import GrantPlan

        incident = self.incident
        still_failing = self.action == Action.STILL_FAILING
        try:
            cause = Cause(incident.cause)
        except ValueError:  # an incident opened by a pullfix that knew another cause
            cause = Cause.UNKNOWN
        return Outcome(
            event={
                "cluster": incident.cluster,
                "namespace": incident.namespace,
                "workload": incident.workload,
                "image": incident.image,
                "timestamp": format_timestamp(self.checked_at),
            },
            cause=cause,
            action=Action(self.action),
            reasons=self.reasons,
            fingerprint=incident.fingerprint,
            grant=GrantPlan(**incident.grant) if incident.grant else None,
            ticket=self._escalation_ticket() if still_failing else None,
            escalation=still_failing,
            verified=Verified(
                acted=Action(incident.action),
                first_failure=format_timestamp(incident.first_failure),
                first_success=(
                    format_timestamp(self.first_success) if self.first_success else None
                ),
                time_to_fix_seconds=self.time_to_fix_seconds,
                fixed_by=_fixed_by(incident) if self.action == Action.RESOLVED else None,
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        return self.outcome().to_dict()


def _fixed_by(incident: OpenIncident) -> str:
    return "pullfix's grant" if incident.action == Action.GRANT else "a human"


def _clause(incident: OpenIncident) -> str:
    """One incident's part of a query: its cluster's pods of its workload in its namespace,
    about its image, since the action."""
    location, cluster = incident.cluster.split("/")[3:6:2]
    # A workload's pods are named after it (`web-7d9f8c5b4-xk2p9` for Deployment/web): the
    # name narrows the answer to its pods; the exact workload is checked on each entry.
    pods = incident.workload.partition("/")[2]
    terms = (
        f'resource.labels.location="{_quoted(location)}"',
        f'resource.labels.cluster_name="{_quoted(cluster)}"',
        f'resource.labels.namespace_name="{_quoted(incident.namespace)}"',
        *([f'resource.labels.pod_name:"{_quoted(pods)}-"'] if pods else []),
        f'jsonPayload.message:"{_quoted(incident.image)}"',
        f'timestamp>="{format_timestamp(incident.acted_at)}"',
    )
    return "(" + " AND ".join(terms) + ")"


def scope_filter(project: str, incidents: Sequence[OpenIncident]) -> str:
    """The Cloud Logging query for open incidents of one cluster project: their clusters'
    pod events about their images since each one's action (pull failures and successful
    pulls), one clause per incident, OR-ed (in parentheses: Logging's OR binds tighter than
    AND, so the clauses are grouped whichever way a reader takes it)."""
    since = min(incident.acted_at for incident in incidents)
    return "\n".join(
        (
            'log_id("events")',
            'resource.type="k8s_pod"',
            f'resource.labels.project_id="{_quoted(project)}"',
            'jsonPayload.reason=("Pulled" OR "Failed" OR "BackOff")',
            f'timestamp>="{format_timestamp(since)}"',
            "(" + " OR ".join(_clause(incident) for incident in incidents) + ")",
        )
    )


def success_filter(incident: OpenIncident) -> str:
    """The Cloud Logging query for one incident (`scope_filter` of it alone)."""
    return scope_filter(_project_of(incident), [incident])


def _project_of(incident: OpenIncident) -> str:
    return incident.cluster.split("/")[1]


@dataclass(frozen=True, slots=True)
class Query:
    """One query of a pass: a cluster project, the filter, and the incidents it serves (in
    the pass's order); `text` is None for an incident whose clause alone passes the limit."""

    project: str
    text: str | None
    incidents: tuple[OpenIncident, ...]


def query_plan(incidents: Sequence[OpenIncident]) -> list[Query]:
    """The queries a pass makes for `incidents`: per cluster project, as few as keep every
    filter within MAX_FILTER_CHARS, in the order of each query's first incident (so the
    least recently checked incidents are read first)."""
    by_project: dict[str, list[OpenIncident]] = {}
    for incident in incidents:
        by_project.setdefault(_project_of(incident), []).append(incident)
    plan: list[tuple[int, Query]] = []
    order = {incident.fingerprint: n for n, incident in enumerate(incidents)}
    for project, members in by_project.items():
        group: list[OpenIncident] = []
        for incident in members:
            if len(scope_filter(project, [*group, incident])) <= MAX_FILTER_CHARS:
                group.append(incident)
                continue
            if group:
                plan.append((order[group[0].fingerprint], _query(project, group)))
            group = [incident]
        if group:
            plan.append((order[group[0].fingerprint], _query(project, group)))
    return [query for _, query in sorted(plan, key=lambda item: item[0])]


def _query(project: str, group: list[OpenIncident]) -> Query:
    text = scope_filter(project, group)
    return Query(project, text if len(text) <= MAX_FILTER_CHARS else None, tuple(group))


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


class LogQuery(Protocol):
    """One Cloud Logging `entries.list` request: a page of the entries of a cluster project
    that match the filter, oldest first, and the next page's token (None: the last page).
    Raises LoggingQuotaExceeded on a 429."""

    def __call__(
        self, project: str, text: str, page_token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]: ...


class LoggingQuotaExceeded(PullfixError):
    """Cloud Logging answered 429 RESOURCE_EXHAUSTED: its read quota is spent for now."""


@dataclass
class PassReport:
    """What one verification pass did (logged by the verify function; read by the bench)."""

    incidents: int = 0  # open incidents the pass took up
    queries: int = 0  # filters run (each one page or more)
    requests: int = 0  # entries.list requests: each page is one, against the quota
    checked: list[str] = field(default_factory=list)  # fingerprints, in the order checked
    stopped: str | None = None  # why the pass ended early: "budget" or "quota"


def _read_all(
    query: LogQuery, project: str, text: str, budget: int | None, report: PassReport
) -> tuple[list[dict[str, Any]], bool]:
    """Every page of one query while the budget lasts: (the entries, whether all were
    read). A 429 or the budget ends the reading (and the pass: `report.stopped`)."""
    entries: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        if budget is not None and report.requests >= budget:
            report.stopped = "budget"
            return entries, False
        report.requests += 1
        try:
            page, token = query(project, text, token)
        except LoggingQuotaExceeded:
            report.stopped = "quota"
            return entries, False
        entries.extend(page)
        if not token:
            return entries, True


_Key = tuple[str | None, str | None, str | None, str]


def _sorted_events(
    entries: Iterable[dict[str, Any]],
) -> dict[_Key, tuple[list[tuple[PodEvent, str]], list[tuple[PodEvent, str]]]]:
    """The kubelet's `Pulled` events and pull failures among `entries`, each with its image,
    indexed by (cluster, namespace, workload, image) so that each incident looks only at its
    own; the index is a shortcut, `_of_incident` still decides."""
    found: dict[_Key, tuple[list[tuple[PodEvent, str]], list[tuple[PodEvent, str]]]] = {}
    for entry in entries:
        result = parse_event(entry)
        if isinstance(result, PullFailure):
            event, image, kind = result, result.image or "", 1
        else:
            event = result.event  # type: ignore[assignment]
            match = _PULLED_RE.match(event.message or "") if event is not None else None
            if event is None or event.reason != "Pulled" or match is None:
                continue
            image, kind = match.group("image"), 0
        key = (event.cluster_resource, event.namespace, event.incident_workload, image)
        found.setdefault(key, ([], []))[kind].append((event, image))
    return found


def verify_incidents(
    incidents: Iterable[OpenIncident],
    query: LogQuery,
    as_of: datetime,
    *,
    nodes: NodeCheck,
    escalation_grace: int,
    abandon_after: int,
    limit: int,
    budget: int | None = None,
    report: PassReport | None = None,
) -> Iterator[Verdict]:
    """One verification pass over at most `limit` incidents: one query per cluster project
    (more where a filter would pass Cloud Logging's limit), at most `budget` entries.list
    requests in all. `report` records what the pass did; `report.checked` lists the
    incidents judged (or given up on), in order.

    An incident is judged only on all of its events: when the budget or a 429 cuts a query
    short, only a verified successful pull already read counts (the read is oldest first, so
    it is the first one), the pass ends, and the incidents not reached are left where they
    are. A query that alone takes the whole budget still moves its incidents to the end of
    the queue, so that one busy scope cannot hold up every pass."""
    report = report if report is not None else PassReport()
    taken = list(islice(incidents, limit))
    report.incidents = len(taken)
    for planned in query_plan(taken):
        if planned.text is None:
            incident = planned.incidents[0]
            log(
                "WARNING",
                f"pullfix verify cannot query the events of {incident.fingerprint}: its filter "
                f"alone is longer than Cloud Logging's {MAX_FILTER_CHARS} characters",
                {"fingerprint": incident.fingerprint},
            )
            report.checked.append(incident.fingerprint)
            continue
        if report.stopped is not None:
            return
        alone = report.queries == 0
        report.queries += 1
        try:
            entries, complete = _read_all(query, planned.project, planned.text, budget, report)
        except Exception:
            # Counted as checked: an incident whose query always fails goes to the end of the
            # queue instead of heading every pass.
            report.checked.extend(incident.fingerprint for incident in planned.incidents)
            raise
        events = _sorted_events(entries)
        for incident in planned.incidents:
            key = (incident.cluster, incident.namespace, incident.workload, incident.image)
            successes, failures = events.get(key, ([], []))
            verdict = _judge(
                incident,
                [
                    event
                    for event, image in successes
                    if _of_incident(incident, event, image, as_of)
                ],
                [event for event, image in failures if _of_incident(incident, event, image, None)],
                as_of,
                nodes,
                escalation_grace,
                abandon_after,
                complete=complete,
            )
            if complete or verdict is not None or (alone and report.stopped == "budget"):
                report.checked.append(incident.fingerprint)
            if verdict is not None:
                yield verdict
        if not complete:
            if alone and report.stopped == "budget":
                log(
                    "WARNING",
                    f"pullfix verify: the events of {len(planned.incidents)} incidents of "
                    f"{planned.project} take more than verify_requests_per_run ({budget}) "
                    "requests; they go to the end of the queue unjudged",
                    {"project": planned.project, "requests": report.requests},
                )
            return


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


def _judge(
    incident: OpenIncident,
    successes: list[PodEvent],
    failures: list[PodEvent],
    as_of: datetime,
    nodes: NodeCheck,
    escalation_grace: int,
    abandon_after: int,
    *,
    complete: bool = True,
) -> Verdict | None:
    """The verdict on one incident from its events (already matched to it): `complete`
    False means only some of them were read, and only a verified success may then decide."""
    # Verification order: successes oldest first (the first one verified is the fix),
    # failures newest first (the last one verified is how long it went on).
    successes.sort(key=lambda event: event.timestamp or as_of)
    failures.sort(key=lambda event: event.timestamp or as_of, reverse=True)
    success = _first_on_pool(incident, successes, nodes)
    if success is not None and success.timestamp is not None:
        fixed = _fixed_by(incident)
        return Verdict(
            incident,
            Action.RESOLVED,
            (
                f"{incident.workload} pulled {incident.image} again on node pool "
                f"{incident.node_pool} ({success.node}); fixed by {fixed}",
            ),
            as_of,
            success.timestamp,
        )
    if not complete:
        return None
    failure = _first_on_pool(incident, failures, nodes)
    last_failure = failure.timestamp if failure is not None else None
    since_action = (as_of - incident.acted_at).total_seconds()
    if (
        incident.action == Action.GRANT
        and last_failure is not None
        and escalation.past_grace(escalation_grace, incident.acted_at, last_failure)
    ):
        return Verdict(
            incident,
            Action.STILL_FAILING,
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
            Action.ABANDONED,
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
    query: LogQuery,
    now: datetime,
    config: Config,
    *,
    collector: EvidenceCollector | None = None,
    nodes: NodeCheck | None = None,
    limit: int | None = None,
    publish: Callable[[dict[str, Any]], None] | None = None,
    report: PassReport | None = None,
) -> list[Verdict]:
    """One pass over the ledger's open incidents, least recently checked first (at most
    `limit`, else the config's `verify_per_run`), within `verify_requests_per_run` Cloud
    Logging requests: publish each verdict, then close the incidents that are resolved or
    abandoned; a still-failing grant escalates once (here, or from a failure event past the
    grace period, whichever comes first). Every incident checked and still open goes to the
    end of the ledger's queue; one the pass did not reach (the budget ran out, or Logging
    answered 429) keeps its place, so the next pass starts with it. `collector` verifies the
    nodes of the events (see `NodePools`), unless `nodes` is given; `report` records what
    the pass did."""
    if nodes is None:
        if collector is None:
            raise TypeError("run_verification needs a collector or a node check")
        nodes = NodePools(collector)
    escalation_grace, abandon_after = config.escalation_grace, config.abandon_after
    limit = limit or config.verify_per_run
    report = report if report is not None else PassReport()
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
    verdicts = []
    closed: set[str] = set()
    try:
        for verdict in verify_incidents(
            incidents,
            query,
            now,
            nodes=nodes,
            escalation_grace=escalation_grace,
            abandon_after=abandon_after,
            limit=limit,
            budget=config.verify_requests_per_run,
            report=report,
        ):
            incident = verdict.incident
            if verdict.action == Action.STILL_FAILING:
                mine = escalation.by_verification(now)
                opened = records[incident.fingerprint].get(escalation.FLAG)
                if not escalation.claim(ledger, incident.fingerprint, mine, now, opened):
                    continue  # escalated already, by a failure event or an earlier pass
                escalation.keep_open(ledger, incident.fingerprint, mine, now, config)
            if publish is not None:
                publish(verdict.to_dict())
            if verdict.action in (Action.RESOLVED, Action.ABANDONED):
                ledger.close_incident(incident.fingerprint)
                closed.add(incident.fingerprint)
            verdicts.append(verdict)
    finally:
        ledger.mark_checked([key for key in report.checked if key not in closed])
    if report.stopped is not None:
        why = (
            "Cloud Logging's read quota is spent (429)"
            if report.stopped == "quota"
            else f"verify_requests_per_run ({config.verify_requests_per_run}) is reached"
        )
        log(
            "INFO",
            f"pullfix verify: pass ended early, {why}: {len(report.checked)} of "
            f"{report.incidents} incidents checked; the next pass starts with the rest",
            {"stopped": report.stopped, "requests": report.requests},
        )
    if collector is not None:
        # Grants that expire soon (auto_grant.expires_after), logged with the Terraform to keep.
        expiring_grants(incidents, collector.apis, now, config)
    return verdicts


def logging_query(clients: Any) -> LogQuery:
    """The request each page of a verification query makes: Cloud Logging `entries.list` on
    a cluster project, oldest first, a page of up to PAGE_SIZE entries (google-cloud-logging's
    HTTP/JSON connection, one request per call so that the pass can count them)."""
    from pullfix.gcp.adapter import PERMISSIONS, guard
    from pullfix.gcp.errors import api_error

    def query(
        project: str, text: str, page_token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        body: dict[str, Any] = {
            "resourceNames": [f"projects/{project}"],
            "filter": text,
            "orderBy": "timestamp asc",
            "pageSize": PAGE_SIZE,
        }
        if page_token:
            body["pageToken"] = page_token

        def call() -> dict[str, Any]:
            try:
                answer: dict[str, Any] = clients.logging.logging_api.api_request(
                    method="POST", path="/entries:list", data=body
                )
            except Exception as exc:
                error = api_error(exc)
                if error is not None and error.code == 429:
                    raise LoggingQuotaExceeded(f"reading the events of {project}: {error}") from exc
                raise
            return answer

        answer = guard(f"reading the events of {project}", call, PERMISSIONS["verify_logs"])
        entries = answer.get("entries") or []
        return [e for e in entries if isinstance(e, dict)], answer.get("nextPageToken") or None

    return query
