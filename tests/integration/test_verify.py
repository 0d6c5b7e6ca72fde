"""Closing the loop: `pullfix replay --verify` and the verification pass behind it, against
a world whose log entries hold what the kubelet logged after pullfix acted."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from pullfix.core.intake import parse_timestamp
from pullfix.dev.events import log_entry, pull_message, pulled_message
from pullfix.engine.verify import (
    OpenIncident,
    PassReport,
    scope_filter,
    success_filter,
    verify_incidents,
)
from tests.commands import pullfix
from tests.conftest import REPO

pytestmark = pytest.mark.integration
PULLFIX = str(Path(sys.executable).parent / "pullfix")
SAMPLES = REPO / "functions" / "pullfix" / "dev" / "samples"
IMAGE = "us-central1-docker.pkg.dev/shop-images/images/web:1.4"
MISSING = "us-central1-docker.pkg.dev/shop-prod/apps/api:9.9"


def _entry(
    minute: float,
    message: str,
    *,
    reason: str = "Failed",
    workload: str = "web",
    pod: str = "web-7d9f8c5b4-xk2p9",
    node: str = "gke-checkout-default-pool-1a2b3c4d-x7k9",
    kind: str = "Deployment",
) -> dict[str, Any]:
    when = datetime(2024, 3, 1, 10, tzinfo=UTC) + timedelta(minutes=minute)
    return log_entry(
        project="shop-prod",
        location="us-central1",
        cluster="checkout",
        namespace="web",
        pod=pod,
        node=node,
        message=message,
        reason=reason,
        controller=(kind, workload),
        timestamp=when.isoformat().replace("+00:00", "Z"),
        insert_id=f"{workload}-{reason}-{minute}-{node}",
    )


def _pulled(minute: float, image: str = IMAGE, **kwargs: Any) -> dict[str, Any]:
    return _entry(minute, pulled_message(image), reason="Pulled", **kwargs)


def _run(
    tmp_path: Path,
    events: list[dict[str, Any]],
    logged: list[dict[str, Any]],
    **config: Any,
) -> list[dict[str, Any]]:
    world = yaml.safe_load((SAMPLES / "world.yaml").read_text())
    world["log_entries"] = logged
    (tmp_path / "world.yaml").write_text(yaml.safe_dump(world))
    settings = {"auto_grant": {"repositories": ["projects/shop-*/locations/*/repositories/*"]}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({**settings, **config}))
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    # `pullfix replay --verify`, in this process (the command's process behaviour has its own
    # tests in tests/unit/test_cli.py).
    done = pullfix(
        "replay",
        "--verify",
        "--world",
        str(tmp_path / "world.yaml"),
        "--config",
        str(tmp_path / "config.yaml"),
        "--json",
        str(tmp_path / "events.jsonl"),
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_resolved_after_a_grant_with_its_time_to_fix(tmp_path: Path) -> None:
    failed = _entry(0, pull_message(IMAGE, "403 Forbidden"))
    # The kubelet retries; 2m31s after the first failure, a new pod pulls.
    results = _run(
        tmp_path,
        [failed],
        [failed, _pulled(2 + 31 / 60, pod="web-7d9f8c5b4-b2c4d")],
    )
    grant, closed = results
    assert grant["action"] == "grant"
    assert closed["action"] == "resolved"
    assert closed["fingerprint"] == grant["fingerprint"]
    assert closed["time_to_fix_seconds"] == 151
    assert closed["fixed_by"] == "pullfix's grant"


def test_resolved_after_a_human_fixed_a_ticketed_cause(tmp_path: Path) -> None:
    failed = _entry(0, pull_message(MISSING, "manifest unknown"), workload="api", pod="api-1")
    # Somebody pushed the tag; "already present" is the other wording of a good pull.
    present = _entry(
        7,
        f'Container image "{MISSING}" already present on machine',
        reason="Pulled",
        workload="api",
        pod="api-1",
    )
    ticket, closed = _run(tmp_path, [failed], [failed, present])
    assert (ticket["action"], ticket["cause"]) == ("ticket", "not_found")
    assert (closed["action"], closed["fingerprint"]) == ("resolved", ticket["fingerprint"])
    assert (closed["time_to_fix_seconds"], closed["fixed_by"]) == (420, "a human")


def test_still_failing_after_the_grace_period_is_one_escalation(tmp_path: Path) -> None:
    failed = _entry(0, pull_message(IMAGE, "403 Forbidden"))
    later = [_entry(m, pull_message(IMAGE, "403 Forbidden")) for m in (4, 9, 11)]
    results = _run(tmp_path, [failed], [failed, *later])
    assert [r["action"] for r in results] == ["grant", "still_failing"]
    assert results[1]["fingerprint"] == results[0]["fingerprint"]
    assert "660s after the grant" in results[1]["reasons"][0]


def test_an_escalation_made_from_a_failure_event_is_not_made_again(tmp_path: Path) -> None:
    failed = _entry(0, pull_message(IMAGE, "403 Forbidden"))
    again = _entry(11, pull_message(IMAGE, "403 Forbidden"), pod="web-7d9f8c5b4-z9x8w")
    results = _run(tmp_path, [failed, again], [failed, again])
    assert [(r["action"], r.get("escalation")) for r in results] == [
        ("grant", False),
        ("ticket", True),
    ]


class _Outcomes:
    """The engine's publisher port, keeping what it is given."""

    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def publish(self, outcome: dict[str, Any]) -> None:
        self.published.append(outcome)

    def escalations(self) -> list[str]:
        return [
            o["action"]
            for o in self.published
            if o.get("escalation") or o.get("action") == "still_failing"
        ]


