"""VPC Service Controls: a service perimeter refused the pull.

A Docker-based pull refused by a perimeter says `denied: Request is prohibited by
organization's policy. vpcServiceControlsUniqueIdentifier: ID`. The text is never trusted: the
identifier is looked up in the repository project's Policy Denied audit log (Logging v2
`entries.list`, `logName="projects/P/logs/cloudaudit.googleapis.com%2Fpolicy"`, the entry's
`protoPayload.metadata.vpcServiceControlsUniqueId`; fields in `pullfix.core.vpcsc`), and only
the denial found there names the perimeter, the reason and the ingress or egress rule that
would allow the pull. No grant fixes it. Names `vpc_sc`. A log pullfix may not read, with an
identifier in the text, is "cannot tell": `permission`, a ticket, never a grant. An identifier
the log does not hold (a forged one, or a dry-run denial) names nothing: the next checks judge.

containerd prints a bare `403 Forbidden` for every refusal, with no identifier: where the text
shows the registry refusing without one, the log is asked for a denial of the verified node
account (IAM's answer, never the text) on Artifact Registry from five minutes before the event
to one minute after it, once per new incident (duplicates are suppressed before any check;
answers are cached 30 s per account and window), so Cloud Logging's read quota (60
`entries.list` a minute per project) is spent only on the first event of an incident. A log
pullfix may not read is then "cannot tell" too: a ticket, never a grant. An audit entry can
reach the log after the kubelet's event; a grant made before it is caught by verification
(failures past `escalation_grace` escalate).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from pullfix.checks.base import Check, Finding, Read, also_lacks_reader
from pullfix.core.causes import Cause
from pullfix.core.classify import Diagnosis
from pullfix.core.judge import Evidence
from pullfix.core.model import AccessDenied

if TYPE_CHECKING:
    from pullfix.engine.evidence import EvidenceCollector

__all__ = ["CHECK", "READS"]

READS = (
    Read(
        "vpc_sc_denial",
        "vpc_sc_denial",
        "logging.googleapis.com",
        "entries.list of cloudaudit.googleapis.com/policy by vpcServiceControlsUniqueId: "
        "protoPayload(serviceName, authenticationInfo, metadata(violationReason, "
        "securityPolicyInfo, ingressViolations, egressViolations, dryRun))",
        ("logging.logEntries.list",),
        30.0,
    ),
    Read(
        "vpc_sc_denial_of",
        "vpc_sc_denial",
        "logging.googleapis.com",
        "entries.list of cloudaudit.googleapis.com/policy by principalEmail and timestamp: "
        "protoPayload(serviceName, authenticationInfo, metadata(violationReason, "
        "securityPolicyInfo, ingressViolations, egressViolations, dryRun))",
        ("logging.logEntries.list",),
        30.0,
    ),
)
# The window around the event's time in which a denial is looked for.
BEFORE, AFTER = timedelta(minutes=5), timedelta(minutes=1)


def wants(evidence: Evidence) -> bool:
    return (
        (evidence.vpc_sc_id is not None or evidence.refused_at is not None)
        and evidence.repository is not None
        and evidence.account is not None
        and not evidence.vpc_sc_looked_up
    )


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def gather(collector: EvidenceCollector, evidence: Evidence) -> None:
    """The denial of the text's identifier in the repository project's policy audit log; for
    a bare refusal, a denial of the verified node account around the event's time."""
    project, identifier, account = (
        evidence.repository_project,
        evidence.vpc_sc_id,
        evidence.account,
    )
    assert project is not None and account is not None
    evidence.vpc_sc_looked_up = True
    try:
        if identifier is not None:
            evidence.vpc_sc_denial = collector.apis.vpc_sc_denial(project, identifier)
        else:
            at = evidence.refused_at
            assert at is not None
            start, end = at - BEFORE, at + AFTER
            # Whole minutes: the events of one incident share the cached answer.
            start = start.replace(second=0, microsecond=0)
            end = end.replace(second=0, microsecond=0) + timedelta(minutes=1)
            evidence.vpc_sc_denial = collector.apis.vpc_sc_denial_of(
                project, account.email, _stamp(start), _stamp(end)
            )
            return
    except AccessDenied as exc:
        evidence.vpc_sc_error = str(exc)
        return
    denial = evidence.vpc_sc_denial
    if denial is None:
        evidence.notes.append(
            f"the text names VPC Service Controls identifier {identifier}, which the policy "
            f"audit log of project {project} does not hold"
        )
    elif denial.dry_run:
        evidence.notes.append(
            f"VPC Service Controls perimeter {denial.perimeter} would refuse this pull, in "
            "dry run only (it logs, it does not block)"
        )


def judge(offline: Diagnosis, evidence: Evidence) -> Finding | None:
    denial, project = evidence.vpc_sc_denial, evidence.repository_project
    if denial is not None and not denial.dry_run:
        reasons = [
            f"VPC Service Controls perimeter {denial.perimeter or '(unnamed)'} refused "
            f"{denial.principal or 'the node account'} on {denial.service} "
            f"({denial.reason or 'no reason given'}; policy audit log of project {project}, "
            f"identifier {denial.unique_id}): an {denial.direction} rule would allow the pull",
        ]
        return Finding(Cause.VPC_SC, (*reasons, *also_lacks_reader(evidence)))
    if evidence.vpc_sc_error is not None:
        said = (
            f"the text names VPC Service Controls identifier {evidence.vpc_sc_id}"
            if evidence.vpc_sc_id is not None
            else "the registry refused the pull without saying why"
        )
        return Finding(
            Cause.PERMISSION,
            (
                f"{said}, and pullfix cannot read the policy audit log of project {project} "
                f"({evidence.vpc_sc_error}) to rule out VPC Service Controls: it cannot tell, "
                "so no grant",
            ),
        )
    return None


CHECK = Check(
    name="vpc_sc",
    reads=READS,
    causes=frozenset({Cause.VPC_SC}),
    judge=judge,
    gather=gather,
    wants=wants,
    summary="no VPC Service Controls perimeter refused the pull (the policy audit log)",
    advice="an ingress (or egress) rule on the perimeter for the node account and the registry",
)
