"""`pullfix diagnose`: can this cluster's nodes pull these images? Before `kubectl apply`.

Each node pool (or the one named) and each image run through the same checks, in the same
order, as `remediate` (`pullfix.checks`): the node account exists and is enabled, the pool's
version and scopes allow Artifact Registry pulls, the image exists, and the account can read
it. When the Policy Troubleshooter cannot answer, each check judged from the allow policies
instead carries a warning that says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pullfix.checks import gather, judge
from pullfix.checks.posture import Posture, check_posture
from pullfix.core.access import FALLBACK_BLIND, POLICIES
from pullfix.core.causes import Cause
from pullfix.core.classify import Diagnosis
from pullfix.core.imageref import InvalidReference, parse_image
from pullfix.core.judge import Evidence
from pullfix.core.model import AccessState, ClusterInfo, GoogleApis
from pullfix.core.remediation import Context, ticket_draft
from pullfix.engine.evidence import EvidenceCollector

__all__ = ["CLUSTER_RE", "Check", "check_images", "check_postures"]

CLUSTER_RE = re.compile(r"projects/([^/]+)/locations/([^/]+)/clusters/([^/]+)")


@dataclass
class Check:
    """One image on one node pool."""

    image: str
    node_pool: str
    status: str  # ok | fail | skipped
    cause: str | None
    reasons: list[str]
    fix: list[str] = field(default_factory=list)
    used_by: list[str] = field(default_factory=list)
    # What limits the check: the troubleshooter's refusal, when its fallback judged access.
    warnings: list[str] = field(default_factory=list)
    # Bindings whose members pullfix cannot expand (a group whose membership it may not
    # read): access through them is "cannot tell", and remediate fails closed (a ticket).
    cannot_see: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "node_pool": self.node_pool,
            "status": self.status,
            "cause": self.cause,
            "reasons": self.reasons,
            "fix": self.fix,
            "used_by": self.used_by,
            "warnings": self.warnings,
            "cannot_see": self.cannot_see,
        }


def check_images(
    apis: GoogleApis,
    cluster: ClusterInfo,
    pool_names: list[str],
    images: list[tuple[str, list[str]]],
) -> list[Check]:
    """Check every image on every named pool of the cluster."""
    collector = EvidenceCollector(apis)
    pools = [p for p in cluster.node_pools if p.name in pool_names]
    checks = []
    for image, used_by in images:
        try:
            parsed = parse_image(image)
        except InvalidReference as exc:
            checks.append(
                Check(
                    image,
                    "*",
                    "fail",
                    Cause.INVALID_NAME.value,
                    [str(exc)],
                    ["fix the image reference in the workload spec"],
                    used_by,
                )
            )
            continue
        if parsed.ar_repository is None:
            checks.append(
                Check(
                    image,
                    "*",
                    "skipped",
                    None,
                    [
                        f"{parsed.registry} is outside Google Cloud: pullfix checks "
                        "Artifact Registry and gcr.io images"
                    ],
                    [],
                    used_by,
                )
            )
            continue
        for pool in pools:
            evidence = Evidence(
                cluster=cluster, pool=pool, image=parsed, repository=parsed.ar_repository
            )
            gather(collector, evidence)
            warnings = []
            if evidence.verdict is not None and evidence.verdict.evaluator == POLICIES:
                refusal = collector.troubleshooter_refusal
                warnings.append(
                    "the Policy Troubleshooter refused or could not answer "
                    f"({refusal or 'no answer'}): access was judged from {FALLBACK_BLIND}"
                )
            hidden = hidden_members(evidence)
            # "unknown" with every check passed means nothing stands in the pull's way.
            verdict = judge(Diagnosis(Cause.UNKNOWN, ()), evidence)
            if verdict.cause is Cause.UNKNOWN:
                checks.append(
                    Check(
                        image,
                        pool.name,
                        "ok",
                        None,
                        list(verdict.reasons),
                        [],
                        used_by,
                        warnings,
                        hidden,
                    )
                )
                continue
            draft = ticket_draft(
                Context(
                    cause=verdict.cause,
                    project=cluster.project,
                    location=cluster.location,
                    cluster=cluster.name,
                    image=image,
                    repository=parsed.ar_repository,
                    node_pool=pool.name,
                    account=evidence.account_email,
                    node_version=pool.version,
                    google_image=True,
                )
            )
            checks.append(
                Check(
                    image,
                    pool.name,
                    "fail",
                    verdict.cause.value,
                    list(verdict.reasons),
                    [*draft["steps"], *draft["commands"]],
                    used_by,
                    warnings,
                    hidden,
                )
            )
    return checks


def hidden_members(evidence: Evidence) -> list[str]:
    """The bindings whose members pullfix cannot expand, as the access verdict names them: the
    Policy Troubleshooter's `MEMBERSHIP_UNKNOWN_INFO` (v3 `MembershipMatchingState`: "the
    sender of the request doesn't have permission to view whether the principal in the request
    is a member of the group or domain"), or the fallback's `group:` and `principalSet:`
    members."""
    verdict = evidence.verdict
    if verdict is None or verdict.state not in (AccessState.UNKNOWN, AccessState.CONDITIONAL):
        return []
    return [via for via in verdict.via if "cannot tell whether" in via and "member" in via]


def check_postures(apis: GoogleApis, cluster: ClusterInfo, pool_names: list[str]) -> list[Posture]:
    """Each named pool's node account against the role Google recommends for node accounts
    (`pullfix.checks.posture`): advisory, beside the pull verdict, never a failed check."""
    return [
        check_posture(apis, cluster.project, pool.name, pool.service_account)
        for pool in cluster.node_pools
        if pool.name in pool_names
    ]