def _in_process(
    tmp_path: Path,
    logged: list[dict[str, Any]],
    *,
    world_change: Callable[[dict[str, Any]], None] | None = None,
    firestore: bool = False,
    queried: list[str] | None = None,
    **settings: Any,
) -> Any:
    """A remediator and verification against a sandbox whose logs hold `logged`, with the
    interleaving of events and passes in the test's hands: `world_change` edits the sample
    world first, `firestore` puts the ledger in the sandbox's Firestore, `queried` collects
    the workload of every incident a pass queries, and `settings` go into the config."""
    import dataclasses
    from contextlib import contextmanager

    from pullfix.core.config import config_from_dict
    from pullfix.core.intake import PullFailure, parse_json
    from pullfix.dev.sandbox import Sandbox, load_world
    from pullfix.engine.ledger import FirestoreLedger
    from pullfix.engine.runtime import build_remediator
    from pullfix.engine.verify import PassReport, logging_query, run_verification
    from pullfix.gcp.clients import GoogleClients
    from pullfix.gcp.endpoints import sandbox_endpoint

    world = yaml.safe_load((SAMPLES / "world.yaml").read_text())
    world["log_entries"] = logged
    if world_change is not None:
        world_change(world)
    (tmp_path / "world.yaml").write_text(yaml.safe_dump(world))
    config = config_from_dict(
        {"auto_grant": {"repositories": ["projects/shop-*/locations/*/repositories/*"]}, **settings}
    )

    @contextmanager
    def running() -> Any:
        with Sandbox(load_world(tmp_path / "world.yaml")) as sandbox:
            clients = GoogleClients(sandbox_endpoint(sandbox.endpoint))
            remediator = build_remediator(config, clients, None)
            if firestore:
                remediator.ledger = FirestoreLedger(
                    clients.rest, "shop-prod", "(default)", "pullfix-verify", timeout=5.0
                )
            outcomes = remediator.publisher = _Outcomes()
            query = logging_query(clients)

            def deliver(entry: dict[str, Any], message_id: str) -> Any:
                failure = parse_json(json.dumps(entry).encode())
                assert isinstance(failure, PullFailure)
                failure = dataclasses.replace(failure, message_id=message_id)
                return remediator.handle(failure, failure.timestamp)

            def verify(minute: float) -> list[str]:
                now = datetime(2024, 3, 1, 10, tzinfo=UTC) + timedelta(minutes=minute)
                workloads = {
                    key: json.loads(data["outcome"])["event"]["workload"]
                    for key, data in remediator.ledger.open_incidents(now, 10_000)
                }
                report = PassReport()
                verdicts = run_verification(
                    remediator.ledger,
                    query,
                    now,
                    config,
                    collector=remediator.collector,
                    publish=outcomes.publish,
                    report=report,
                )
                if queried is not None:
                    queried.extend(workloads[key] for key in report.checked)
                return [v.action for v in verdicts]

            try:
                yield deliver, verify, outcomes, remediator.ledger, sandbox
            finally:
                clients.close()

    return running()


