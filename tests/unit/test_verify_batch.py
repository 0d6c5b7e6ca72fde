"""Verification within Cloud Logging's quota: one query per cluster project and pass, split at
the 20,000-character filter limit, a per-pass request budget, and a 429 that ends the pass
without starving anyone (engine code with fakes: a fake Logging and a fake node check)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pullfix.core.config import config_from_dict
from pullfix.dev.events import log_entry, pulled_message
from pullfix.engine.ledger import MemoryLedger
from pullfix.engine.verify import (
    MAX_FILTER_CHARS,
    LoggingQuotaExceeded,
    OpenIncident,
    PassReport,
    query_plan,
    run_verification,
    verify_incidents,
)

START = datetime(2024, 3, 1, 10, tzinfo=UTC)
NODE = "gke-c-default-pool-1a2b3c4d-x7k9"


def _incident(n: int, project: str, cluster: str, *, image: str | None = None) -> OpenIncident:
    return OpenIncident(
        fingerprint=f"ticket-{n:05d}",
        action="ticket",
        cause="not_found",
        cluster=f"projects/{project}/locations/us-central1/clusters/{cluster}",
        namespace=f"team-{n % 17}",
        workload=f"Deployment/svc-{n}-api",
        image=image or f"us-central1-docker.pkg.dev/{project}-images/apps/svc-{n}-api:1.{n}.0",
        first_failure=START,
        acted_at=START + timedelta(minutes=n % 50),
        node_pool="default-pool",
        node=NODE,
    )


def _fleet(count: int, projects: int, clusters: int) -> list[OpenIncident]:
    """`count` incidents spread over `clusters` clusters in `projects` projects."""
    return [
        _incident(n, f"fleet-prod-{n % clusters % projects}", f"cluster-{n % clusters}")
        for n in range(count)
    ]


class _OnTheirPool:
    """A NodeCheck that finds every node in default-pool (no Google call)."""

    def may_hold(self, incident: OpenIncident, node: str) -> bool:
        return True

    def pool_of(self, event: Any) -> str | None:
        return "default-pool"


class _Logging:
    """A fake Cloud Logging: serves `entries` oldest first (filtered by project only; the
    matching back is the engine's) in pages of `page` entries, and answers 429 once `quota`
    requests are spent. Records every request."""

    def __init__(
        self, entries: list[dict[str, Any]] | None = None, page: int = 1000, quota: int = 10**9
    ) -> None:
        self.entries, self.page, self.quota = entries or [], page, quota
        self.requests: list[tuple[str, str, str | None]] = []

    def __call__(self, project: str, text: str, token: str | None) -> Any:
        self.requests.append((project, text, token))
        if len(self.requests) > self.quota:
            raise LoggingQuotaExceeded("429 Quota exceeded for quota metric 'Read requests'")
        mine = sorted(
            (e for e in self.entries if e["logName"].split("/")[1] == project),
            key=lambda e: str(e["timestamp"]),
        )
        start = int(token or 0)
        rest = start + self.page < len(mine)
        return mine[start : start + self.page], str(start + self.page) if rest else None


def _pulled(incident: OpenIncident, minute: int) -> dict[str, Any]:
    project, _, location, _, cluster = incident.cluster.split("/")[1:6]
    name = incident.workload.split("/")[1]
    return log_entry(
        project=project,
        location=location,
        cluster=cluster,
        namespace=incident.namespace,
        pod=f"{name}-7d9f8c5b4-b2c4d",
        node=NODE,
        message=pulled_message(incident.image),
        reason="Pulled",
        controller=("Deployment", name),
        timestamp=(START + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z"),
        insert_id=f"{incident.fingerprint}-{minute}",
    )


def _pass(
    incidents: list[OpenIncident], logging: _Logging, budget: int | None = None
) -> tuple[list[Any], PassReport]:
    report = PassReport()
    verdicts = list(
        verify_incidents(
            incidents,
            logging,
            START + timedelta(hours=2),
            nodes=_OnTheirPool(),
            escalation_grace=600,
            abandon_after=86400,
            limit=len(incidents),
            budget=budget,
            report=report,
        )
    )
    return verdicts, report


@pytest.mark.parametrize(("projects", "clusters"), [(3, 20), (5, 50), (1, 30)])
def test_a_thousand_open_incidents_take_at_most_one_query_per_twenty(
    projects: int, clusters: int
) -> None:
    incidents = _fleet(1000, projects, clusters)
    logging = _Logging()
    verdicts, report = _pass(incidents, logging)
    assert verdicts == []
    assert report.queries == len(logging.requests) == report.requests
    assert report.requests / len(incidents) <= 0.05, report.requests
    # Every filter stays within Cloud Logging's limit and names only its own project.
    for project, text, _ in logging.requests:
        assert len(text) <= MAX_FILTER_CHARS
        assert set(re.findall(r'project_id="([^"]+)"', text)) == {project}
    # Every incident is in exactly one query, and was checked.
    named = [m for _, text, _ in logging.requests for m in re.findall(r'svc-\d+-api:[\d.]+"', text)]
    assert len(named) == len(set(named)) == 1000
    assert sorted(report.checked) == sorted(i.fingerprint for i in incidents)


def test_filters_are_split_to_stay_under_twenty_thousand_characters() -> None:
    # Image names about 4,000 characters long: four clauses fit in a filter, five do not.
    images = [f"us-docker.pkg.dev/p/r/{'a' * 3990}{n}:1" for n in range(9)]
    incidents = [_incident(n, "shop-prod", "checkout", image=img) for n, img in enumerate(images)]
    plan = query_plan(incidents)
    assert [len(q.incidents) for q in plan] == [4, 4, 1]
    assert all(q.text is not None and 16_000 < len(q.text) <= MAX_FILTER_CHARS for q in plan[:2])
    # One incident whose clause alone is over the limit is warned about and moved on from,
    # never sent to Logging (which would refuse it with 400).
    huge = _incident(99, "shop-prod", "checkout", image=f"us-docker.pkg.dev/p/r/{'b' * 20_000}:1")
    logging = _Logging()
    _, report = _pass([huge, *incidents[:2]], logging)
    assert len(logging.requests) == 1
    assert report.checked == [huge.fingerprint, incidents[0].fingerprint, incidents[1].fingerprint]


def test_each_incident_is_judged_on_its_own_entries_only() -> None:
    # Two workloads whose pods share a prefix ("svc-1-api-" is also the start of
    # "svc-1-api-canary-…"), the same image, in one query: a pull by one resolves it alone.
    web = _incident(1, "shop-prod", "checkout")
    canary = OpenIncident(
        **{
            **{f: getattr(web, f) for f in web.__slots__},  # type: ignore[attr-defined]
            "fingerprint": "ticket-canary",
            "workload": "Deployment/svc-1-api-canary",
        }
    )
    other = _incident(2, "shop-prod", "checkout")
    verdicts, report = _pass([web, canary, other], _Logging([_pulled(canary, 90)]))
    assert report.queries == 1
    assert [(v.incident.fingerprint, v.action) for v in verdicts] == [("ticket-canary", "resolved")]


def test_pages_count_against_the_budget_and_an_unfinished_query_judges_nothing_else() -> None:
    first = [_incident(n, "alpha-prod", "a") for n in range(3)]
    second = [_incident(n, "beta-prod", "b") for n in range(3, 6)]
    # alpha: 2 pages of nothing that matters; beta: its incident 3 pulled, then more pages.
    noise = [
        _pulled(_incident(100 + n, project, "x"), 100)
        for project in ("alpha-prod", "beta-prod")
        for n in range(4)
    ]
    logging = _Logging([*noise, _pulled(second[0], 70)], page=2)
    verdicts, report = _pass([*first, *second], logging, budget=4)
    assert report.requests == 4 and report.stopped == "budget"
    assert [r[0] for r in logging.requests] == ["alpha-prod"] * 2 + ["beta-prod"] * 2
    # alpha was read to its end: checked. beta was not: only its incident whose successful
    # pull was already read (the read goes oldest first) is judged; the others keep their place.
    assert [(v.incident.fingerprint, v.action) for v in verdicts] == [
        (second[0].fingerprint, "resolved")
    ]
    assert report.checked == [i.fingerprint for i in first] + [second[0].fingerprint]


def test_a_query_that_alone_takes_the_whole_budget_moves_its_incidents_back() -> None:
    busy = [_incident(n, "alpha-prod", "a") for n in range(2)]
    noise = [_pulled(_incident(100 + n, "alpha-prod", "x"), 100) for n in range(10)]
    _, report = _pass(busy, _Logging(noise, page=2), budget=3)
    assert report.stopped == "budget" and report.requests == 3
    assert report.checked == [i.fingerprint for i in busy]


def _open(ledger: MemoryLedger, incident: OpenIncident) -> None:
    outcome = {
        "action": incident.action,
        "cause": incident.cause,
        "fingerprint": incident.fingerprint,
        "event": {
            "cluster": incident.cluster,
            "namespace": incident.namespace,
            "workload": incident.workload,
            "image": incident.image,
            "node": incident.node,
            "timestamp": START.isoformat().replace("+00:00", "Z"),
        },
        "evidence": {"node_pool": incident.node_pool},
    }
    ledger.open_incident(
        incident.fingerprint, {"outcome": json.dumps(outcome)}, START + timedelta(days=30)
    )


def test_a_429_ends_the_pass_and_the_next_one_starts_where_it_stopped() -> None:
    # Twelve incidents in three projects (one query each); Logging answers two requests a
    # pass, then 429.
    incidents = [
        _incident(number * 10 + n, project, "c")
        for number, project in enumerate(("alpha-prod", "beta-prod", "gamma-prod"))
        for n in range(4)
    ]
    ledger = MemoryLedger()
    for incident in incidents:
        _open(ledger, incident)
    config = config_from_dict({"verify_per_run": 12})
    checked: list[list[str]] = []
    for number in range(3):
        report = PassReport()
        now = START + timedelta(hours=2, minutes=number)
        before = [key for key, _ in ledger.open_incidents(now, 12)]
        verdicts = run_verification(
            ledger, _Logging(quota=2), now, config, nodes=_OnTheirPool(), report=report
        )
        assert verdicts == [] and report.stopped == "quota" and report.requests == 3
        assert len(report.checked) == 8
        # What was checked went to the end of the queue; what was not now heads it.
        after = [key for key, _ in ledger.open_incidents(now, 12)]
        unreached = [key for key in before if key not in report.checked]
        assert after == unreached + report.checked
        checked.append(report.checked)
    # Nobody starves: every incident is checked within two passes, and each pass starts with
    # the incidents the last one did not reach.
    assert set(checked[0]) | set(checked[1]) == {i.fingerprint for i in incidents}
    assert checked[1][:4] == [i.fingerprint for i in incidents[8:]]


def test_the_budget_is_read_from_the_config() -> None:
    incidents = [_incident(n, f"p{n}-prod", "c") for n in range(5)]
    ledger = MemoryLedger()
    for incident in incidents:
        _open(ledger, incident)
    report = PassReport()
    config = config_from_dict({"verify_requests_per_run": 2})
    run_verification(
        ledger,
        _Logging(),
        START + timedelta(hours=2),
        config,
        nodes=_OnTheirPool(),
        report=report,
    )
    assert (report.requests, report.stopped, len(report.checked)) == (2, "budget", 2)
    assert config_from_dict({}).verify_requests_per_run == 30
