"""The incident lifecycle under crashes and forged events: real functions-framework processes
killed with SIGKILL mid-step, a fresh process, and Pub/Sub's redelivery of the same message,
with the sandbox's Firestore ledger shared by both."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from pullfix.dev.localrun import FunctionServer
from tests.integration.pipeline import (
    CONFIG,
    DEFAULT_SA,
    IMAGES,
    Pipeline,
    event,
    pipeline,
)

pytestmark = pytest.mark.integration

SHARED = f"us-docker.pkg.dev/{IMAGES}/shared"
SHARED_REPO = f"projects/{IMAGES}/locations/us/repositories/shared"
READER = "roles/artifactregistry.reader"
LEASE = 4
CRASH_CONFIG = {**CONFIG, "lease": f"{LEASE}s", "api_timeout": "60s"}

# Where the worker dies: a request it has in flight when SIGKILL comes (held by the sandbox).
CRASH_POINTS = {
    "during-evidence": "artifactregistry.projects.locations.repositories.getIamPolicy",
    "during-set-iam-policy": "artifactregistry.projects.locations.repositories.setIamPolicy",
    "during-publish": "pubsub.projects.topics.publish",
    "during-ledger-write": "firestore.projects.databases.documents.commit",
}


def _bindings(pipe: Pipeline) -> list[dict[str, Any]]:
    policy = pipe.sandbox.world.projects[IMAGES].repositories["shared"].policy
    return [b.to_dict() for b in policy.bindings if b.role == READER]


def _wait_for(pipe: Pipeline, method: str, before: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while pipe.stats().get(method, 0) <= before:
        assert time.monotonic() < deadline, f"{method} was never called"
        time.sleep(0.02)


@pytest.mark.parametrize("point", list(CRASH_POINTS))
def test_a_crash_at_any_step_ends_in_one_grant_and_its_outcome(tmp_path: Path, point: str) -> None:
    method = CRASH_POINTS[point]
    with pipeline(tmp_path, CRASH_CONFIG, ledger_firestore=True) as (pipe,):
        entry = event("default-pool", f"{SHARED}/web:1.4", workload=f"crash-{point}")
        message = f"crash-{point}"
        if method.endswith("commit"):
            # Hold the ledger write that follows the IAM write.
            before = pipe.stats().get(method, 0)
            pipe.sandbox.add_fault(
                method="artifactregistry.projects.locations.repositories.setIamPolicy",
                latency=0.5,
            )
        else:
            pipe.sandbox.add_fault(method=method, latency=30)
        answers: list[int] = []
        worker = threading.Thread(target=lambda: answers.append(pipe.post(entry, message)))
        worker.start()
        if method.endswith("commit"):
            _wait_for(pipe, "artifactregistry.projects.locations.repositories.setIamPolicy", 0)
            pipe.sandbox.add_fault(method=method, latency=30)
            _wait_for(pipe, method, before + 1)
        else:
            _wait_for(pipe, method, 0)
        time.sleep(0.2)
        pipe.function.kill()
        worker.join(timeout=30)
        assert answers == [0]  # the connection died with the process: no acknowledgement
        pipe.sandbox.state.clear_faults()

        with FunctionServer(
            "remediate",
            env=pipe.function._env,  # the same deployment, a fresh instance
            log_path=tmp_path / "remediate-after.log",
        ) as fresh:
            pipe.function = fresh
            statuses = []
            deadline = time.monotonic() + 60
            while True:  # Pub/Sub redelivers until acknowledged
                status = pipe.post(entry, message)
                statuses.append(status)
                if status == 200:
                    break
                assert time.monotonic() < deadline, statuses
                time.sleep(0.5)
            # Acknowledged only once the grant and its outcome exist.
            assert _bindings(pipe) == [
                {"role": READER, "members": [f"serviceAccount:{DEFAULT_SA}"]}
            ]
            outcomes = pipe.outcomes_for(entry)
            assert outcomes and {o["action"] for o in outcomes} == {"grant"}
            # Later deliveries of the incident say it is fixed; nothing more is granted.
            assert pipe.post(entry, message) == 200
            again = event("default-pool", f"{SHARED}/web:1.4", workload=f"crash-{point}-2")
            assert pipe.post(again) == 200
            assert len(_bindings(pipe)) == 1
            assert [o["action"] for o in pipe.outcomes_for(again)] == []  # suppressed
            assert set(statuses[:-1]) <= {500}


def test_a_redelivery_of_work_under_way_is_not_acknowledged(tmp_path: Path) -> None:
    config = {**CONFIG, "lease": "60s", "api_timeout": "60s"}
    with pipeline(tmp_path, config, ledger_firestore=True) as (pipe,):
        entry = event("default-pool", f"{SHARED}/web:1.4", workload="slow")
        pipe.sandbox.add_fault(
            method="artifactregistry.projects.locations.repositories.setIamPolicy", latency=3
        )
        first: list[int] = []
        worker = threading.Thread(target=lambda: first.append(pipe.post(entry, "slow-1")))
        worker.start()
        _wait_for(pipe, "artifactregistry.projects.locations.repositories.setIamPolicy", 0)
        assert pipe.post(entry, "slow-1") == 500  # the same message, its lease live: retry
        assert pipe.post(entry, "slow-2") == 200  # another event of it: a duplicate
        worker.join(timeout=60)
        assert first == [200]
        assert len(_bindings(pipe)) == 1
        assert [o["action"] for o in pipe.outcomes_for(entry)] == ["grant"]


def test_forged_and_future_events_never_block_the_real_one(tmp_path: Path) -> None:
    with pipeline(tmp_path, CONFIG) as (pipe,):
        real = event("default-pool", f"{SHARED}/web:1.4", workload="target")
        # The same workload and image, from a node no pool of the cluster has.
        forged = event(
            "default-pool",
            f"{SHARED}/web:1.4",
            workload="target",
            node_name="gke-c1-nopool-0badf00d-evil",
        )
        forged["insertId"] = "forged"
        future = event("default-pool", f"{SHARED}/web:1.4", workload="target", minutes_ago=-5e6)
        assert pipe.post(future) == 200
        assert pipe.post(forged) == 200
        assert pipe.post(real) == 200
        assert [o["action"] for o in pipe.outcomes_for(real)] == ["grant"]
        assert f"serviceAccount:{DEFAULT_SA}" in pipe.reader_members(SHARED_REPO)
        log = (tmp_path / "remediate-0.log").read_text()
        assert '"rejection":"future"' in log


def test_a_refusal_never_blocks_a_later_allowed_grant(tmp_path: Path) -> None:
    refusing = {**CONFIG, "auto_grant": {**CONFIG["auto_grant"], "cluster_projects": ["other-*"]}}
    with pipeline(tmp_path, refusing, ledger_firestore=True) as (pipe,):
        entry = event("default-pool", f"{SHARED}/web:1.4", workload="refused-first")
        assert pipe.post(entry) == 200
        (refused,) = pipe.outcomes_for(entry)
        assert refused["action"] == "ticket" and refused["fingerprint"].startswith("ticket-")
        # The operator widens the allow-list; the next failure of the incident is granted.
        pipe.config_path.write_text(yaml.safe_dump(CONFIG))
        with FunctionServer(
            "remediate", env=pipe.function._env, log_path=tmp_path / "remediate-allowed.log"
        ) as allowed:
            pipe.function = allowed
            later = event("default-pool", f"{SHARED}/web:1.4", workload="refused-first")
            later["insertId"] = "later"
            assert pipe.post(later) == 200
        assert [o["action"] for o in pipe.outcomes_for(later)] == ["grant"]
        assert f"serviceAccount:{DEFAULT_SA}" in pipe.reader_members(SHARED_REPO)
        assert "already fixed" not in (tmp_path / "remediate-allowed.log").read_text()


def _kubelet_sequence(image: str, workload: str) -> list[dict[str, Any]]:
    """The four events kubelet emits for one failed pull, as GKE logs them."""
    failed = event("default-pool", image, workload=workload)
    err_pull = event("default-pool", image, workload=workload, message="Error: ErrImagePull")
    backoff = event(
        "default-pool",
        image,
        workload=workload,
        reason="BackOff",
        message=f'Back-off pulling image "{image}"',
    )
    err_backoff = event("default-pool", image, workload=workload, message="Error: ImagePullBackOff")
    for number, entry in enumerate((failed, err_pull, backoff, err_backoff)):
        entry["insertId"] = f"{workload}-{number}"
    return [failed, err_pull, backoff, err_backoff]


def test_kubelets_four_events_are_one_incident(tmp_path: Path) -> None:
    with pipeline(tmp_path, CONFIG) as (pipe,):
        for _ in range(2):  # the pod retries: the same four events again
            for entry in _kubelet_sequence(f"{SHARED}/web:1.4", "four-events"):
                assert pipe.post(entry) == 200
        outcomes = pipe.outcomes()
        assert [o["action"] for o in outcomes] == ["grant"]
        assert len(_bindings(pipe)) == 1


def _back_off(image: str, workload: str, minutes_ago: float) -> dict[str, Any]:
    return event(
        "default-pool",
        image,
        workload=workload,
        reason="BackOff",
        message=f'Back-off pulling image "{image}"',
        minutes_ago=minutes_ago,
    )


def test_back_off_alone_never_opens_a_grant(tmp_path: Path) -> None:
    image = f"{SHARED}/web:1.4"
    with pipeline(tmp_path, CONFIG) as (pipe,):
        failed, err_pull, _, err_backoff = _kubelet_sequence(image, "backoff-only")
        # Follow-ups only, within followup_grace (60 s) of the first: no ticket yet.
        for entry in (_back_off(image, "backoff-only", 3), err_pull, err_backoff):
            assert pipe.post(entry) == 200
        assert pipe.outcomes() == []
        # Still only follow-ups, two minutes on: one ticket, on the live evidence.
        for _ in range(2):
            assert pipe.post(_back_off(image, "backoff-only", 1)) == 200
        outcomes = pipe.outcomes()
        assert [(o["action"], o["cause"]) for o in outcomes] == [("ticket", "cross_project")]
        assert any("does not show the registry refusing" in r for r in outcomes[0]["reasons"])
        assert _bindings(pipe) == []
        # The event that shows the refusal opens the grant.
        assert pipe.post(failed) == 200
        assert [o["action"] for o in pipe.outcomes_for(failed)] == ["grant"]


def test_a_back_off_ahead_of_its_failed_event_files_no_ticket(tmp_path: Path) -> None:
    """Pub/Sub does not keep order: the follow-up may come first. Within followup_grace the
    event that shows the refusal arrives and grants; no ticket is filed on the follow-up."""
    image = f"{SHARED}/web:1.4"
    with pipeline(tmp_path, CONFIG) as (pipe,):
        failed, err_pull, _, err_backoff = _kubelet_sequence(image, "reordered")
        for entry in (_back_off(image, "reordered", 0.5), err_backoff, failed, err_pull):
            assert pipe.post(entry) == 200
        for _ in range(2):  # the pod keeps backing off after the grant
            assert pipe.post(_back_off(image, "reordered", 0)) == 200
        assert [o["action"] for o in pipe.outcomes()] == ["grant"]
        assert len(_bindings(pipe)) == 1


def test_a_storm_of_distinct_unlabelled_pods_costs_no_google_request(tmp_path: Path) -> None:
    image = f"us-docker.pkg.dev/{IMAGES}/hot/app:1"

    alphabet = "bcdfghjklmnpqrstvwxz2456789"  # what Kubernetes generates pod suffixes from

    def unlabelled(pool: str, pod: int) -> dict[str, Any]:
        entry = event(f"hot-{pool}", image, workload=f"storm-{pool}")
        del entry["labels"]  # no GKE controller labels: only the pod names the workload
        name = f"storm-{pool}-7d9f8c5b4-{alphabet[pod % 27]}{alphabet[pod // 27]}x9k"
        entry["resource"]["labels"]["pod_name"] = name
        entry["jsonPayload"]["involvedObject"]["name"] = name
        entry["insertId"] = f"storm-{pool}-{pod}"
        return entry

    with pipeline(tmp_path, CONFIG) as (pipe,):
        for pool in range(10):  # ten incidents, each granted once
            assert pipe.post(unlabelled(str(pool), 0)) == 200
        assert len(pipe.outcomes()) == 10
        before = pipe.sandbox.stats()["total"]
        for pod in range(1, 51):
            for pool in range(10):
                assert pipe.post(unlabelled(str(pool), pod)) == 200
        requests = pipe.sandbox.stats()["total"] - before
        assert requests / 500 <= 0.05, pipe.stats()
        assert len(pipe.outcomes()) == 10  # nothing new was published


# A grant's ledger calls, in order (counted in a clean run: 3 reads, 9 writes, the outcome's
# history read and written before it is published among them). The model in
# test_lifecycle_model.py fails each call of a grant in turn (a crash, an error before the call,
# an answer lost after it landed) through every interleaving of deliveries; these smoke cases
# hold the real function and Firestore's REST wire to it: a read and a write that fail, writes
# whose answers come too late (the first, and one late in the grant), and the last write
# down for longer than a delivery retries it.
FIRESTORE_GET = "firestore.projects.databases.documents.get"
FIRESTORE_COMMIT = "firestore.projects.databases.documents.commit"
LEDGER_FAULTS = [
    (FIRESTORE_GET, 0, "unavailable"),
    (FIRESTORE_COMMIT, 3, "unavailable"),
    (FIRESTORE_COMMIT, 0, "too-late"),
    (FIRESTORE_COMMIT, 6, "too-late"),
    (FIRESTORE_COMMIT, 7, "down"),
]


@pytest.mark.parametrize(
    ("method", "after", "kind"),
    LEDGER_FAULTS,
    ids=[f"{m.rsplit('.', 1)[1]}-{n + 1}-{k}" for m, n, k in LEDGER_FAULTS],
)
def test_a_ledger_fault_at_any_call_ends_in_one_grant_and_its_outcome(
    tmp_path: Path, method: str, after: int, kind: str
) -> None:
    """Firestore fails at the Nth ledger call of a grant (REST), in a real function
    process; Pub/Sub redelivers until acknowledged. Never acknowledged before the grant and
    its outcome exist, never a second binding, never a suppression of work not done."""
    config = {**CONFIG, "lease": f"{LEASE}s", "api_timeout": "2s"}
    with pipeline(tmp_path, config, ledger_firestore=True) as (pipe,):
        entry = event("default-pool", f"{SHARED}/web:1.4", workload=f"fault-{kind}")
        if kind == "unavailable":
            pipe.sandbox.add_fault(method=method, status=503, after=after, count=1)
        elif kind == "down":  # past the in-process retries of more than one delivery
            pipe.sandbox.add_fault(method=method, status=503, after=after, count=40)
        else:
            pipe.sandbox.add_fault(method=method, latency=3, after=after, count=1)
        statuses = []
        deadline = time.monotonic() + 60
        while True:  # Pub/Sub redelivers until acknowledged
            status = pipe.post(entry, f"fault-{kind}")
            statuses.append(status)
            if status == 200:
                break
            assert time.monotonic() < deadline, statuses
            time.sleep(0.5)
        applied = [f for f in pipe.sandbox.state.faults if f.applied]
        assert applied, "the fault was never reached"
        assert set(statuses[:-1]) <= {500}  # retried (within a delivery, or by redelivery)
        assert _bindings(pipe) == [{"role": READER, "members": [f"serviceAccount:{DEFAULT_SA}"]}]
        assert {o["action"] for o in pipe.outcomes_for(entry)} == {"grant"}
        again = event("default-pool", f"{SHARED}/web:1.4", workload=f"fault-{kind}-2")
        assert pipe.post(again) == 200
        assert len(_bindings(pipe)) == 1
        assert [o["action"] for o in pipe.outcomes_for(again)] == []  # suppressed: fixed