@pytest.mark.parametrize("first", ["verification", "failure event"])
def test_a_grant_is_escalated_once_whoever_escalates_first(tmp_path: Path, first: str) -> None:
    failed = _entry(0, pull_message(IMAGE, "403 Forbidden"))
    late = _entry(11, pull_message(IMAGE, "403 Forbidden"), pod="web-7d9f8c5b4-z9x8w")
    with _in_process(tmp_path, [failed, late]) as (deliver, verify, outcomes, _, _):
        assert deliver(failed, "m1").action.value == "grant"
        if first == "verification":
            assert verify(12) == ["still_failing"]
            assert not deliver(late, "m2").escalation
            expected = ["still_failing"]
        else:
            assert deliver(late, "m2").escalation
            expected = ["ticket"]
        # The grant record lives a dedupe window (1h), the open incident longer: neither
        # pass escalates again.
        assert verify(30) == []
        assert verify(65) == []
        assert outcomes.escalations() == expected


def test_an_escalation_is_the_same_whoever_escalates(tmp_path: Path) -> None:
    # The same grant, still failing at minute 11, escalated once by a verification pass and
    # once (in another world) by a failure event, both at minute 11: the same ticket, the
    # flag naming who escalated on both records, and the incident kept open as long.
    failed = _entry(0, pull_message(IMAGE, "403 Forbidden"))
    late = _entry(11, pull_message(IMAGE, "403 Forbidden"), pod="web-7d9f8c5b4-z9x8w")
    at = datetime(2024, 3, 1, 10, 11, tzinfo=UTC)
    # abandon_after twice and the grace, from the escalation (the defaults: 1d and 10m).
    kept = at + timedelta(days=2, minutes=10)
    seen: dict[str, tuple[Any, ...]] = {}
    for first in ("verification", "failure event"):
        world = tmp_path / first.replace(" ", "-")
        world.mkdir()
        with _in_process(world, [failed, late]) as (deliver, verify, outcomes, ledger, _):
            key = deliver(failed, "m1").fingerprint
            if first == "verification":
                assert verify(11) == ["still_failing"]
            else:
                assert deliver(late, "m2").escalation
            [escalated] = [o for o in outcomes.published if o.get("escalation")]
            flag = (ledger.get(key, at) or {})["escalated"]
            assert dict(ledger.open_incidents(at, 100))[key]["escalated"] == flag
            assert key in dict(ledger.open_incidents(kept - timedelta(seconds=1), 100))
            assert key not in dict(ledger.open_incidents(kept, 100))
            seen[first] = (escalated["ticket"], escalated["fingerprint"], flag)
    by_pass, by_event = seen["verification"], seen["failure event"]
    assert by_pass[:2] == by_event[:2]
    ticket = by_pass[0]
    assert ticket["title"] == (
        f"[pullfix] grant did not fix it: {IMAGE} for web/Deployment/web in checkout"
    )
    assert ticket["fingerprint"] == by_pass[1]
    assert by_pass[2].startswith("verification:")
    assert by_event[2] == "message:m2"


DEFAULT_NODE = "gke-checkout-default-pool-1a2b3c4d-x7k9"
LEGACY_NODE = "gke-checkout-legacy-pool-5e6f7a8b-q2w3"


def _two_pools(world: dict[str, Any]) -> None:
    """legacy-pool pulls the shared images fine (its account reads them, its scopes allow
    it); default-pool's account cannot, so there a pull is refused."""
    checkout = world["projects"]["shop-prod"]["clusters"]["checkout"]
    checkout["node_pools"]["legacy-pool"]["oauth_scopes"] = [
        "https://www.googleapis.com/auth/devstorage.read_only"
    ]
    images = world["projects"]["shop-images"]["repositories"]["images"]
    images["iam"].append(
        {
            "role": "roles/artifactregistry.reader",
            "members": ["serviceAccount:gke-nodes@shop-prod.iam.gserviceaccount.com"],
        }
    )


