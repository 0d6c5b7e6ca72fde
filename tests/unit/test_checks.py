"""The diagnosis checks: each judges by its own table, gathers only what it declares it reads,
and the permissions Terraform grants are the union of those declared reads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pullfix.checks import (
    CHECKS,
    Finding,
    access,
    cross_project,
    existence,
    gather,
    identity,
    judge,
    read_permissions,
    run_checks,
    scopes,
    version,
)
from pullfix.checks.permissions import PERMISSIONS_FILE, roles, roles_json
from pullfix.core.causes import Cause
from pullfix.core.classify import Diagnosis
from pullfix.core.imageref import parse_image
from pullfix.core.judge import EventClaims, Evidence
from pullfix.core.model import (
    AccessDenied,
    AccessState,
    AccessVerdict,
    AccountInfo,
    ClusterInfo,
    InstanceGroup,
    NodePoolInfo,
    PolicyView,
)
from pullfix.core.remediation import Context, ticket_draft
from pullfix.engine.evidence import EvidenceCollector
from pullfix.gcp.adapter import PERMISSIONS

REPO = Path(__file__).resolve().parents[2]
READ = "https://www.googleapis.com/auth/devstorage.read_only"
EMAIL = "nodes@app-proj.iam.gserviceaccount.com"
AR_REPO = "projects/img-proj/locations/us/repositories/apps"
IMAGE = parse_image("us-docker.pkg.dev/img-proj/apps/web:1")
GROUP = InstanceGroup("app-proj", "us-central1-a", "gke-c-pool-1a2b-grp")
NODE = "gke-c-pool-1a2b-x7k9"


def _pool(**changes: Any) -> NodePoolInfo:
    fields: dict[str, Any] = {
        "name": "pool",
        "service_account": EMAIL,
        "oauth_scopes": (READ,),
        "version": "1.29.4-gke.1043002",
        "instance_groups": (GROUP,),
    }
    return NodePoolInfo(**{**fields, **changes})


def _cluster(pool: NodePoolInfo | None = None) -> ClusterInfo:
    return ClusterInfo("app-proj", "us-central1", "c", "1.29.4-gke.1043002", (pool or _pool(),))


def _evidence(**changes: Any) -> Evidence:
    fields: dict[str, Any] = {
        "cluster": _cluster(),
        "pool": _pool(),
        "image": IMAGE,
        "repository": AR_REPO,
        "account_email": EMAIL,
        "account": AccountInfo(EMAIL, True),
    }
    return Evidence(**{**fields, **changes})


def _verdict(state: AccessState) -> AccessVerdict:
    return AccessVerdict(state, "Policy Troubleshooter", ("roles/x on p",))


REFUSED = Diagnosis(Cause.PERMISSION, ())
SA = "service_account"


# -- each check's judgment, table-tested ----------------------------------------------------


@pytest.mark.parametrize(
    ("check", "evidence", "offline", "cause"),
    [
        (identity.judge, _evidence(), REFUSED, None),
        (identity.judge, _evidence(account=AccountInfo(EMAIL, False)), REFUSED, SA),
        (
            identity.judge,
            _evidence(account=AccountInfo(EMAIL, True, True)),
            REFUSED,
            "service_account",
        ),
        (version.judge, _evidence(), REFUSED, None),
        (version.judge, _evidence(pool=_pool(version="1.14.10-gke.21")), REFUSED, "version"),
        (version.judge, _evidence(pool=_pool(version="1.13.12-gke.1")), REFUSED, "version"),
        (version.judge, _evidence(pool=_pool(version="not a version")), REFUSED, None),
        (scopes.judge, _evidence(), REFUSED, None),
        (scopes.judge, _evidence(pool=_pool(oauth_scopes=())), REFUSED, "scope"),
        (existence.judge, _evidence(), REFUSED, None),
        (existence.judge, _evidence(tag_exists=False), REFUSED, "not_found"),
        (existence.judge, _evidence(repository_exists=False), REFUSED, "not_found"),
        (existence.judge, _evidence(), Diagnosis(Cause.NOT_FOUND, ()), "not_found"),
        (access.judge, _evidence(), REFUSED, None),
        (access.judge, _evidence(verdict=_verdict(AccessState.DENIED)), REFUSED, "permission"),
        (access.judge, _evidence(verdict=_verdict(AccessState.GRANTED)), REFUSED, "permission"),
        (
            access.judge,
            _evidence(verdict=_verdict(AccessState.GRANTED)),
            Diagnosis(Cause.UNKNOWN, ()),
            "unknown",
        ),
        (access.judge, _evidence(verdict=_verdict(AccessState.NOT_GRANTED)), REFUSED, None),
        (access.judge, _evidence(verdict=_verdict(AccessState.CONDITIONAL)), REFUSED, None),
        (cross_project.judge, _evidence(), REFUSED, "cross_project"),
        (
            cross_project.judge,
            _evidence(repository="projects/app-proj/locations/us/repositories/apps"),
            REFUSED,
            "role",
        ),
    ],
)
def test_each_check_judges_its_own_evidence(
    check: Any, evidence: Evidence, offline: Diagnosis, cause: str | None
) -> None:
    found: Finding | None = check(offline, evidence)
    assert (found.cause.value if found else None) == cause


def test_the_registry_states_the_precedence_and_each_cause_once() -> None:
    assert [c.name for c in CHECKS] == [
        "verification",
        "network",
        "identity",
        "version",
        "scopes",
        "existence",
        "manifest",
        "image_size",
        "api_enabled",
        "remote_vpcsc",
        "vpc_sc",
        "boundary",
        "cmek",
        "upstream",
        "access",
        "cross_project",
    ]
    # remote_vpcsc judges vpc_sc's denial with Artifact Registry's setting for remote
    # repositories: the one cause two checks name.
    named = [cause for check in CHECKS if check.name != "remote_vpcsc" for cause in check.causes]
    assert len(named) == len(set(named))
    assert next(c for c in CHECKS if c.name == "remote_vpcsc").causes == {Cause.VPC_SC}


def test_every_cause_a_check_names_has_its_own_advice() -> None:
    """A ticket for a check's cause says what to do about that cause, not the draft for a
    message that gives no reason (`unknown`, the one cause whose advice that is)."""
    generic = ticket_draft(Context(cause=Cause.UNKNOWN))["steps"]
    for check in CHECKS:
        assert check.advice and check.summary, check.name
        for cause in check.causes - {Cause.UNKNOWN}:
            assert ticket_draft(Context(cause=cause))["steps"] != generic, (check.name, cause)


def test_an_earlier_check_wins_over_a_later_one() -> None:
    """A disabled account, too old a version, no storage scope and a missing tag at once:
    the account is what to fix first; without it, the version; and so on down the order."""
    evidence = _evidence(
        account=AccountInfo(EMAIL, True, True),
        pool=_pool(version="1.13.12-gke.1", oauth_scopes=()),
        tag_exists=False,
        verdict=_verdict(AccessState.DENIED),
    )
    order = []
    while True:
        cause = judge(REFUSED, evidence).cause
        order.append(cause.value)
        if cause is Cause.SERVICE_ACCOUNT:
            evidence.account = AccountInfo(EMAIL, True)
        elif cause is Cause.VERSION:
            evidence.pool = _pool(oauth_scopes=())
        elif cause is Cause.SCOPE:
            evidence.pool = _pool()
        elif cause is Cause.NOT_FOUND:
            evidence.tag_exists = True
        elif cause is Cause.PERMISSION:
            evidence.verdict = None
        else:
            break
    assert order == [
        "service_account",
        "version",
        "scope",
        "not_found",
        "permission",
        "cross_project",
    ]


# -- gathering: only the declared reads, and none once a grant is ruled out ----------------


class _Apis:
    """The read port, recording each call; `refuse` names calls answered 403."""

    def __init__(self, *, tag_exists: bool, refuse: tuple[str, ...] = ()) -> None:
        self.calls: list[str] = []
        self.answers: dict[str, Any] = {
            "cluster": _cluster(_pool(service_account="default")),
            "node_created_by": "projects/999/zones/us-central1-a/instanceGroupManagers/"
            "gke-c-pool-1a2b-grp",
            "project_number": 999,
            "service_account": AccountInfo("999-compute@developer.gserviceaccount.com", True),
            "tag_exists": tag_exists,
            "repository_mode": "STANDARD_REPOSITORY",
            "repository_exists": True,
            "troubleshoot": _verdict(AccessState.NOT_GRANTED),
            "repository_policy": PolicyView((), b"e"),
            "ancestry": ("folders/1", "organizations/2"),
            "resource_policy": PolicyView((), b"e"),
            "role_permissions": frozenset(),
            "service_state": "ENABLED",
            "vpc_sc_denial": None,
            "repository_kms_key": "",
            "repository_upstream_secret": "",
            "repository_upstreams": (),
            "repository_remote_upstream": "",
            "vpcsc_policy": "DENY",
        }
        self.refuse = refuse

    def __getattr__(self, name: str) -> Any:
        if name not in self.__dict__.get("answers", {}):
            raise AttributeError(name)

        def call(*args: Any) -> Any:
            self.calls.append(name)
            if name in self.refuse:
                raise AccessDenied(f"{name}: 403 Permission denied")
            return self.answers[name]

        return call


def _gather(apis: _Apis) -> tuple[Evidence, dict[str, list[str]]]:
    """An event's evidence gathered, and the calls each check made."""
    evidence = Evidence(image=IMAGE, claims=EventClaims("app-proj", "us-central1", "c", NODE))
    evidence.repository = AR_REPO
    collector = EvidenceCollector(apis)  # type: ignore[arg-type]
    made: dict[str, list[str]] = {}
    for check in run_checks(collector, evidence):
        made[check.name] = apis.calls[sum(map(len, made.values())) :]
    return evidence, made


