"""Identity: the node pool's service account exists and is enabled.

Reads: the project's number (Resource Manager `projects.get`, for the Compute Engine default
account `N-compute@developer.gserviceaccount.com`) and the account (IAM
`projects.serviceAccounts.get`: whether it exists, whether it is disabled). A denial of the
account read leaves the account unconfirmed (`unverified`): no grant to an account pullfix
cannot see. Names `service_account`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pullfix.checks.base import Check, Finding, Read
from pullfix.core.causes import Cause
from pullfix.core.classify import Diagnosis
from pullfix.core.judge import Evidence
from pullfix.core.model import AccessDenied

if TYPE_CHECKING:
    from pullfix.engine.evidence import EvidenceCollector

__all__ = ["CHECK", "READS"]

READS = (
    Read(
        "project_number",
        "project_number",
        "cloudresourcemanager.googleapis.com",
        "name,parent",
        ("resourcemanager.projects.get",),
        3600.0,
    ),
    Read(
        "service_account",
        "service_account",
        "iam.googleapis.com",
        "email,disabled",
        ("iam.serviceAccounts.get",),
        60.0,
    ),
)


def wants(evidence: Evidence) -> bool:
    return (
        evidence.unverified is None
        and evidence.pool is not None
        and evidence.cluster is not None
        and evidence.repository is not None
        and evidence.account_email is None
    )


def gather(collector: EvidenceCollector, evidence: Evidence) -> None:
    """The node pool's service account, resolved and looked up."""
    assert evidence.pool is not None and evidence.cluster is not None
    email = evidence.pool.service_account
    if email == "default":
        number = collector.apis.project_number(evidence.cluster.project)
        if number is None:
            evidence.unverified = f"project {evidence.cluster.project} has no number (not found)"
            return
        email = f"{number}-compute@developer.gserviceaccount.com"
    evidence.account_email = email
    try:
        evidence.account = collector.apis.service_account(email)
    except AccessDenied as exc:
        evidence.unverified = f"pullfix cannot confirm the node service account: {exc}"


def judge(offline: Diagnosis, evidence: Evidence) -> Finding | None:
    account = evidence.account
    assert account is not None
    if not account.exists:
        return Finding(
            Cause.SERVICE_ACCOUNT,
            (f"node service account {account.email} does not exist (deleted)",),
        )
    if account.disabled:
        return Finding(
            Cause.SERVICE_ACCOUNT, (f"node service account {account.email} is disabled",)
        )
    return None


CHECK = Check(
    name="identity",
    reads=READS,
    causes=frozenset({Cause.SERVICE_ACCOUNT}),
    judge=judge,
    gather=gather,
    wants=wants,
    summary="the node pool's service account exists and is enabled",
    advice=(
        "restore (undelete) or enable the node service account, or move the workloads "
        "to a node pool whose account exists"
    ),
)
