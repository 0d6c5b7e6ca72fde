"""The pure half of remediation: judge (final cause) and decide (guardrails), table-driven."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pullfix.checks import judge
from pullfix.core.causes import Action, Cause
from pullfix.core.classify import Diagnosis
from pullfix.core.config import AutoGrant, Config
from pullfix.core.imageref import parse_image
from pullfix.core.judge import Evidence
from pullfix.core.model import (
    AccessState,
    AccessVerdict,
    AccountInfo,
    ClusterInfo,
    InstanceGroup,
    NodePoolInfo,
)
from pullfix.core.policy import decide
from pullfix.core.remediation import Context, ticket_draft
from pullfix.engine.ledger import MemoryLedger
from pullfix.engine.remediate import fingerprint

RO = "https://www.googleapis.com/auth/devstorage.read_only"
POOL = NodePoolInfo(
    "default-pool",
    "default",
    (RO,),
    "1.29.4-gke.1043002",
    (InstanceGroup("p1", "us-central1-a", "gke-c1-default-pool-1a2b3c4d-grp"),),
)
NOT_GRANTED = AccessVerdict(AccessState.NOT_GRANTED, "Policy Troubleshooter", ("no binding",))
CLUSTER = ClusterInfo("p1", "us-central1", "c1", "1.29.4-gke.1043002", (POOL,))
EMAIL = "123-compute@developer.gserviceaccount.com"
REPO = "projects/p1/locations/us/repositories/apps"
DENIED = Diagnosis(Cause.PERMISSION, ("registry refused the pull: 403 Forbidden",))


def evidence(**changes: Any) -> Evidence:
    base = Evidence(
        cluster=CLUSTER,
        pool=POOL,
        image=parse_image("us-docker.pkg.dev/p1/apps/web:1"),
        repository=REPO,
        account_email=EMAIL,
        account=AccountInfo(EMAIL, True),
        repository_exists=True,
        tag_exists=True,
        verdict=NOT_GRANTED,
    )
    for key, value in changes.items():
        setattr(base, key, value)
    return base


JUDGE = [
    ("plain role", {}, DENIED, Cause.ROLE),
    (
        "cross project",
        {"repository": "projects/p2/locations/us/repositories/apps"},
        DENIED,
        Cause.CROSS_PROJECT,
    ),
    ("unverified wins", {"unverified": "cluster x does not exist"}, DENIED, Cause.UNVERIFIED),
    ("deleted account", {"account": AccountInfo(EMAIL, False)}, DENIED, Cause.SERVICE_ACCOUNT),
    (
        "disabled account",
        {"account": AccountInfo(EMAIL, True, True)},
        DENIED,
        Cause.SERVICE_ACCOUNT,
    ),
    ("old version", {"pool": replace(POOL, version="1.15.9-gke.7")}, DENIED, Cause.VERSION),
    (
        "version before scope",
        {"pool": replace(POOL, version="1.13.0-gke.1", oauth_scopes=())},
        DENIED,
        Cause.VERSION,
    ),
    (
        "no scope",
        {"pool": replace(POOL, oauth_scopes=("https://www.googleapis.com/auth/logging.write",))},
        DENIED,
        Cause.SCOPE,
    ),
    (
        "cloud-platform is enough",
        {"pool": replace(POOL, oauth_scopes=("https://www.googleapis.com/auth/cloud-platform",))},
        DENIED,
        Cause.ROLE,
    ),
    ("scope before role", {"pool": replace(POOL, oauth_scopes=())}, DENIED, Cause.SCOPE),
    (
        "missing repository",
        {"repository_exists": False, "tag_exists": False},
        DENIED,
        Cause.NOT_FOUND,
    ),
    ("missing tag", {"tag_exists": False}, DENIED, Cause.NOT_FOUND),
    (
        "already has access",
        {"verdict": AccessVerdict(AccessState.GRANTED, "t", ("roles/editor on projects/p1",))},
        DENIED,
        Cause.PERMISSION,
    ),
    (
        "a deny policy",
        {"verdict": AccessVerdict(AccessState.DENIED, "t", ("deny policy no-pulls",))},
        DENIED,
        Cause.PERMISSION,
    ),
    (
        "unknown stays unknown with access",
        {"verdict": AccessVerdict(AccessState.GRANTED, "t", ("reader on r",))},
        Diagnosis(Cause.UNKNOWN, ("?",)),
        Cause.UNKNOWN,
    ),
    ("unknown with no access is role", {}, Diagnosis(Cause.UNKNOWN, ("?",)), Cause.ROLE),
    (
        "not found message, tag there",
        {},
        Diagnosis(Cause.NOT_FOUND, ("manifest unknown",)),
        Cause.NOT_FOUND,
    ),
    ("network keeps its cause", {}, Diagnosis(Cause.NETWORK, ("i/o timeout",)), Cause.NETWORK),
    ("non-Google image keeps the offline cause", {"repository": None}, DENIED, Cause.PERMISSION),
]


@pytest.mark.parametrize(
    ("what", "changes", "offline", "expected"), JUDGE, ids=[j[0] for j in JUDGE]
)
def test_judge(what: str, changes: dict[str, Any], offline: Diagnosis, expected: Cause) -> None:
    result = judge(offline, evidence(**changes))
    assert result.cause is expected, result.reasons
    assert result.reasons


ALLOW = Config(
    auto_grant=AutoGrant(
        repositories=("projects/p1/locations/*/repositories/*",), cluster_projects=("p1",)
    )
)


GUARDS = [
    ("grants", Diagnosis(Cause.ROLE, ()), {}, ALLOW, Action.GRANT, None),
    (
        "dry run",
        Diagnosis(Cause.ROLE, ()),
        {},
        replace(ALLOW, dry_run=True),
        Action.WOULD_GRANT,
        None,
    ),
    ("scope is never granted", Diagnosis(Cause.SCOPE, ()), {}, ALLOW, Action.TICKET, None),
    (
        "permission is never granted",
        Diagnosis(Cause.PERMISSION, ()),
        {},
        ALLOW,
        Action.TICKET,
        None,
    ),
    (
        "default config never grants",
        Diagnosis(Cause.ROLE, ()),
        {},
        Config(),
        Action.TICKET,
        "not in auto_grant.repositories",
    ),
    (
        "repository not allowed",
        Diagnosis(Cause.CROSS_PROJECT, ()),
        {"repository": "projects/p2/locations/us/repositories/apps"},
        ALLOW,
        Action.TICKET,
        "not in auto_grant.repositories",
    ),
    (
        "cluster project not allowed",
        Diagnosis(Cause.ROLE, ()),
        {"cluster": replace(CLUSTER, project="p9")},
        ALLOW,
        Action.TICKET,
        "auto_grant.cluster_projects",
    ),
    (
        "unconfirmed account",
        Diagnosis(Cause.ROLE, ()),
        {"account": None},
        ALLOW,
        Action.TICKET,
        "not confirmed",
    ),
    (
        "not a service account",
        Diagnosis(Cause.ROLE, ()),
        {
            "account_email": "mallory@example.com",
            "account": AccountInfo("mallory@example.com", True),
        },
        ALLOW,
        Action.TICKET,
        "is not a service account",
    ),
    (
        "unreadable policy",
        Diagnosis(Cause.ROLE, ()),
        {"policy_error": "403"},
        ALLOW,
        Action.TICKET,
        "could not be read",
    ),
]


@pytest.mark.parametrize(
    ("what", "diagnosis", "changes", "config", "action", "reason"),
    GUARDS,
    ids=[g[0] for g in GUARDS],
)
def test_guardrails(
    what: str,
    diagnosis: Diagnosis,
    changes: dict[str, Any],
    config: Config,
    action: Action,
    reason: str | None,
) -> None:
    decision = decide(diagnosis, evidence(**changes), config)
    assert decision.action is action
    if action in (Action.GRANT, Action.WOULD_GRANT):
        assert decision.plan is not None
        assert decision.plan.role == "roles/artifactregistry.reader"
        assert decision.plan.member == f"serviceAccount:{EMAIL}"
        assert decision.plan.resource == REPO
    else:
        assert decision.plan is None
    if reason:
        assert any(reason in r for r in decision.reasons), decision.reasons


def test_project_level_grant() -> None:
    config = replace(ALLOW, auto_grant=replace(ALLOW.auto_grant, level="project"))
    decision = decide(Diagnosis(Cause.ROLE, ()), evidence(), config)
    assert decision.plan is not None and decision.plan.resource == "projects/p1"


@pytest.mark.parametrize(
    ("node", "pools"),
    [
        ("gke-c1-default-pool-1a2b3c4d-x7k9", ["default-pool"]),
        ("gke-c1-default-pool-9f9f9f9f-x7k9", []),
        ("gke-c1-default-pool-1a2b3c4d", []),
        ("nodash", []),
    ],
)
def test_node_names_only_narrow_the_instance_groups(node: str, pools: list[str]) -> None:
    assert [p.name for p, _ in CLUSTER.candidate_groups(node)] == pools


def test_created_by_proves_membership_by_project_id_or_number() -> None:
    group = POOL.instance_groups[0]
    path = "zones/us-central1-a/instanceGroupManagers/gke-c1-default-pool-1a2b3c4d-grp"
    assert group.created(f"projects/123/{path}", 123)
    assert group.created(f"projects/p1/{path}", None)
    assert not group.created(f"projects/999/{path}", 123)
    assert not group.created(f"projects/123/{path.replace('-grp', '-other')}", 123)
    assert not group.created("", 123)
    url = f"https://www.googleapis.com/compute/v1/projects/p1/{path}"
    assert InstanceGroup.from_url(url) == group
    assert InstanceGroup.from_url("https://example.com/nothing") is None


def test_memory_ledger_claims_windows_and_flags() -> None:
    ledger = MemoryLedger()
    t0 = datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert ledger.claim("k", t0, 60, {"a": "1"}).new
    held = ledger.claim("k", t0 + timedelta(seconds=30), 60, {"a": "2"})
    assert not held.new and held.record == {"a": "1"}
    assert ledger.claim("k", t0 + timedelta(seconds=61), 60, {"a": "3"}).new  # expired
    assert ledger.set_flag_once("k", "escalated", t0 + timedelta(seconds=62))
    assert not ledger.set_flag_once("k", "escalated", t0 + timedelta(seconds=63))
    ledger.release("k")
    assert ledger.get("k", t0) is None
    assert [ledger.take_grant_slot(t0 + timedelta(minutes=i), 2) for i in range(3)] == [
        True,
        True,
        False,
    ]
    assert ledger.take_grant_slot(t0 + timedelta(minutes=61), 2)  # the first left the hour


def test_fingerprints_are_stable_and_distinct() -> None:
    assert fingerprint("grant", "a", "b") == fingerprint("grant", "a", "b")
    assert fingerprint("grant", "a", "b") != fingerprint("grant", "ab", "")
    assert fingerprint("ticket", "x").startswith("ticket-")


@pytest.mark.parametrize("cause", [c for c in Cause if c is not Cause.NOT_A_PULL_FAILURE])
def test_every_cause_has_a_draft(cause: Cause) -> None:
    draft = ticket_draft(
        Context(
            cause=cause,
            project="p1",
            location="us-central1",
            cluster="c1",
            namespace="shop",
            workload="Deployment/web",
            node="gke-c1-default-pool-1a2b3c4d-x7k9",
            image="us-docker.pkg.dev/p2/apps/web:1",
            repository=REPO,
            node_pool="default-pool",
            account=EMAIL,
            google_image=True,
        )
    )
    assert draft["title"].startswith(f"[pullfix] {cause.value}: ")
    assert draft["steps"] and all(isinstance(s, str) and s for s in draft["steps"])
    assert "{c" not in " ".join(draft["steps"])


def test_grant_drafts_carry_paste_ready_commands() -> None:
    draft = ticket_draft(
        Context(
            cause=Cause.CROSS_PROJECT,
            repository=REPO,
            account=EMAIL,
            image="us-docker.pkg.dev/p1/apps/web:1",
        )
    )
    assert draft["commands"] == [
        "gcloud artifacts repositories add-iam-policy-binding apps --project=p1 --location=us "
        f"--member=serviceAccount:{EMAIL} --role=roles/artifactregistry.reader"
    ]
    assert 'resource "google_artifact_registry_repository_iam_member"' in draft["terraform"]
    assert f'member     = "serviceAccount:{EMAIL}"' in draft["terraform"]
