"""The diagnosis checks in the order of their precedence, stated once.

Each check rules a reader grant out as the fix for a reason of its own, and an earlier check's
reason wins: a node account that is deleted makes its scopes moot, scopes that lack storage
make the repository's IAM moot, a missing image makes access moot. `run_checks` gathers in
this order (and stops gathering once a check has ruled the grant out: nothing later could
change the cause), `judge` decides in it. `remediate`, `pullfix diagnose` and `pullfix scan`
(through `remediate`) all run these.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from pullfix.checks import (
    access,
    api_enabled,
    boundary,
    cmek,
    cross_project,
    existence,
    identity,
    image_size,
    manifest,
    network,
    remote_vpcsc,
    scopes,
    upstream,
    verification,
    version,
    vpc_sc,
)
from pullfix.checks.base import Check, Read
from pullfix.core.causes import GRANT_FIXABLE, GRANT_NEVER_FIXES, Cause
from pullfix.core.classify import PENDING_LIVE_CHECK, Diagnosis
from pullfix.core.judge import IAM_CAUSES, Evidence

if TYPE_CHECKING:
    from pullfix.engine.evidence import EvidenceCollector

__all__ = [
    "CHECKS",
    "VERIFICATION",
    "gather",
    "grant_may_fix",
    "judge",
    "read_permissions",
    "reads",
    "run_checks",
]

VERIFICATION = verification.CHECK

CHECKS: tuple[Check, ...] = (
    VERIFICATION,
    # For a failure on the network path only (it judges nothing else): no grant can fix it.
    network.CHECK,
    identity.CHECK,
    version.CHECK,
    scopes.CHECK,
    existence.CHECK,
    manifest.CHECK,  # an image the node's runtime refuses: no grant can help
    image_size.CHECK,  # a cancelled pull of a large image
    api_enabled.CHECK,  # refusals no grant fixes: before access, so nothing is granted
    # A remote repository whose upstream a perimeter cuts off: it judges vpc_sc's denial with
    # Artifact Registry's setting for remote repositories, so it comes first.
    remote_vpcsc.CHECK,
    vpc_sc.CHECK,
    boundary.CHECK,  # judges what access gathers (the troubleshooter's boundary answer)
    cmek.CHECK,
    upstream.CHECK,  # a remote repository that cannot authenticate to its upstream
    access.CHECK,
    cross_project.CHECK,  # the last: it always names a cause
)


def judge(offline: Diagnosis, evidence: Evidence) -> Diagnosis:
    """The final cause, with reasons that cite the evidence: the first check with a finding.

    An unverified event is judged on that alone; a malformed image name is what to fix
    whatever else the event says; a cause the checks cannot explain (or an image outside
    Artifact Registry) stays the offline one.
    """
    unverified = VERIFICATION.judge(offline, evidence)
    if unverified is not None:
        return Diagnosis(unverified.cause, (*unverified.decisive, *offline.reasons))
    where = _where(evidence)
    if offline.malformed is not None:
        # Kubelet never pulls a string the reference grammar rejects (it stops at
        # InvalidImageName): whatever else the event says, the name is what to fix.
        return Diagnosis(Cause.INVALID_NAME, (offline.malformed, *where))
    if offline.cause is Cause.NETWORK:
        path = network.CHECK.judge(offline, evidence)
        if path is not None:
            return Diagnosis(
                Cause.NETWORK,
                tuple(dict.fromkeys([*path.decisive, *offline.reasons, *where, *evidence.notes])),
            )
    if offline.cause not in IAM_CAUSES or evidence.repository is None:
        return Diagnosis(offline.cause, (*offline.reasons, *where, *evidence.notes))
    assert evidence.pool is not None and evidence.account is not None
    assert evidence.cluster is not None
    reasons = [*(r for r in offline.reasons if r != PENDING_LIVE_CHECK), *where, *evidence.notes]
    for check in CHECKS[1:]:
        found = check.judge(offline, evidence)
        if found is not None:
            # The decisive evidence first, then what the message said and where it happened.
            return Diagnosis(found.cause, tuple(dict.fromkeys([*found.decisive, *reasons])))
    raise AssertionError("the last check always names a cause")  # pragma: no cover


def grant_may_fix(evidence: Evidence) -> bool:
    """Whether the checks gathered so far leave a reader grant as a possible fix."""
    if evidence.unverified is not None or evidence.account is None:
        return False
    probe = judge(Diagnosis(Cause.PERMISSION, ()), evidence)
    return probe.cause in GRANT_FIXABLE


def _ruled_out(evidence: Evidence) -> bool:
    """Whether a check gathered so far has ruled a grant out (later ones cannot matter). A
    refusal no grant fixes (`GRANT_NEVER_FIXES`) still lets access be asked: the ticket names
    a missing reader role beside it."""
    if evidence.unverified is not None:
        return True
    if evidence.account is None:
        return False
    probe = judge(Diagnosis(Cause.PERMISSION, ()), evidence)
    return probe.cause not in GRANT_FIXABLE | GRANT_NEVER_FIXES


def run_checks(
    collector: EvidenceCollector, evidence: Evidence, checks: Sequence[Check] = CHECKS
) -> Iterator[Check]:
    """Make each check's reads into `evidence`, in precedence order, yielding each check once
    its reads are made: a check is gathered when it wants to (its inputs are there, its
    answers not yet) and no earlier check has ruled a grant out. The caller may act between
    checks (remediate looks up its grant incident once the identity is known) or stop."""
    for check in checks:
        if check.gather is None or not check.wants(evidence) or _ruled_out(evidence):
            continue
        check.gather(collector, evidence)
        yield check


def gather(
    collector: EvidenceCollector, evidence: Evidence, checks: Sequence[Check] = CHECKS
) -> Evidence:
    """`run_checks` to the end; the evidence, for `judge`."""
    for _ in run_checks(collector, evidence, checks):
        pass
    return evidence


def reads(checks: Sequence[Check] = CHECKS) -> tuple[Read, ...]:
    """Every read the checks declare, in order."""
    return tuple(read for check in checks for read in check.reads)


def read_permissions(checks: Sequence[Check] = CHECKS) -> dict[str, tuple[str, ...]]:
    """The permissions of each call the checks make (`pullfix.gcp.adapter.PERMISSIONS`' keys);
    a ValueError when two checks declare different permissions for one call."""
    out: dict[str, tuple[str, ...]] = {}
    for read in reads(checks):
        if out.setdefault(read.call, read.permissions) != read.permissions:
            raise ValueError(f"checks declare different permissions for {read.call}")
    return out


def _where(evidence: Evidence) -> list[str]:
    out = []
    if evidence.cluster is not None:
        kind = "Autopilot cluster" if evidence.cluster.autopilot else "cluster"
        out.append(f"{kind} {evidence.cluster.name} confirmed by the GKE API")
    if evidence.pool is not None:
        account = f", account {evidence.account_email}" if evidence.account_email else ""
        out.append(
            f"node is in pool {evidence.pool.name} (version {evidence.pool.version}{account})"
        )
    return out
