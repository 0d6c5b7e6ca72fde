"""Access: may the node account already download from the repository, as IAM evaluates it?

Reads: the Policy Troubleshooter (`iam.troubleshoot`, v3beta: allow policies up the
hierarchy, groups, custom roles, conditions, deny policies, and principal access boundary
policies, which the `boundary` check judges). When it refuses
pullfix or answers with an error no retry mends, the allow policies pullfix can read: the
repository's, its project's and the ancestors' (`getIamPolicy` on each, the ancestry from
Resource Manager), roles expanded with IAM `roles.get`; a member it cannot expand makes the
verdict "cannot tell". Names `permission`: a deny policy blocks the account, or it may
download already and the refusal comes from elsewhere (or `unknown`, for an event that gave no
refusal).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pullfix.checks.base import PROJECT_POLICY, Check, Finding, Read
from pullfix.core.access import FALLBACK_BLIND, PolicyRead, explain_policies
from pullfix.core.causes import Cause
from pullfix.core.classify import Diagnosis
from pullfix.core.judge import Evidence
from pullfix.core.model import (
    AccessDenied,
    AccessState,
    AccessVerdict,
    GoogleApiError,
    TransientError,
)

if TYPE_CHECKING:
    from concurrent.futures import Future

    from pullfix.engine.evidence import EvidenceCollector

__all__ = ["CHECK", "READS", "gather_access"]

_AR = "artifactregistry.googleapis.com"
_CRM = "cloudresourcemanager.googleapis.com"
READS = (
    # The troubleshooter reads, as the caller, every policy and role it evaluates.
    Read(
        "troubleshoot",
        "troubleshoot",
        "policytroubleshooter.googleapis.com",
        "accessTuple(principal,fullResourceName,permission) -> overallAccessState, "
        "allowPolicyExplanation, denyPolicyExplanation, pabPolicyExplanation (v3beta)",
        (
            "artifactregistry.repositories.getIamPolicy",
            "resourcemanager.projects.getIamPolicy",
            "resourcemanager.folders.getIamPolicy",
            "resourcemanager.organizations.getIamPolicy",
            "iam.roles.get",
            "iam.denypolicies.get",
            "iam.denypolicies.list",
            # v3beta evaluates principal access boundary policies (organization-level).
            "iam.principalaccessboundarypolicies.get",
            "iam.principalaccessboundarypolicies.list",
        ),
        30.0,
    ),
    Read(
        "repository_policy",
        "repository_policy",
        _AR,
        "bindings,etag (requestedPolicyVersion 3)",
        ("artifactregistry.repositories.getIamPolicy",),
        30.0,
    ),
    Read(
        "ancestry",
        "ancestry",
        _CRM,
        "parent (projects.get, folders.get)",
        ("resourcemanager.projects.get", "resourcemanager.folders.get"),
        3600.0,
    ),
    PROJECT_POLICY,
    Read(
        "resource_policy",
        "folder_policy",
        _CRM,
        "bindings (folders.getIamPolicy, requestedPolicyVersion 3)",
        ("resourcemanager.folders.getIamPolicy",),
        30.0,
    ),
    Read(
        "resource_policy",
        "organization_policy",
        _CRM,
        "bindings (organizations.getIamPolicy, requestedPolicyVersion 3)",
        ("resourcemanager.organizations.getIamPolicy",),
        30.0,
    ),
    Read(
        "role_permissions",
        "role_permissions",
        "iam.googleapis.com",
        "includedPermissions (roles.get)",
        ("iam.roles.get",),
        3600.0,
    ),
)


def wants(evidence: Evidence) -> bool:
    return (
        evidence.verdict is None
        and evidence.repository is not None
        and evidence.account_email is not None
    )


def gather(collector: EvidenceCollector, evidence: Evidence) -> None:
    """The verdict, from the answer started ahead (`evidence.troubleshooting`) if there is one."""
    asked, evidence.troubleshooting = evidence.troubleshooting, None
    gather_access(collector, evidence, asked)


def gather_access(
    collector: EvidenceCollector, evidence: Evidence, asked: Future[AccessVerdict] | None
) -> None:
    """The troubleshooter first; when it refuses pullfix or answers with an error no retry
    mends, the allow policies pullfix can read, saying "cannot tell" where they do not settle
    it (after a refusal of the service, for the collector's backoff the troubleshooter is not
    asked). `asked` is the answer `EvidenceCollector.ask_troubleshooter` started, if it did."""
    repository = evidence.repository
    assert repository is not None and evidence.account_email is not None
    email = evidence.account_email
    refusal = collector.troubleshooter_refusal
    if asked is not None or refusal is None:
        try:
            evidence.verdict = (
                asked.result()
                if asked is not None
                else collector.apis.troubleshoot(email, repository)
            )
            return
        except (AccessDenied, GoogleApiError) as exc:
            if isinstance(exc, GoogleApiError) and exc.retryable:
                # 429, 5xx (the adapter makes these TransientError; another port may not)
                raise TransientError(f"the Policy Troubleshooter: {exc}") from exc
            # A refusal (403: no permission, API disabled) or an error no retry mends
            # (400, 404): the troubleshooter cannot answer, so the fallback does, and
            # the event is not failed for Pub/Sub to redeliver it again and again.
            # TransientError (429, 5xx, timeouts) goes up: Pub/Sub redelivers.
            collector.refused(exc)
            refusal = str(exc)
    evidence.notes.append(
        f"the Policy Troubleshooter cannot answer pullfix ({refusal}); judged from {FALLBACK_BLIND}"
    )
    evidence.verdict = _from_policies(collector, evidence, email, repository)


def _from_policies(
    collector: EvidenceCollector, evidence: Evidence, email: str, repository: str
) -> AccessVerdict:
    apis = collector.apis
    chain: list[PolicyRead] = []
    try:
        policy = apis.repository_policy(repository)
        evidence.repository_policy = policy
        chain.append(PolicyRead(repository, policy))
    except AccessDenied as exc:
        evidence.policy_error = str(exc)
        chain.append(PolicyRead(repository, None, str(exc)))
    project = evidence.repository_project
    assert project is not None
    resources = [f"projects/{project}"]
    try:
        resources.extend(apis.ancestry(project))
    except AccessDenied as exc:
        chain.append(PolicyRead(f"the ancestors of projects/{project}", None, str(exc)))
    for resource in resources:
        try:
            chain.append(PolicyRead(resource, apis.resource_policy(resource)))
        except AccessDenied as exc:
            chain.append(PolicyRead(resource, None, str(exc)))

    def permissions_or_none(role: str) -> frozenset[str] | None:
        try:
            return apis.role_permissions(role)
        except AccessDenied:
            return None

    return explain_policies(email, chain, permissions_or_none)


def judge(offline: Diagnosis, evidence: Evidence) -> Finding | None:
    verdict, account = evidence.verdict, evidence.account
    assert account is not None
    if verdict is not None and verdict.state is AccessState.DENIED:
        return Finding(
            Cause.PERMISSION,
            (
                f"an IAM deny policy blocks {account.email} from downloading from "
                f"{evidence.repository}: {verdict.describe()} ({verdict.evaluator})",
            ),
        )
    if verdict is not None and verdict.state is AccessState.GRANTED:
        if offline.cause in (Cause.UNKNOWN, Cause.IMAGE_FORMAT):
            # No refusal in the text (a follow-up, or a runtime's words the live checks
            # did not confirm): an account that can read leaves the cause unknown.
            return Finding(
                Cause.UNKNOWN,
                (
                    f"{account.email} can already read the repository: {verdict.describe()} "
                    f"({verdict.evaluator})",
                ),
            )
        return Finding(
            Cause.PERMISSION,
            (
                f"{account.email} already may download ({verdict.describe()}, per the "
                f"{verdict.evaluator}): the denial comes from elsewhere (VPC Service Controls, "
                "an organization policy, the registry itself)",
            ),
        )
    return None


CHECK = Check(
    name="access",
    reads=READS,
    causes=frozenset({Cause.PERMISSION, Cause.UNKNOWN}),
    judge=judge,
    gather=gather,
    wants=wants,
    summary="whether the node account may already download, as IAM evaluates it",
    advice=(
        "lift the deny policy, or look past IAM: VPC Service Controls, organization "
        "policies, the registry"
    ),
)
