"""The shape every diagnosis check has: what it reads, how it gathers, how it judges.

A check reads a few fields of one or two Google APIs (`Read`: the call, its fields, the
permission it needs, how long the adapter caches the answer), gathers them into the event's
`Evidence` (impure; a denial is written down as "cannot tell", never raised), and judges the
evidence (pure: `Finding` or None when the check has nothing to say). The registry
(`pullfix.checks.registry`) orders the checks once; its `run_checks` gathers and `judge`
decides in that order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pullfix.core.causes import Cause
from pullfix.core.classify import Diagnosis
from pullfix.core.judge import Evidence
from pullfix.core.model import AccessState

if TYPE_CHECKING:
    from pullfix.engine.evidence import EvidenceCollector

__all__ = ["PROJECT_POLICY", "Check", "Finding", "Read", "also_lacks_reader"]


@dataclass(frozen=True)
class Read:
    """One call a check makes through the `GoogleApis` port.

    `method` is the port's method, `call` the adapter's name for the request (the key of
    `pullfix.gcp.adapter.PERMISSIONS`, whose refusals name `permissions`), `api` and `fields`
    what Google is asked, `cache` how long (seconds) the adapter keeps the answer (0: never).
    """

    method: str
    call: str
    api: str
    fields: str
    permissions: tuple[str, ...]
    cache: float


# A project's allow policy, which several checks read (the node account's roles there, a
# service agent's): one declaration, one permission.
PROJECT_POLICY = Read(
    "resource_policy",
    "project_policy",
    "cloudresourcemanager.googleapis.com",
    "bindings (projects.getIamPolicy, requestedPolicyVersion 3)",
    ("resourcemanager.projects.getIamPolicy",),
    30.0,
)


@dataclass(frozen=True)
class Finding:
    """The cause a check names, with the evidence that decides it (first in the reasons)."""

    cause: Cause
    decisive: tuple[str, ...]


@dataclass(frozen=True)
class Check:
    """One diagnosis check.

    `wants(evidence)`: whether its reads still need to be made for this evidence (its inputs
    are there, its answers are not). `gather(collector, evidence)`: makes them (None for a
    check that judges what others gathered). `judge(offline, evidence)`: pure; the finding,
    or None to let the next check judge. `causes`: what it can name; the advice for each is
    `pullfix.core.remediation`'s ticket draft for that cause.
    """

    name: str
    reads: tuple[Read, ...]
    causes: frozenset[Cause]
    judge: Callable[[Diagnosis, Evidence], Finding | None]
    gather: Callable[[EvidenceCollector, Evidence], None] | None = None
    wants: Callable[[Evidence], bool] = lambda evidence: False
    summary: str = ""
    advice: str = ""


def also_lacks_reader(
    evidence: Evidence, then: str = "grant roles/artifactregistry.reader as well"
) -> tuple[str, ...]:
    """The reason a check that names a cause no grant fixes adds where the access check found
    the node account lacking the reader role too (the ticket names both); `then` says when
    to grant it."""
    verdict, account = evidence.verdict, evidence.account
    if verdict is None or account is None or verdict.state is not AccessState.NOT_GRANTED:
        return ()
    return (
        f"{account.email} also holds no role with downloadArtifacts on {evidence.repository} "
        f"({verdict.evaluator}): {then}",
    )
