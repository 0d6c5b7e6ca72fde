"""Every IAM write passes one decision against the config as it stands at the write, and a
Google API's permanent answer ends its incident: the real `remediate` process over HTTP,
the sandbox's Firestore ledger kept across a restart with a changed config."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml

from pullfix.dev.localrun import FunctionServer
from tests.integration.pipeline import (
    CONFIG,
    DEFAULT_SA,
    IMAGES,
    PROD,
    Pipeline,
    event,
    pipeline,
)

pytestmark = pytest.mark.integration

SHARED = f"us-docker.pkg.dev/{IMAGES}/shared"
SHARED_REPO = f"projects/{IMAGES}/locations/us/repositories/shared"
SET_POLICY = "artifactregistry.projects.locations.repositories.setIamPolicy"
GET_POLICY = "artifactregistry.projects.locations.repositories.getIamPolicy"
MEMBER = f"serviceAccount:{DEFAULT_SA}"
# A short lease, so that a redelivery may take a grant over without waiting long; the
# ledger in the sandbox's Firestore, so that it outlives an instance.
BASE = {**CONFIG, "lease": "2s", "ledger": {"firestore": {"project": PROD}}}


def _restart(
    stack: ExitStack, pipe: Pipeline, tmp_path: Path, config: dict[str, Any], name: str
) -> None:
    """A new revision with another config: the old instance goes, a new one starts."""
    pipe.function.stop()
    pipe.config_path.write_text(yaml.safe_dump(config))
    pipe.function = stack.enter_context(
        FunctionServer(
            "remediate", env=pipe.function._env, log_path=tmp_path / f"remediate-{name}.log"
        )
    )


CHANGES: dict[str, dict[str, Any]] = {
    "dry_run": {**BASE, "dry_run": True},
    "allow_list_emptied": {**BASE, "auto_grant": {**BASE["auto_grant"], "repositories": []}},
    "cluster_project_removed": {
        **BASE,
        "auto_grant": {**BASE["auto_grant"], "cluster_projects": ["other-*"]},
    },
    "cap_zero": {**BASE, "auto_grant": {**BASE["auto_grant"], "max_per_hour": 0}},
    "project_level": {**BASE, "auto_grant": {**BASE["auto_grant"], "level": "project"}},
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_resumed_grant_follows_the_config_as_it_stands(tmp_path: Path, change: str) -> None:
    with pipeline(tmp_path, BASE, ledger_firestore=True) as (pipe,), ExitStack() as stack:
        entry = event("default-pool", f"{SHARED}/web:1.4", workload=f"resume-{change}")
        # The write fails transiently: the grant is left `granting`, Pub/Sub will redeliver.
        pipe.sandbox.add_fault(method=SET_POLICY, status=503, count=None)
        assert pipe.post(entry, "resume-1") >= 500
        pipe.sandbox.state.clear_faults()
        # The operator changes the config before the redelivery comes.
        _restart(stack, pipe, tmp_path, CHANGES[change], change)
        assert pipe.post(entry, "resume-1") == 200
        assert MEMBER not in pipe.reader_members(SHARED_REPO)
        (outcome,) = pipe.outcomes_for(entry)
        assert outcome["action"] != "grant"
        assert any("earlier delivery" in r for r in outcome["reasons"]), outcome["reasons"]
        if change == "dry_run":
            assert outcome["action"] == "would_grant" and outcome["dry_run"] is True
        else:
            assert outcome["action"] == "ticket" and outcome["dry_run"] is False
        # The refusal ends the grant (account and repository): the config restored, another
        # workload's failure on the same pool and repository is granted anew.
        _restart(stack, pipe, tmp_path, BASE, "restored")
        later = event("default-pool", f"{SHARED}/web:1.4", workload=f"after-{change}")
        assert pipe.post(later, "resume-2") == 200
        assert [o["action"] for o in pipe.outcomes_for(later)] == ["grant"]
        assert MEMBER in pipe.reader_members(SHARED_REPO)


DOMAINS = (
    "One or more users named in the policy do not belong to a permitted customer,  perhaps "
    "due to an organization policy."
)
PERMANENT = {
    # (method, status, message) -> what the ticket must name
    "org-policy": (SET_POLICY, 400, DOMAINS, "constraints/iam.allowedPolicyMemberDomains"),
    "set-denied": (
        SET_POLICY,
        403,
        "Permission denied",
        "artifactregistry.repositories.setIamPolicy",
    ),
    "set-not-found": (SET_POLICY, 404, "Repository not found", "does not exist"),
    "set-invalid": (SET_POLICY, 400, "Invalid policy", "pullfix does not retry"),
    "get-denied": (GET_POLICY, 403, "Permission denied", "getIamPolicy"),
}


@pytest.mark.parametrize("case", list(PERMANENT))
def test_a_permanent_answer_ends_the_incident_with_its_fix(tmp_path: Path, case: str) -> None:
    method, status, message, named = PERMANENT[case]
    with pipeline(tmp_path, BASE, ledger_firestore=True) as (pipe,):
        entry = event("default-pool", f"{SHARED}/web:1.4", workload=f"permanent-{case}")
        pipe.sandbox.add_fault(method=method, status=status, message=message, count=None)
        # One delivery, acknowledged: no retry loop until the dead-letter topic.
        assert pipe.post(entry, f"permanent-{case}") == 200
        (outcome,) = pipe.outcomes_for(entry)
        assert outcome["action"] == "ticket", outcome
        text = " ".join(outcome["reasons"])
        assert named in text, text
        assert outcome["ticket"] is not None
        assert MEMBER not in pipe.reader_members(SHARED_REPO)
        # The redelivery (had there been one) publishes nothing more.
        assert pipe.post(entry, f"permanent-{case}") == 200
        assert len(pipe.outcomes_for(entry)) == 1


def test_an_image_of_a_project_that_does_not_exist_ends_in_one_ticket(tmp_path: Path) -> None:
    # Google answers 403 "Permission denied on resource project X (or it may not exist)" for
    # a project that does not exist, as for one pullfix may not read: the ticket says so.
    with pipeline(tmp_path, BASE, ledger_firestore=True) as (pipe,):
        image = "us-docker.pkg.dev/no-such-project-42/images/web:1"
        entry = event("default-pool", image, workload="ghost")
        assert pipe.post(entry) == 200
        (outcome,) = pipe.outcomes_for(entry)
        assert outcome["action"] == "ticket" and outcome["grant"] is None
        assert "may not exist" in " ".join(outcome["reasons"])
        assert pipe.post(entry) == 200
        assert len(pipe.outcomes_for(entry)) == 1


def test_the_same_workload_in_two_namespaces_is_two_incidents(tmp_path: Path) -> None:
    with pipeline(tmp_path, BASE, ledger_firestore=True) as (pipe,):
        image = f"us-central1-docker.pkg.dev/{PROD}/apps/missing:9"
        first = event("default-pool", image, "not found", workload="web", namespace="team-a")
        second = event("default-pool", image, "not found", workload="web", namespace="team-b")
        assert pipe.post(first) == 200
        assert pipe.post(second) == 200
        a, b = pipe.one_outcome(first), pipe.one_outcome(second)
        assert a["action"] == b["action"] == "ticket"
        assert a["fingerprint"] != b["fingerprint"]
        assert {a["event"]["namespace"], b["event"]["namespace"]} == {"team-a", "team-b"}


@pytest.mark.parametrize(
    ("method", "status"),
    [
        ("container.projects.locations.clusters.get", 400),
        ("compute.instances.get", 400),
    ],
)
def test_a_permanent_answer_while_verifying_leaves_the_event_unverified(
    tmp_path: Path, method: str, status: int
) -> None:
    with pipeline(tmp_path, BASE, ledger_firestore=True) as (pipe,):
        entry = event("default-pool", f"{SHARED}/web:1.4", workload=f"verify-{status}")
        pipe.sandbox.add_fault(method=method, status=status, message="Invalid name", count=None)
        assert pipe.post(entry) == 200
        (outcome,) = pipe.outcomes_for(entry)
        assert (outcome["cause"], outcome["action"]) == ("unverified", "ticket")
        assert "Invalid name" in " ".join(outcome["reasons"])
        assert MEMBER not in pipe.reader_members(SHARED_REPO)


def test_a_write_that_landed_with_its_answer_lost_is_reported_as_the_grant_it_was(
    tmp_path: Path,
) -> None:
    with pipeline(tmp_path, BASE, ledger_firestore=True) as (pipe,), ExitStack() as stack:
        entry = event("default-pool", f"{SHARED}/web:1.4", workload="lost-answer")
        # The write lands after the 2 s api_timeout: the delivery fails, IAM has the binding.
        pipe.sandbox.add_fault(method=SET_POLICY, latency=3)
        assert pipe.post(entry, "lost-1") >= 500
        pipe.sandbox.state.clear_faults()
        deadline = time.monotonic() + 10
        while MEMBER not in pipe.reader_members(SHARED_REPO):
            assert time.monotonic() < deadline, "the delayed write never landed"
            time.sleep(0.1)
        # Dry run is turned on before the redelivery: nothing more is written, and the
        # outcome says what IAM holds — pullfix's grant, made when the config allowed it.
        _restart(stack, pipe, tmp_path, CHANGES["dry_run"], "dry")
        assert pipe.post(entry, "lost-1") == 200
        (outcome,) = pipe.outcomes_for(entry)
        assert outcome["action"] == "grant" and outcome["dry_run"] is False
        assert "answer was lost" in " ".join(outcome["reasons"])
        log = (tmp_path / "remediate-dry.log").read_text()
        assert '"found_after_lost_answer":true' in log.replace(" ", "")
        assert MEMBER in pipe.reader_members(SHARED_REPO)


def test_a_forged_event_naming_another_pools_node_never_takes_the_real_ticket(
    tmp_path: Path,
) -> None:
    with pipeline(tmp_path, BASE, ledger_firestore=True) as (pipe,):
        image = f"us-central1-docker.pkg.dev/{PROD}/apps/missing:9"
        # A forged entry: the real workload and image, but a real node of another pool.
        forged = event("custom-pool", image, "not found", workload="checkout")
        real = event("default-pool", image, "not found", workload="checkout")
        assert pipe.post(forged) == 200
        assert pipe.post(real) == 200
        outcome = pipe.one_outcome(real)  # (none: suppressed by the forged one)
        assert outcome["ticket"] is not None
        assert outcome["evidence"]["service_account"] == DEFAULT_SA
        assert pipe.one_outcome(forged)["fingerprint"] != pipe.one_outcome(real)["fingerprint"]


def test_an_old_event_granted_now_starts_its_grace_now(tmp_path: Path) -> None:
    with pipeline(tmp_path, BASE, ledger_firestore=True) as (pipe,):
        # A backlog: the failure happened 15 minutes ago (escalation_grace is 10 minutes).
        old = event("default-pool", f"{SHARED}/web:1.4", workload="backlog", minutes_ago=15)
        assert pipe.post(old) == 200
        assert pipe.one_outcome(old)["action"] == "grant"
        now = event("default-pool", f"{SHARED}/web:1.4", workload="backlog")
        now["insertId"] = "backlog-now"
        assert pipe.post(now) == 200
        # IAM propagates for minutes: a failure a second after the grant escalates nothing.
        assert pipe.outcomes_for(now) == []


@pytest.mark.parametrize("first", ["dry_run", "allow_list_emptied"])
def test_a_refusal_or_a_dry_run_never_blocks_the_grant_a_changed_config_allows(
    tmp_path: Path, first: str
) -> None:
    with pipeline(tmp_path, CHANGES[first], ledger_firestore=True) as (pipe,), ExitStack() as st:
        entry = event("default-pool", f"{SHARED}/web:1.4", workload=f"later-{first}")
        assert pipe.post(entry) == 200
        assert pipe.one_outcome(entry)["action"] in ("would_grant", "ticket")
        _restart(st, pipe, tmp_path, BASE, "live")
        # kubelet's next failure of the same workload, within the dedupe window
        again = event("default-pool", f"{SHARED}/web:1.4", workload=f"later-{first}")
        again["insertId"] = f"again-{first}"
        assert pipe.post(again) == 200
        assert [o["action"] for o in pipe.outcomes_for(again)] == ["grant"]
        assert MEMBER in pipe.reader_members(SHARED_REPO)
        # and the one after that is a duplicate again
        third = event("default-pool", f"{SHARED}/web:1.4", workload=f"later-{first}")
        third["insertId"] = f"third-{first}"
        assert pipe.post(third) == 200
        assert pipe.outcomes_for(third) == []
