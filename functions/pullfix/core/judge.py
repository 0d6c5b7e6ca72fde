"""The final cause: the offline diagnosis combined with what the Google APIs confirm.

Pure. "Why was this a `scope` ticket?" is answered here: `judge` reads the evidence in the
order in which each fact rules out a reader grant as the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pullfix.core.causes import Cause
from pullfix.core.classify import PENDING_LIVE_CHECK, Diagnosis
from pullfix.core.gkeversion import GKEVersion, InvalidVersion, minimum_ar_version
from pullfix.core.imageref import ImageRef
from pullfix.core.model import (
    AccessState,
    AccessVerdict,
    AccountInfo,
    ClusterInfo,
    NodePoolInfo,
    PolicyView,
)

__all__ = ["IAM_CAUSES", "Evidence", "judge"]

# Offline causes that the node's identity, scopes, version or the repository can explain.
IAM_CAUSES = frozenset({Cause.PERMISSION, Cause.CROSS_PROJECT, Cause.UNKNOWN, Cause.NOT_FOUND})


@dataclass
class Evidence:
    """What the APIs said, gathered step by step; None means not asked (or not needed)."""

    cluster: ClusterInfo | None = None
    pool: NodePoolInfo | None = None
    unverified: str | None = None
    image: ImageRef | None = None
    repository: str | None = None
    account_email: str | None = None
    account: AccountInfo | None = None
    repository_exists: bool | None = None
    tag_exists: bool | None = None
    verdict: AccessVerdict | None = None  # may the account download? (None: not asked)
    policy_error: str | None = None
    repository_policy: PolicyView | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def image_missing(self) -> bool:
        """Whether the registry said the tag or the repository does not exist."""
        return self.tag_exists is False or self.repository_exists is False

    @property
    def repository_project(self) -> str | None:
        return self.repository.split("/")[1] if self.repository else None


def judge(offline: Diagnosis, evidence: Evidence) -> Diagnosis:
    """The final cause, with reasons that cite the evidence."""
    if evidence.unverified is not None:
        return Diagnosis(Cause.UNVERIFIED, (evidence.unverified, *offline.reasons))
    where = _where(evidence)
    if offline.malformed is not None:
        # Kubelet never pulls a string the reference grammar rejects (it stops at
        # InvalidImageName): whatever else the event says, the name is what to fix.
        return Diagnosis(Cause.INVALID_NAME, (offline.malformed, *where))
    if offline.cause not in IAM_CAUSES or evidence.repository is None:
        return Diagnosis(offline.cause, (*offline.reasons, *where, *evidence.notes))
    pool, account = evidence.pool, evidence.account
    assert pool is not None and account is not None and evidence.cluster is not None
    reasons = [*(r for r in offline.reasons if r != PENDING_LIVE_CHECK), *where, *evidence.notes]

    if not account.exists:
        return _final(
            Cause.SERVICE_ACCOUNT,
            reasons,
            f"node service account {account.email} does not exist (deleted)",
        )
    if account.disabled:
        return _final(
            Cause.SERVICE_ACCOUNT, reasons, f"node service account {account.email} is disabled"
        )
    too_old = _version_problem(pool.version, "node pool")
    if too_old is not None:
        return _final(Cause.VERSION, reasons, too_old)
    if not pool.has_storage_read_scope():
        scopes = ", ".join(s.rsplit("/", 1)[-1] for s in pool.oauth_scopes) or "none"
        return _final(
            Cause.SCOPE,
            reasons,
            f"node pool {pool.name} OAuth scopes ({scopes}) lack storage read "
            "(devstorage.read_only, read_write, full_control or cloud-platform)",
        )
    if evidence.repository_exists is False:
        return _final(Cause.NOT_FOUND, reasons, f"repository {evidence.repository} does not exist")
    if evidence.tag_exists is False and evidence.image is not None:
        return _final(
            Cause.NOT_FOUND,
            reasons,
            f"tag {evidence.image.tag_or_latest} of {evidence.image.name} does not exist",
        )
    if offline.cause is Cause.NOT_FOUND:
        return _final(Cause.NOT_FOUND, reasons, *evidence.notes)
    verdict = evidence.verdict
    if verdict is not None and verdict.state is AccessState.DENIED:
        return _final(
            Cause.PERMISSION,
            reasons,
            f"an IAM deny policy blocks {account.email} from downloading from "
            f"{evidence.repository}: {verdict.describe()} ({verdict.evaluator})",
        )
    if verdict is not None and verdict.state is AccessState.GRANTED:
        if offline.cause is Cause.UNKNOWN:
            return _final(
                Cause.UNKNOWN,
                reasons,
                f"{account.email} can already read the repository: {verdict.describe()} "
                f"({verdict.evaluator})",
            )
        return _final(
            Cause.PERMISSION,
            reasons,
            f"{account.email} already may download ({verdict.describe()}, per the "
            f"{verdict.evaluator}): the denial comes from elsewhere (VPC Service Controls, "
            "an organization policy, the registry itself)",
        )
    lacks = _lacks(account.email, evidence.repository, verdict)
    cluster_project = evidence.cluster.project
    if evidence.repository_project != cluster_project:
        return _final(
            Cause.CROSS_PROJECT,
            reasons,
            lacks,
            # The offline classifier's words: the two say it once between them.
            f"repository project {evidence.repository_project} differs from cluster project "
            f"{cluster_project}",
        )
    return _final(Cause.ROLE, reasons, lacks)


def _lacks(email: str, repository: str, verdict: AccessVerdict | None) -> str:
    if verdict is None or verdict.state is AccessState.NOT_GRANTED:
        by = f" ({verdict.evaluator})" if verdict is not None else ""
        return f"{email} holds no role with downloadArtifacts on {repository}{by}"
    if verdict.state is AccessState.CONDITIONAL:
        return (
            f"{email} may download from {repository} only under a condition: "
            f"{verdict.describe()} ({verdict.evaluator})"
        )
    return (
        f"pullfix cannot tell whether {email} may download from {repository}: "
        f"{verdict.describe()} ({verdict.evaluator})"
    )


def _final(cause: Cause, reasons: list[str], *decisive: str) -> Diagnosis:
    """The decisive evidence first, then what the message said and where it happened."""
    return Diagnosis(cause, tuple(dict.fromkeys([*decisive, *reasons])))


def _where(evidence: Evidence) -> list[str]:
    out = []
    if evidence.cluster is not None:
        out.append(f"cluster {evidence.cluster.name} confirmed by the GKE API")
    if evidence.pool is not None:
        account = f", account {evidence.account_email}" if evidence.account_email else ""
        out.append(
            f"node is in pool {evidence.pool.name} (version {evidence.pool.version}{account})"
        )
    return out


def _version_problem(version: str, what: str) -> str | None:
    try:
        parsed = GKEVersion.parse(version)
    except InvalidVersion:
        return None
    minimum = minimum_ar_version(parsed)
    if minimum is None:
        return (
            f"{what} version {version} predates built-in Artifact Registry access "
            "(1.14.10-gke.22 / 1.15.9-gke.8 and later have it)"
        )
    if parsed < minimum:
        return (
            f"{what} version {version} predates built-in Artifact Registry access "
            f"(needs {minimum} or later)"
        )
    return None