def _agent(minute: float, message: str, node: str, reason: str = "Failed") -> dict[str, Any]:
    """An event of DaemonSet/agent's pod on `node` (a pod per node)."""
    pod = f"agent-{'b2c4d' if node == DEFAULT_NODE else 'q7w8z'}"
    return _entry(
        minute, message, reason=reason, workload="agent", pod=pod, node=node, kind="DaemonSet"
    )


def test_a_daemonset_healthy_on_one_pool_and_failing_on_another_stays_open(
    tmp_path: Path,
) -> None:
    failed = _agent(0, pull_message(IMAGE, "403 Forbidden"), DEFAULT_NODE)
    healthy = _agent(1, pulled_message(IMAGE), LEGACY_NODE, reason="Pulled")
    again = _agent(4, pull_message(IMAGE, "403 Forbidden"), DEFAULT_NODE)
    logged = [failed, healthy, again]
    with _in_process(tmp_path, logged, world_change=_two_pools) as (
        deliver,
        verify,
        outcomes,
        _,
        sandbox,
    ):
        grant = deliver(failed, "m1")
        assert grant.action.value == "grant"
        assert grant.evidence["node_pool"] == "default-pool"
        # The pool that pulls is not the pool that failed: nothing is resolved.
        assert verify(5) == []
        # The failing pool goes on failing past the grace period: one escalation.
        sandbox.world.log_entries.append(
            _agent(11, pull_message(IMAGE, "403 Forbidden"), DEFAULT_NODE)
        )
        assert verify(12) == ["still_failing"]
        assert verify(13) == []
        assert [o["action"] for o in outcomes.published] == ["grant", "still_failing"]


def test_a_successful_pull_on_the_failing_pool_resolves_it(tmp_path: Path) -> None:
    failed = _agent(0, pull_message(IMAGE, "403 Forbidden"), DEFAULT_NODE)
    healthy = _agent(1, pulled_message(IMAGE), LEGACY_NODE, reason="Pulled")
    other = "gke-checkout-default-pool-1a2b3c4d-b3n8"  # another node of the failing pool
    fixed = _entry(
        3,
        pulled_message(IMAGE),
        reason="Pulled",
        workload="agent",
        pod="agent-x9z8k",
        node=other,
        kind="DaemonSet",
    )
    with _in_process(tmp_path, [failed, healthy, fixed], world_change=_two_pools) as (
        deliver,
        verify,
        outcomes,
        _,
        _,
    ):
        assert deliver(failed, "m1").action.value == "grant"
        assert verify(2) == []
        assert verify(5) == ["resolved"]
        assert outcomes.published[-1]["time_to_fix_seconds"] == 180


def _forged_pull(how: str) -> dict[str, Any]:
    if how == "a node that does not exist":
        return _pulled(2, node="gke-checkout-default-pool-1a2b3c4d-zzzz")
    if how == "a node of another pool":
        return _pulled(2, node=LEGACY_NODE)
    if how == "dated before the action":
        return _pulled(-1)
    if how == "written in another project's log":
        entry = _pulled(2)
        entry["logName"] = "projects/shop-images/logs/events"
        return entry
    assert how == "of another cluster"
    entry = _pulled(2)
    entry["resource"]["labels"]["cluster_name"] = "checkout-staging"
    return entry


@pytest.mark.parametrize(
    "how",
    [
        "a node that does not exist",
        "a node of another pool",
        "dated before the action",
        "written in another project's log",
        "of another cluster",
    ],
)
def test_a_forged_or_foreign_pulled_event_resolves_nothing(tmp_path: Path, how: str) -> None:
    failed = _entry(0, pull_message(IMAGE, "403 Forbidden"))
    with _in_process(tmp_path, [failed, _forged_pull(how)]) as (deliver, verify, outcomes, _, _):
        assert deliver(failed, "m1").action.value == "grant"
        assert verify(5) == []
        assert [o["action"] for o in outcomes.published] == ["grant"]


