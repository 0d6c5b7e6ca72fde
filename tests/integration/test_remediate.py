"""`remediate` end to end: functions-framework over HTTP, the sandbox, the official clients."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.integration.pipeline import (
    CONDITION,
    CONFIG,
    DEFAULT_SA,
    HOT_POOLS,
    IMAGES,
    LOCATION,
    PROD,
    Pipeline,
    event,
    node,
    pipeline,
    sa,
)

pytestmark = pytest.mark.integration

APPS = f"{LOCATION}-docker.pkg.dev/{PROD}/apps"
SHARED = f"us-docker.pkg.dev/{IMAGES}/shared"
APPS_REPO = f"projects/{PROD}/locations/{LOCATION}/repositories/apps"
SHARED_REPO = f"projects/{IMAGES}/locations/us/repositories/shared"
HOT_REPO = f"projects/{IMAGES}/locations/us/repositories/hot"
READER = "roles/artifactregistry.reader"
AMBIGUOUS = (
    'denied: Permission "artifactregistry.repositories.downloadArtifacts" denied on '
    'resource "{repo}" (or it may not exist)'
)


@pytest.fixture(scope="module")
def pipe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """One remediate server and world for the module's tests (a cold start each would cost
    more than the tests): each test's incidents are its own, an account and repository no
    other test grants, so that they pass in any order (`pytest --reverse` runs them so)."""
    with pipeline(tmp_path_factory.mktemp("remediate")) as (running,):
        yield running


def cause_event(pool: str, image: str, detail: str) -> dict[str, Any]:
    """A pull failure as the kubelet reports it; some causes have events of their own."""
    if detail == "InspectFailed":
        return event(
            pool,
            image,
            reason="InspectFailed",
            message=(
                f'Failed to apply default image tag "{image}": couldn\'t parse image reference '
                f'"{image}": invalid reference format: repository name must be lowercase'
            ),
        )
    if detail == "ErrImageNeverPull":
        return event(
            pool,
            image,
            reason="ErrImageNeverPull",
            message=(f'Container image "{image}" is not present with pull policy of Never'),
        )
    if detail.startswith("denied:"):
        return event(pool, image, message=f'Failed to pull image "{image}": {detail}')
    return event(pool, image, detail)


CAUSES = [
    # pool, image, detail (or the kind of kubelet event), cause, action
    ("default-pool", f"{APPS}/Bad:1", "InspectFailed", "invalid_name", "ticket"),
    ("default-pool", f"{APPS}/local:1", "ErrImageNeverPull", "pull_policy", "ticket"),
    ("default-pool", f"{SHARED}/web:1.4", "403 Forbidden", "cross_project", "grant"),
    (
        "custom-pool",
        f"{APPS}/api:2.0",
        "failed to fetch oauth token: 403 Forbidden",
        "role",
        "grant",
    ),
    ("noscope-pool", f"{APPS}/api:2.0", "401 Unauthorized", "scope", "ticket"),
    ("old-pool", f"{APPS}/api:2.0", "403 Forbidden", "version", "ticket"),
    ("disabled-pool", f"{APPS}/api:2.0", "403 Forbidden", "service_account", "ticket"),
    ("deleted-pool", f"{APPS}/api:2.0", "403 Forbidden", "service_account", "ticket"),
    ("custom-pool", f"{APPS}/api:9.9", "manifest unknown", "not_found", "ticket"),
    ("custom-pool", f"{APPS}/ghost:1", AMBIGUOUS.format(repo=APPS_REPO), "not_found", "ticket"),
    ("editor-pool", f"{APPS}/web:1.0", "403 Forbidden", "permission", "ticket"),
    (
        "custom-pool",
        f"{LOCATION}-docker.pkg.dev/{PROD}/locked/app:1",
        "403 Forbidden",
        "role",
        "ticket",
    ),
    (
        "default-pool",
        "quay.io/team/app:1",
        "dial tcp 1.2.3.4:443: i/o timeout",
        "network",
        "ticket",
    ),
    ("default-pool", "busybox:1.36", "429 Too Many Requests", "rate_limit", "ticket"),
    (
        "default-pool",
        "ghcr.io/o/arm:1",
        "no match for platform in manifest: not found",
        "platform",
        "ticket",
    ),
    (
        "default-pool",
        f"{APPS}/big:1",
        "failed to extract layer: no space left on device",
        "node_disk",
        "ticket",
    ),
    ("default-pool", "registry.example.com/a:1", "401 Unauthorized", "auth_config", "ticket"),
    ("default-pool", "quay.io/team/other:1", "context canceled", "unknown", "ticket"),
]


@pytest.mark.parametrize(
    ("pool", "image", "detail", "cause", "action"), CAUSES, ids=[f"{c[3]}-{c[0]}" for c in CAUSES]
)
def test_every_cause(
    pipe: Pipeline, pool: str, image: str, detail: str, cause: str, action: str
) -> None:
    entry = cause_event(pool, image, detail)
    assert pipe.post(entry) == 200
    outcome = pipe.one_outcome(entry)
    assert (outcome["cause"], outcome["action"]) == (cause, action), outcome["reasons"]
    assert outcome["reasons"]
    assert outcome["event"]["cluster"] == f"projects/{PROD}/locations/{LOCATION}/clusters/c1"
    assert outcome["remediation"]["title"].startswith(f"[pullfix] {cause}")
    if action == "ticket":
        assert outcome["grant"] is None
        assert outcome["ticket"]["fingerprint"] == outcome["fingerprint"]
    else:
        assert outcome["ticket"] is None


def test_grants_land_in_iam_with_the_verified_account(pipe: Pipeline) -> None:
    entry = event("custom-pool", f"us-docker.pkg.dev/{IMAGES}/hot/app:1", workload="verify")
    assert pipe.post(entry) == 200
    outcome = pipe.one_outcome(entry)
    member = f"serviceAccount:{sa('nodes')}"
    assert outcome["grant"] == {"resource": HOT_REPO, "role": READER, "member": member}
    assert outcome["remediation"]["terraform"].count(member) == 1
    assert member in pipe.reader_members(HOT_REPO)
    # The conditional writer binding survived the read-modify-write.
    bindings = pipe.sandbox.world.projects[IMAGES].repositories["hot"].policy.bindings
    assert any(b.condition == CONDITION for b in bindings)


def test_the_default_account_is_resolved_from_the_project_number(pipe: Pipeline) -> None:
    # On a repository of its own: test_every_cause grants the default account on `shared`.
    entry = event("default-pool", f"us-docker.pkg.dev/{IMAGES}/hot/app:1", workload="base-user")
    assert pipe.post(entry) == 200
    assert pipe.one_outcome(entry)["grant"]["member"] == f"serviceAccount:{DEFAULT_SA}"
    assert f"serviceAccount:{DEFAULT_SA}" in pipe.reader_members(HOT_REPO)


SPOOFS = [
    ("unknown cluster", {"cluster": "c9"}),
    ("unknown project", {"project": "elsewhere-prj"}),
    ("node in no pool", {"node_name": "gke-c1-ghost-pool-12345678-n001"}),
    ("node of another cluster", {"node_name": node("custom-pool", cluster="c2")}),
    ("no node", {"node_name": ""}),
]


@pytest.mark.parametrize(("what", "spoof"), SPOOFS, ids=[s[0] for s in SPOOFS])
def test_spoofed_events_never_grant(pipe: Pipeline, what: str, spoof: dict[str, Any]) -> None:
    image = f"us-docker.pkg.dev/{IMAGES}/hot/app:1"
    before = pipe.reader_members(HOT_REPO)
    writes = pipe.stats().get("artifactregistry.projects.locations.repositories.setIamPolicy", 0)
    entry = event("custom-pool", image, workload=f"spoof-{what.replace(' ', '-')}", **spoof)
    assert pipe.post(entry) == 200
    outcome = pipe.one_outcome(entry)
    assert (outcome["cause"], outcome["action"], outcome["grant"]) == ("unverified", "ticket", None)
    assert pipe.reader_members(HOT_REPO) == before
    assert (
        pipe.stats().get("artifactregistry.projects.locations.repositories.setIamPolicy", 0)
        == writes
    )


def test_concurrent_grants_on_one_repository_lose_nothing(pipe: Pipeline) -> None:
    image = f"us-docker.pkg.dev/{IMAGES}/hot/app:1"
    entries = [event(f"hot-{i}", image, workload=f"hot-{i}") for i in range(HOT_POOLS)]
    with ThreadPoolExecutor(max_workers=HOT_POOLS) as pool:
        statuses = list(pool.map(pipe.post, entries))
    assert statuses == [200] * HOT_POOLS
    members = pipe.reader_members(HOT_REPO)
    assert {f"serviceAccount:{sa(f'hot-{i}')}" for i in range(HOT_POOLS)} <= members
    policy = pipe.sandbox.world.projects[IMAGES].repositories["hot"].policy
    assert [b.condition for b in policy.bindings if b.condition] == [CONDITION]
    grants = [pipe.one_outcome(e) for e in entries]
    assert {g["action"] for g in grants} == {"grant"}


def test_one_message_delivered_five_times_is_one_grant_and_one_outcome(pipe: Pipeline) -> None:
    entry = event("redeliver-pool", f"{SHARED}/web:1.4", workload="redeliver")
    writes = "artifactregistry.projects.locations.repositories.setIamPolicy"
    before = pipe.stats().get(writes, 0)
    assert [pipe.post(entry, message_id="same-message-1") for _ in range(5)] == [200] * 5
    with ThreadPoolExecutor(max_workers=5) as pool:
        concurrent = list(
            pool.map(lambda _: pipe.post(entry, message_id="same-message-1"), range(5))
        )
    assert concurrent == [200] * 5
    assert pipe.stats().get(writes, 0) == before + 1
    outcome = pipe.one_outcome(entry)
    assert outcome["action"] == "grant"
    assert outcome["event"]["message_id"] == "same-message-1"


def test_409_races_are_retried_and_keep_the_concurrent_change(pipe: Pipeline) -> None:
    pipe.sandbox.add_fault(
        method="artifactregistry.projects.locations.repositories.getIamPolicy", race=True, count=3
    )
    entry = event("race-pool", f"{SHARED}/web:1.4", workload="race")
    try:
        assert pipe.post(entry) == 200
    finally:
        pipe.sandbox.state.clear_faults()
    assert pipe.one_outcome(entry)["action"] == "grant"
    assert f"serviceAccount:{sa('race')}" in pipe.reader_members(SHARED_REPO)
    writers = (
        pipe.sandbox.world.projects[IMAGES]
        .repositories["shared"]
        .policy.members_of("roles/artifactregistry.writer")
    )
    assert {f"user:concurrent-writer-{i}@example.com" for i in (1, 2, 3)} <= writers


def test_503s_raise_for_redelivery_and_leave_nothing_half_done(pipe: Pipeline) -> None:
    entry = event("flaky-pool", f"{SHARED}/web:1.4", workload="flaky")
    pipe.sandbox.add_fault(
        method="artifactregistry.projects.locations.repositories.getIamPolicy",
        status=503,
        count=None,
    )
    try:
        assert pipe.post(entry, message_id="flaky-1") == 500
        assert pipe.post(entry, message_id="flaky-1") == 500
    finally:
        pipe.sandbox.state.clear_faults()
    assert pipe.outcomes_for(entry) == []
    assert f"serviceAccount:{sa('flaky')}" not in pipe.reader_members(SHARED_REPO)
    # Pub/Sub redelivers; now the API answers.
    assert pipe.post(entry, message_id="flaky-1") == 200
    assert pipe.one_outcome(entry)["action"] == "grant"


def test_a_brief_503_is_retried_inside_the_invocation(pipe: Pipeline) -> None:
    pipe.sandbox.add_fault(method="iam.projects.serviceAccounts.get", status=503, count=1)
    entry = event("twice-pool", f"{SHARED}/web:1.4", workload="twice")
    try:
        assert pipe.post(entry) == 200
    finally:
        pipe.sandbox.state.clear_faults()
    assert pipe.one_outcome(entry)["action"] == "grant"


def test_timeouts_raise_for_redelivery(pipe: Pipeline) -> None:
    entry = event("slow-pool", f"{SHARED}/web:1.4", workload="slow")
    # The repository's policy: read for every new incident (existence checks are cached).
    pipe.sandbox.add_fault(
        method="artifactregistry.projects.locations.repositories.getIamPolicy",
        latency=3.0,
        count=1,
    )
    try:
        assert pipe.post(entry, message_id="slow-1") == 500
    finally:
        pipe.sandbox.state.clear_faults()
    assert pipe.post(entry, message_id="slow-1") == 200
    assert pipe.one_outcome(entry)["action"] == "grant"


def test_a_duplicate_storm_costs_almost_no_api_requests(pipe: Pipeline) -> None:
    images = [
        f"{APPS}/api:2.0",
        f"{APPS}/web:1.0",
        f"{SHARED}/web:1.4",
        f"{SHARED}/base:2",
        f"us-docker.pkg.dev/{IMAGES}/hot/app:1",
    ]
    incidents = [(f"storm-{i}", images[i % len(images)]) for i in range(10)]
    before = pipe.sandbox.stats()["total"]
    statuses = []
    for round_ in range(50):
        for workload, image in incidents:
            entry = event("storm-pool", image, workload=workload)
            entry["insertId"] = f"{workload}-{round_}"
            statuses.append(pipe.post(entry))
    events = len(statuses)
    assert events >= 500
    assert set(statuses) == {200}
    requests = pipe.sandbox.stats()["total"] - before
    # The first event of each of the 10 incidents reads its evidence (cluster, node, account,
    # tag, the Artifact Registry API's state, the repository (its mode and key in one read),
    # the troubleshooter, each cached across incidents); every duplicate after it reads nothing.
    assert requests / events <= 0.06, f"{requests} requests for {events} events"


def test_failures_past_the_grace_period_escalate_once(pipe: Pipeline) -> None:
    # Event time stands in for the passing of time: the grant's event is fresh (within the
    # 10-minute grace), so the grace runs from its event; the later one is dated ahead.
    image = f"{SHARED}/web:1.4"
    first = event("late-pool", image, workload="late", minutes_ago=9)
    assert pipe.post(first) == 200
    assert pipe.one_outcome(first)["action"] == "grant"
    early = event("late-pool", image, workload="late", minutes_ago=5)
    assert pipe.post(early) == 200
    assert pipe.outcomes_for(early) == []  # within the grace period: suppressed
    later = event("late-pool", image, workload="late", minutes_ago=-1.5)
    assert pipe.post(later) == 200
    escalation = pipe.one_outcome(later)
    assert escalation["escalation"] is True
    assert escalation["action"] == "ticket"
    assert escalation["ticket"]["title"].startswith("[pullfix] grant did not fix it")
    assert escalation["grant"]["member"] == f"serviceAccount:{sa('late')}"
    again = event("late-pool", image, workload="late", minutes_ago=-2)
    assert pipe.post(again) == 200
    assert pipe.outcomes_for(again) == []


def test_an_escalation_is_published_once_even_when_its_publish_fails(tmp_path: Path) -> None:
    # Another workload of the granted account (a new event, so the incident path, not the
    # duplicate one) fails past the grace period; the first publish of its escalation fails.
    # The redelivery of that message publishes it, once; nothing else escalates again.
    config = {**CONFIG, "lease": "2s"}
    with pipeline(tmp_path, config, ledger_firestore=True) as (pipe,):
        image = f"{SHARED}/web:1.4"
        first = event("late-pool", image, workload="late", minutes_ago=9)
        assert pipe.post(first) == 200
        assert pipe.one_outcome(first)["action"] == "grant"
        pipe.sandbox.add_fault(method="pubsub.projects.topics.publish", status=503, count=20)
        other = event("late-pool", image, workload="late-b", minutes_ago=-1.5)
        assert pipe.post(other, message_id="esc-1") == 500
        statuses = []
        deadline = time.monotonic() + 30
        while not statuses or statuses[-1] != 200:
            assert time.monotonic() < deadline, statuses
            time.sleep(0.5)
            statuses.append(pipe.post(other, message_id="esc-1"))  # Pub/Sub's redelivery
        escalations = [o for o in pipe.outcomes() if o["escalation"]]
        assert len(escalations) == 1, escalations
        assert escalations[0]["event"]["insert_id"] == other["insertId"]
        again = event("late-pool", image, workload="late-c", minutes_ago=-2)
        assert pipe.post(again) == 200
        assert [o for o in pipe.outcomes() if o["escalation"]] == escalations


def test_irrelevant_and_old_events_are_acknowledged_without_outcomes(pipe: Pipeline) -> None:
    crash = event(
        "default-pool",
        "busybox",
        reason="BackOff",
        message="Back-off restarting failed container app in pod x",
    )
    old = event("custom-pool", f"{APPS}/api:2.0", workload="ancient", minutes_ago=3 * 24 * 60)
    assert pipe.post(crash) == 200
    assert pipe.post(old) == 200
    assert pipe.outcomes_for(crash) == []
    assert pipe.outcomes_for(old) == []


# -- other configurations -------------------------------------------------------------------


def test_dry_run_would_grant_and_changes_nothing(tmp_path: Path) -> None:
    with pipeline(tmp_path, {**CONFIG, "dry_run": True}) as (pipe,):
        entry = event("dry-pool", f"{SHARED}/web:1.4")
        assert pipe.post(entry) == 200
        outcome = pipe.one_outcome(entry)
        assert outcome["action"] == "would_grant"
        assert outcome["dry_run"] is True
        assert outcome["grant"]["member"] == f"serviceAccount:{sa('dry')}"
        assert pipe.reader_members(SHARED_REPO) == set()
        assert "artifactregistry.projects.locations.repositories.setIamPolicy" not in pipe.stats()


def test_the_grant_cap_turns_grants_into_tickets(tmp_path: Path) -> None:
    config = {**CONFIG, "auto_grant": {**CONFIG["auto_grant"], "max_per_hour": 1}}
    with pipeline(tmp_path, config) as (pipe,):
        first = event("custom-pool", f"{APPS}/api:2.0")
        second = event("custom-pool", f"{SHARED}/web:1.4")
        assert pipe.post(first) == 200
        assert pipe.post(second) == 200
        assert pipe.one_outcome(first)["action"] == "grant"
        capped = pipe.one_outcome(second)
        assert (capped["cause"], capped["action"]) == ("cross_project", "ticket")
        assert any("cap of 1 grants per hour" in r for r in capped["reasons"])


def test_project_level_grants_when_configured(tmp_path: Path) -> None:
    config = {**CONFIG, "auto_grant": {**CONFIG["auto_grant"], "level": "project"}}
    with pipeline(tmp_path, config) as (pipe,):
        entry = event("custom-pool", f"{SHARED}/web:1.4")
        assert pipe.post(entry) == 200
        outcome = pipe.one_outcome(entry)
        assert outcome["grant"]["resource"] == f"projects/{IMAGES}"
        policy = pipe.sandbox.world.projects[IMAGES].policy
        assert f"serviceAccount:{sa('nodes')}" in policy.members_of(READER)
        assert pipe.reader_members(SHARED_REPO) == set()


def test_firestore_ledger_dedupes_across_instances(tmp_path: Path) -> None:
    with pipeline(tmp_path, ledger_firestore=True, functions=2) as (one, two):
        entry = event("custom-pool", f"{SHARED}/web:1.4", workload="shared-incident")
        assert one.post(entry, message_id="across-1") == 200
        assert two.post(entry, message_id="across-1") == 200
        other_pod = event("custom-pool", f"{SHARED}/web:1.4", workload="shared-incident")
        other_pod["insertId"] = "another-pod"
        assert two.post(other_pod, message_id="across-2") == 200
        outcomes = one.outcomes()
        assert [o["action"] for o in outcomes] == ["grant"]
        assert one.stats()["artifactregistry.projects.locations.repositories.setIamPolicy"] == 1
        assert any(k.startswith("firestore.") for k in one.stats())
