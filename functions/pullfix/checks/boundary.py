"""Principal access boundary: no boundary policy makes the node account ineligible for the
repository.

Reads nothing of its own: the Policy Troubleshooter's answer that `access` asks for
(`iam.troubleshoot`, v3beta, whose `pabPolicyExplanation` evaluates principal access boundary
policies: `principalAccessBoundaryAccessState` `PAB_ACCESS_STATE_NOT_ALLOWED` and the
policies in `explainedBindingsAndPolicies`; v3 answers without them —
https://cloud.google.com/policy-intelligence/docs/reference/troubleshooter/rest/v3beta/TroubleshootIamPolicyResponse).
A boundary limits access whatever roles the account holds, so no grant fixes it: a
`permission` ticket whose reasons name the policy, and, where the allow policies give the
account no role either, the missing role beside it. A boundary the troubleshooter cannot
evaluate is "cannot tell": the same ticket, never a grant.
"""

from __future__ import annotations

from pullfix.checks.base import Check, Finding
from pullfix.core.causes import Cause
from pullfix.core.classify import Diagnosis
from pullfix.core.judge import Evidence
from pullfix.core.model import AccessState

__all__ = ["CHECK"]


def judge(offline: Diagnosis, evidence: Evidence) -> Finding | None:
    verdict, account = evidence.verdict, evidence.account
    if verdict is None or not verdict.boundary or account is None:
        return None
    reasons = [
        f"{'; '.join(verdict.boundary)}: {account.email} is not eligible to download from "
        f"{evidence.repository} whatever roles it holds ({verdict.evaluator}), so no grant "
        "fixes it",
    ]
    if verdict.state is AccessState.NOT_GRANTED:
        reasons.append(
            f"{account.email} also holds no role with downloadArtifacts on {evidence.repository}"
            f" ({verdict.evaluator}): grant roles/artifactregistry.reader once the boundary "
            "allows the repository"
        )
    return Finding(Cause.PERMISSION, tuple(reasons))


CHECK = Check(
    name="boundary",
    reads=(),
    causes=frozenset(),  # a reason within `permission`, which `access` names
    judge=judge,
    summary="no principal access boundary policy makes the node account ineligible",
    advice=(
        "add the repository's project (or its folder or organization) to a rule of the "
        "boundary policy, or bind the account to a policy that includes it"
    ),
)