def test_a_flood_of_forged_pulled_events_asks_compute_a_bounded_number_of_times(
    tmp_path: Path,
) -> None:
    from pullfix.engine.verify import NODES_PER_INCIDENT

    failed = _entry(0, pull_message(IMAGE, "403 Forbidden"))
    # Names a node of default-pool could have, none of them an instance.
    forged = [
        _pulled(1 + n / 100, node=f"gke-checkout-default-pool-1a2b3c4d-f{n:03}", pod=f"web-{n}")
        for n in range(60)
    ]
    with _in_process(tmp_path, [failed, *forged]) as (deliver, verify, outcomes, _, sandbox):
        assert deliver(failed, "m1").action.value == "grant"
        before = sandbox.stats()["requests"].get("compute.instances.get", 0)
        assert verify(5) == []
        asked = sandbox.stats()["requests"].get("compute.instances.get", 0) - before
        assert asked <= NODES_PER_INCIDENT
        assert [o["action"] for o in outcomes.published] == ["grant"]
        # The flood cannot hide a real pull on the node whose failure opened the incident.
        sandbox.world.log_entries.append(_pulled(4))
        assert verify(6) == ["resolved"]
        assert outcomes.published[-1]["time_to_fix_seconds"] == 240


@pytest.mark.parametrize("firestore", [False, True], ids=["memory", "firestore"])
def test_every_open_incident_is_checked_within_ceil_total_over_n_passes(
    tmp_path: Path, firestore: bool
) -> None:
    # Seven incidents that keep failing, and never resolve: a pass checks three.
    names = [f"w{n}" for n in range(7)]
    failed = {
        name: _entry(0, pull_message(MISSING, "manifest unknown"), workload=name, pod=f"{name}-1")
        for name in names
    }
    queried: list[str] = []
    with _in_process(
        tmp_path, list(failed.values()), firestore=firestore, queried=queried, verify_per_run=3
    ) as (deliver, verify, _, _, _):
        for number, name in enumerate(names):
            assert deliver(failed[name], f"m{number}").action.value == "ticket"
        checked: list[set[str]] = []
        for minute in (10, 20, 30):  # ceil(7 / 3) passes
            queried.clear()
            assert verify(minute) == []
            assert len(queried) == 3
            checked.append(set(queried))
        assert set().union(*checked) == {f"Deployment/{name}" for name in names}


def test_only_verified_incidents_are_kept_open_so_forgeries_cannot_fill_a_pass(
    tmp_path: Path,
) -> None:
    # Forged failures naming nodes that do not exist: tickets ("unverified"), never kept.
    forged = [
        _entry(
            0,
            pull_message(MISSING, "manifest unknown"),
            workload=f"f{n}",
            pod=f"f{n}-1",
            node=f"gke-checkout-default-pool-1a2b3c4d-fake{n}",
        )
        for n in range(6)
    ]
    real = _entry(1, pull_message(MISSING, "manifest unknown"), workload="api", pod="api-1")
    queried: list[str] = []
    with _in_process(tmp_path, [*forged, real], queried=queried, verify_per_run=2) as (
        deliver,
        verify,
        _,
        ledger,
        _,
    ):
        for number, entry in enumerate(forged):
            outcome = deliver(entry, f"f{number}")
            assert (outcome.action.value, outcome.cause.value) == ("ticket", "unverified")
        assert deliver(real, "real").action.value == "ticket"
        start = datetime(2024, 3, 1, 10, tzinfo=UTC)
        assert [
            json.loads(d["outcome"])["event"]["workload"]
            for _, d in ledger.open_incidents(start, 100)
        ] == ["Deployment/api"]
        assert verify(10) == []
        assert queried == ["Deployment/api"]


def test_a_workload_that_went_away_is_abandoned(tmp_path: Path) -> None:
    failed = _entry(0, pull_message(MISSING, "manifest unknown"), workload="api", pod="api-1")
    results = _run(tmp_path, [failed], [failed], abandon_after="5m")
    assert [r["action"] for r in results] == ["ticket", "abandoned"]


def test_another_workload_or_image_pulling_resolves_nothing(tmp_path: Path) -> None:
    failed = _entry(0, pull_message(IMAGE, "403 Forbidden"))
    other_image = _pulled(3, image=IMAGE.replace("1.4", "1.5"))
    other_workload = _pulled(3, workload="batch", pod="batch-7d9f8c5b4-xk2p9")
    results = _run(tmp_path, [failed], [failed, other_image, other_workload])
    assert [r["action"] for r in results] == ["grant"]


class _AllOnDefaultPool:
    """A NodeCheck that finds every node in default-pool (no Google call)."""

    def may_hold(self, incident: OpenIncident, node: str) -> bool:
        return True

    def pool_of(self, event: Any) -> str | None:
        return "default-pool"


