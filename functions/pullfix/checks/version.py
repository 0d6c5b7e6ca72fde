"""Version: the node pool's GKE version has built-in Artifact Registry access.

GKE older than 1.14.10-gke.22 (1.14) or 1.15.9-gke.8 (1.15) needs imagePullSecrets. Reads
nothing of its own: the pool's `version` comes with the cluster that verification read.
Names `version`.
"""

from __future__ import annotations

from pullfix.checks.base import Check, Finding
from pullfix.core.causes import Cause
from pullfix.core.classify import Diagnosis
from pullfix.core.gkeversion import GKEVersion, InvalidVersion, minimum_ar_version
from pullfix.core.judge import Evidence

__all__ = ["CHECK", "version_problem"]


def version_problem(version: str, what: str) -> str | None:
    """Why `version` cannot pull from Artifact Registry without credentials, or None."""
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


def judge(offline: Diagnosis, evidence: Evidence) -> Finding | None:
    assert evidence.pool is not None
    too_old = version_problem(evidence.pool.version, "node pool")
    return Finding(Cause.VERSION, (too_old,)) if too_old is not None else None


CHECK = Check(
    name="version",
    reads=(),
    causes=frozenset({Cause.VERSION}),
    judge=judge,
    summary="the node pool's GKE version pulls from Artifact Registry without credentials",
    advice=(
        "upgrade the node pool to a version with built-in Artifact Registry access, or "
        "use imagePullSecrets"
    ),
)