def test_every_call_a_check_makes_is_one_it_declares() -> None:
    """The troubleshooter refused, so access reads the policies up the hierarchy: every
    call is among its check's declared reads, which the permissions come from."""
    evidence, made = _gather(_Apis(tag_exists=True, refuse=("troubleshoot",)))
    assert list(made) == [
        "verification",
        "identity",
        "existence",
        "api_enabled",
        "remote_vpcsc",
        "cmek",
        "upstream",
        "access",
    ]
    assert "resource_policy" in made["access"] and "ancestry" in made["access"]
    for check in CHECKS:
        assert set(made.get(check.name, ())) <= {read.method for read in check.reads}, check.name
    assert judge(REFUSED, evidence).cause is Cause.CROSS_PROJECT


def test_no_read_is_made_once_a_check_has_ruled_a_grant_out() -> None:
    apis = _Apis(tag_exists=False)
    evidence, made = _gather(apis)
    assert list(made) == ["verification", "identity", "existence"]
    assert "troubleshoot" not in apis.calls
    assert judge(REFUSED, evidence).cause is Cause.NOT_FOUND
    # An unverified event reads nothing past verification.
    apis = _Apis(tag_exists=True, refuse=("node_created_by",))
    evidence, made = _gather(apis)
    assert list(made) == ["verification"]
    assert judge(REFUSED, evidence).cause is Cause.UNVERIFIED