def test_one_query_serves_the_open_incidents_of_a_project_and_the_cap_per_run() -> None:
    start = datetime(2024, 3, 1, 10, tzinfo=UTC)
    incidents = [
        OpenIncident(
            fingerprint=f"ticket-{n}",
            action="ticket",
            cause="not_found",
            cluster="projects/shop-prod/locations/us-central1/clusters/checkout",
            namespace="web",
            workload=f"Deployment/w{n}",
            image=MISSING,
            first_failure=start,
            acted_at=start,
            node_pool="default-pool",
        )
        for n in range(5)
    ]
    asked: list[tuple[str, str]] = []

    def query(project: str, text: str, token: str | None) -> Any:
        asked.append((project, text))
        pulls = [_pulled(3, image=MISSING, workload=f"w{n}", pod=f"w{n}-1") for n in range(5)]
        return pulls, None

    report = PassReport()
    verdicts = list(
        verify_incidents(
            incidents,
            query,
            start + timedelta(hours=1),
            nodes=_AllOnDefaultPool(),
            escalation_grace=600,
            abandon_after=86400,
            limit=3,
            report=report,
        )
    )
    # One query for the three incidents the cap lets in, each matched to its own pull.
    assert asked == [("shop-prod", scope_filter("shop-prod", incidents[:3]))]
    assert [v.incident.fingerprint for v in verdicts] == ["ticket-0", "ticket-1", "ticket-2"]
    assert [v.action for v in verdicts] == ["resolved"] * 3
    assert (report.queries, report.requests, report.checked) == (
        1,
        1,
        ["ticket-0", "ticket-1", "ticket-2"],
    )
    assert parse_timestamp(verdicts[0].to_dict()["first_success"]) == start + timedelta(minutes=3)


def test_the_query_is_narrow() -> None:
    start = datetime(2024, 3, 1, 10, tzinfo=UTC)
    incident = OpenIncident(
        fingerprint="f",
        action="grant",
        cause="role",
        cluster="projects/p/locations/l/clusters/c",
        namespace="n",
        workload="Deployment/w",
        image='us-docker.pkg.dev/p/r/we"ird:1',
        first_failure=start,
        acted_at=start,
        node_pool="default-pool",
    )
    text = success_filter(incident)
    assert 'resource.labels.cluster_name="c"' in text
    assert 'resource.labels.pod_name:"w-"' in text  # the workload's pods only
    assert 'jsonPayload.message:"us-docker.pkg.dev/p/r/we\\"ird:1"' in text
    assert 'timestamp>="2024-03-01T10:00:00Z"' in text


def test_the_scheduled_verify_function_closes_a_granted_incident(tmp_path: Path) -> None:
    """Live: remediate grants (Firestore ledger), the kubelet then logs a successful pull,
    and the scheduler's tick to the real `verify` function publishes `resolved` once."""
    from pullfix.dev.events import eventarc_headers, push_body
    from pullfix.dev.localrun import FunctionServer, post
    from tests.integration.pipeline import CONFIG, IMAGES, event, pipeline

    image = f"us-docker.pkg.dev/{IMAGES}/shared/web:1.4"
    with pipeline(tmp_path, CONFIG, ledger_firestore=True) as (pipe,):
        failed = event("default-pool", image, workload="closing", minutes_ago=5)
        assert pipe.post(failed) == 200
        (grant,) = pipe.outcomes_for(failed)
        assert grant["action"] == "grant"
        pipe.sandbox.world.log_entries.extend([failed, _pulled_after(failed, image, 2)])

        def tick(number: int) -> int:
            body = push_body(
                {"pullfix": "verify"}, message_id=f"tick-{number}", project="shop-prod"
            )
            headers = eventarc_headers(f"tick-{number}", "projects/shop-prod/topics/pullfix-verify")
            return post(verifier.url, json.dumps(body).encode(), headers)

        with FunctionServer(
            "verify", env=pipe.function._env, log_path=tmp_path / "verify.log"
        ) as verifier:
            # Cloud Logging's read quota spent: the pass ends, acknowledged (a redelivery
            # would only spend more), and says so; the incident stays open for the next.
            pipe.sandbox.world.logging_read_quota = 0
            assert tick(0) == 200
            assert [o["action"] for o in pipe.outcomes_for(failed)] == ["grant"]
            assert '"stopped":"quota"' in (tmp_path / "verify.log").read_text()
            pipe.sandbox.world.logging_read_quota = None
            assert tick(1) == 200
            assert tick(2) == 200  # the incident is closed: nothing more to say
        closed = [o for o in pipe.outcomes() if o["fingerprint"] == grant["fingerprint"]]
        assert [o["action"] for o in closed] == ["grant", "resolved"]
        assert closed[1]["time_to_fix_seconds"] == 120
        assert closed[1]["fixed_by"] == "pullfix's grant"
        logged = (tmp_path / "verify.log").read_text()
        assert '"verification"' in logged and "resolved" in logged


