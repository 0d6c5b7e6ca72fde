"""Cross-project: the account lacks the reader role, in the repository's project or another.

The last check, and the only one that always names a cause: with every other check passed,
the account lacks `downloadArtifacts` on the repository (or only under a condition, or
pullfix cannot tell), and the repository's project against the cluster's says which grant
fixes it. Reads nothing of its own (the access check's verdict, the verified cluster's
project). Names `cross_project` or `role`: the two a reader grant fixes.
"""

from __future__ import annotations

from pullfix.checks.base import Check, Finding
from pullfix.core.causes import Cause
from pullfix.core.classify import Diagnosis
from pullfix.core.judge import Evidence
from pullfix.core.model import AccessState, AccessVerdict

__all__ = ["CHECK"]


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


def judge(offline: Diagnosis, evidence: Evidence) -> Finding:
    assert evidence.account is not None and evidence.cluster is not None
    assert evidence.repository is not None
    lacks = _lacks(evidence.account.email, evidence.repository, evidence.verdict)
    cluster_project = evidence.cluster.project
    if evidence.repository_project != cluster_project:
        return Finding(
            Cause.CROSS_PROJECT,
            (
                lacks,
                # The offline classifier's words: the two say it once between them.
                f"repository project {evidence.repository_project} differs from cluster "
                f"project {cluster_project}",
            ),
        )
    return Finding(Cause.ROLE, (lacks,))


CHECK = Check(
    name="cross_project",
    reads=(),
    causes=frozenset({Cause.CROSS_PROJECT, Cause.ROLE}),
    judge=judge,
    summary="which project's grant the missing reader role needs",
    advice=(
        "grant roles/artifactregistry.reader on the repository to the node account "
        "(pullfix does, where allowed)"
    ),
)