def test_a_check_that_reads_nothing_of_its_own_is_judged_on_what_others_gathered() -> None:
    """Scopes without storage read: decided from the cluster verification read."""
    apis = _Apis(tag_exists=True)
    apis.answers["cluster"] = _cluster(_pool(service_account="default", oauth_scopes=()))
    evidence, made = _gather(apis)
    assert list(made) == ["verification", "identity"]
    assert judge(REFUSED, evidence).cause is Cause.SCOPE


# -- the permissions Terraform grants ------------------------------------------------------


def test_the_permissions_file_terraform_reads_is_up_to_date() -> None:
    """Fails when a check declares a read the file lacks: regenerate it with
    `python -m pullfix.checks --permissions > functions/pullfix/permissions.json`."""
    on_disk = (REPO / PERMISSIONS_FILE).read_text()
    assert json.loads(on_disk) == roles(), "stale: python -m pullfix.checks --permissions"
    assert on_disk == roles_json()
    printed = subprocess.run(
        [sys.executable, "-m", "pullfix.checks", "--permissions"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert printed == on_disk


def test_the_remediate_reads_are_the_union_of_the_checks_reads() -> None:
    file = roles()
    declared = {p for read in (r for c in CHECKS for r in c.reads) for p in read.permissions}
    assert set(file["reader"]) | set(file["hierarchy"]) == declared
    for call, permissions in read_permissions().items():
        assert PERMISSIONS[call] == permissions  # the adapter's refusals name the same ones
    assert not any("setIamPolicy" in p for p in file["reader"] + file["hierarchy"])


def test_gather_is_run_checks_to_the_end() -> None:
    apis = _Apis(tag_exists=True)
    evidence = Evidence(image=IMAGE, claims=EventClaims("app-proj", "us-central1", "c", NODE))
    evidence.repository = AR_REPO
    gather(EvidenceCollector(apis), evidence)  # type: ignore[arg-type]
    assert evidence.verdict is not None and evidence.verdict.state is AccessState.NOT_GRANTED