def _pulled_after(failed: dict[str, Any], image: str, minutes: int) -> dict[str, Any]:
    """The kubelet's Pulled event of the failed event's pod, `minutes` later."""
    first = parse_timestamp(failed["timestamp"])
    assert first is not None
    pulled = dict(failed)
    pulled["insertId"] = f"pulled-{failed['insertId']}"
    pulled["timestamp"] = (first + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
    pulled["jsonPayload"] = {
        **failed["jsonPayload"],
        "reason": "Pulled",
        "type": "Normal",
        "message": pulled_message(image),
    }
    return pulled


def test_pullfix_verify_on_demand(tmp_path: Path) -> None:
    """`pullfix verify` runs the same pass from a terminal, against the same ledger."""
    import os

    from tests.integration.pipeline import CONFIG, IMAGES, event, pipeline

    image = f"us-docker.pkg.dev/{IMAGES}/shared/web:1.4"
    with pipeline(tmp_path, CONFIG, ledger_firestore=True) as (pipe,):
        failed = event("default-pool", image, workload="ondemand", minutes_ago=9)
        assert pipe.post(failed) == 200
        (grant,) = pipe.outcomes_for(failed)
        pipe.sandbox.world.log_entries.extend([failed, _pulled_after(failed, image, 7)])
        env = {
            **os.environ,
            "PULLFIX_GCP_ENDPOINT": pipe.sandbox.endpoint,
            "PULLFIX_CONFIG": pipe.function._env["PULLFIX_CONFIG"],
        }
        env.pop("PULLFIX_OUTCOMES_TOPIC", None)
        command = [PULLFIX, "verify", "--json"]
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr
        (closed,) = [json.loads(line) for line in done.stdout.splitlines()]
        assert (closed["action"], closed["fingerprint"]) == ("resolved", grant["fingerprint"])
        assert closed["time_to_fix_seconds"] == 420
        assert "not published" in done.stderr
        again = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=120, check=False
        )
        assert (again.returncode, again.stdout) == (0, "")  # closed: nothing left to say


def _function_log(service: str, minute: int, payload: dict[str, Any]) -> dict[str, Any]:
    """A structured line of a pullfix function, as Cloud Logging stores it (gen2: Cloud Run)."""
    when = datetime(2026, 11, 25, 10, tzinfo=UTC) + timedelta(minutes=minute)
    return {
        "insertId": f"{service}-{minute}",
        "logName": "projects/shop-prod/logs/run.googleapis.com%2Fstdout",
        "resource": {
            "type": "cloud_run_revision",
            "labels": {"project_id": "shop-prod", "service_name": service},
        },
        "timestamp": when.isoformat().replace("+00:00", "Z"),
        "jsonPayload": payload,
    }


def test_report_sums_up_outcomes_and_time_to_fix(tmp_path: Path) -> None:
    import os

    from pullfix.dev.sandbox import Sandbox
    from pullfix.dev.sandbox.world import world_from_dict

    def outcome(action: str, cause: str, **more: Any) -> dict[str, Any]:
        return {"schema": "pullfix.outcome/v1", "action": action, "cause": cause, **more}

    def verdict(action: str, seconds: int | None, by: str | None) -> dict[str, Any]:
        record = outcome(action, "role", time_to_fix_seconds=seconds, fixed_by=by)
        return {"message": "pullfix verify", "verification": record}

    logs = [
        _function_log("pullfix-remediate", 0, outcome("grant", "cross_project")),
        _function_log("pullfix-remediate", 1, outcome("grant", "role")),
        _function_log("pullfix-remediate", 2, outcome("ticket", "not_found")),
        _function_log("pullfix-remediate", 3, outcome("suppressed", "role")),
        _function_log("pullfix-remediate", 4, outcome("ticket", "role", escalation=True)),
        _function_log("pullfix-verify", 10, verdict("resolved", 151, "pullfix's grant")),
        _function_log("pullfix-verify", 11, verdict("resolved", 432, "a human")),
        _function_log("pullfix-verify", 12, verdict("abandoned", None, None)),
        _function_log("other-remediate", 5, outcome("grant", "role")),  # another deployment
    ]
    world = yaml.safe_load((SAMPLES / "world.yaml").read_text())
    world["log_entries"] = logs
    with Sandbox(world_from_dict(world)) as sandbox:
        env = {**os.environ, "PULLFIX_GCP_ENDPOINT": sandbox.endpoint}
        done = subprocess.run(
            [PULLFIX, "report", "--project", "shop-prod", "--since", "36500d", "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        table = subprocess.run(
            [PULLFIX, "report", "--project", "shop-prod", "--since", "36500d"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["incidents"] == 3
    assert summary["by_cause"] == {"cross_project": 1, "not_found": 1, "role": 1}
    assert (summary["grants"], summary["tickets"], summary["escalations"]) == (2, 1, 1)
    assert (summary["resolved"], summary["abandoned"]) == (2, 1)
    assert summary["resolved_by"] == {"a human": 1, "pullfix's grant": 1}
    assert summary["time_to_fix_seconds"]["max"] == 432
    assert table.returncode == 0 and "time to fix" in table.stdout


def test_the_sandbox_refuses_a_filter_over_cloud_loggings_limit(tmp_path: Path) -> None:
    """Cloud Logging refuses a query longer than 20,000 characters with 400 INVALID_ARGUMENT
    (https://cloud.google.com/logging/quotas): so does the sandbox, through the real client."""
    from pullfix.dev.sandbox import Sandbox, load_world
    from pullfix.engine.verify import MAX_FILTER_CHARS, logging_query
    from pullfix.gcp.clients import GoogleClients
    from pullfix.gcp.endpoints import sandbox_endpoint
    from pullfix.gcp.errors import ApiCallError

    with Sandbox(load_world(SAMPLES / "world.yaml")) as sandbox:
        clients = GoogleClients(sandbox_endpoint(sandbox.endpoint))
        try:
            query = logging_query(clients)
            base = 'log_id("events")\n'
            at_limit = (
                base + 'jsonPayload.message:"' + "x" * (MAX_FILTER_CHARS - len(base) - 22) + '"'
            )
            assert len(at_limit) == MAX_FILTER_CHARS
            assert query("shop-prod", at_limit, None) == ([], None)
            with pytest.raises(ApiCallError) as refused:
                query("shop-prod", at_limit + " ", None)
            assert refused.value.code == 400
            assert "20000 characters" in refused.value.message
        finally:
            clients.close()


def test_a_429_from_logging_ends_the_pass_and_the_next_pass_resolves(tmp_path: Path) -> None:
    """The world's `logging_read_quota`: the sandbox answers 429 RESOURCE_EXHAUSTED past it.
    The pass ends without an error, nothing is judged or moved, and the next one (the quota
    back) closes the incident."""
    failed = _entry(0, pull_message(IMAGE, "403 Forbidden"))
    pulled = _pulled(3, pod="web-7d9f8c5b4-b2c4d")
    queried: list[str] = []
    with _in_process(tmp_path, [failed, pulled], queried=queried) as (
        deliver,
        verify,
        _,
        _,
        sandbox,
    ):
        assert deliver(failed, "m1").action.value == "grant"
        sandbox.state.world.logging_read_quota = 0
        assert verify(10) == []
        assert queried == []
        requests = sandbox.stats()["requests"]
        # The pass's one request (remediate's policy audit log lookup counted apart):
        assert requests["logging.entries.list"] - requests["logging.entries.list:policy"] == 1
        sandbox.state.world.logging_read_quota = 60
        assert verify(11) == ["resolved"]
        assert queried == ["Deployment/web"]
        assert sandbox.state.world.logging_read_quota == 59
