"""Upstream: a remote repository can authenticate to its upstream.

Reads: the repository's `remoteRepositoryConfig.upstreamCredentials.usernamePasswordCredentials.
passwordSecretVersion` (Artifact Registry `repositories.get`, the read the existence and key
checks share,
https://cloud.google.com/artifact-registry/docs/reference/rest/v1/projects.locations.repositories#RemoteRepositoryConfig);
for a repository that has one, the secret version's `state` (Secret Manager `versions.get`,
metadata only, never the payload: ENABLED, DISABLED, DESTROYED,
https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets.versions#State)
and whether Artifact Registry's service agent
(`service-PROJECT_NUMBER@gcp-sa-artifactregistry.iam.gserviceaccount.com`, of the repository's
project) holds `roles/secretmanager.secretAccessor` on the secret or the secret's project
(`secrets.getIamPolicy`; the project's policy, Resource Manager), as
https://cloud.google.com/artifact-registry/docs/repositories/configure-remote-authentication
requires. A remote repository fetches what it does not cache with those credentials; neither
is fixed by a reader grant to the node account. Names `upstream`; a read pullfix may not make
is "cannot tell": `permission`, never a grant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pullfix.checks.base import Check, Finding, Read
from pullfix.core.causes import Cause
from pullfix.core.classify import Diagnosis
from pullfix.core.judge import Evidence
from pullfix.core.model import AccessDenied, AccessState

if TYPE_CHECKING:
    from pullfix.engine.evidence import EvidenceCollector

__all__ = ["ACCESSOR_ROLE", "CHECK", "READS"]

ACCESSOR_ROLE = "roles/secretmanager.secretAccessor"
# Roles that carry secretmanager.versions.access
# (https://cloud.google.com/secret-manager/docs/access-control).
_ACCESS_ROLES = frozenset({ACCESSOR_ROLE, "roles/secretmanager.admin"})

READS = (
    Read(
        "repository_upstream_secret",
        "repository_exists",
        "artifactregistry.googleapis.com",
        "name,remoteRepositoryConfig/upstreamCredentials/usernamePasswordCredentials/"
        "passwordSecretVersion",
        ("artifactregistry.repositories.get",),
        30.0,
    ),
    Read(
        "project_number",
        "project_number",
        "cloudresourcemanager.googleapis.com",
        "name,parent",
        ("resourcemanager.projects.get",),
        3600.0,
    ),
    Read(
        "secret_version_state",
        "secret_version_state",
        "secretmanager.googleapis.com",
        "name,state (versions.get; metadata, never the payload)",
        ("secretmanager.versions.get",),
        30.0,
    ),
    Read(
        "secret_policy",
        "secret_policy",
        "secretmanager.googleapis.com",
        "bindings,etag (secrets.getIamPolicy, requestedPolicyVersion 3)",
        ("secretmanager.secrets.getIamPolicy",),
        30.0,
    ),
    Read(
        "resource_policy",
        "project_policy",
        "cloudresourcemanager.googleapis.com",
        "bindings (projects.getIamPolicy, requestedPolicyVersion 3)",
        ("resourcemanager.projects.getIamPolicy",),
        30.0,
    ),
)


def wants(evidence: Evidence) -> bool:
    return (
        evidence.repository is not None
        and evidence.account is not None
        and evidence.upstream_secret is None
        and evidence.upstream_error is None
    )


def gather(collector: EvidenceCollector, evidence: Evidence) -> None:
    """The remote repository's password version, its state and the service agent's role."""
    repository, project = evidence.repository, evidence.repository_project
    assert repository is not None and project is not None
    apis = collector.apis
    try:
        evidence.upstream_secret = apis.repository_upstream_secret(repository)
        if not evidence.upstream_secret:
            return
        evidence.upstream_secret_state = apis.secret_version_state(evidence.upstream_secret)
        number = apis.project_number(project)
        if number is None:
            return
        agent = f"serviceAccount:service-{number}@gcp-sa-artifactregistry.iam.gserviceaccount.com"
        evidence.upstream_agent = agent.removeprefix("serviceAccount:")
        parts = evidence.upstream_secret.split("/")
        secret, secret_project = "/".join(parts[:4]), f"projects/{parts[1]}"
        evidence.upstream_agent_can_access = any(
            agent in binding.members and binding.role in _ACCESS_ROLES and not binding.conditional
            for policy in (apis.secret_policy(secret), apis.resource_policy(secret_project))
            for binding in policy.bindings
        )
    except AccessDenied as exc:
        evidence.upstream_error = str(exc)


def _also_lacks(evidence: Evidence) -> list[str]:
    verdict, account = evidence.verdict, evidence.account
    if verdict is None or account is None or verdict.state is not AccessState.NOT_GRANTED:
        return []
    return [
        f"{account.email} also holds no role with downloadArtifacts on {evidence.repository} "
        f"({verdict.evaluator}): grant roles/artifactregistry.reader as well"
    ]


def judge(offline: Diagnosis, evidence: Evidence) -> Finding | None:
    secret = evidence.upstream_secret
    if evidence.upstream_error is not None:
        return Finding(
            Cause.PERMISSION,
            (
                f"pullfix cannot tell whether {evidence.repository} can authenticate to its "
                f"upstream ({evidence.upstream_error}): no grant on a guess",
            ),
        )
    if not secret:
        return None
    state = evidence.upstream_secret_state
    decisive = []
    if state is not None and state != "ENABLED":
        decisive.append(
            f"{evidence.repository} is a remote repository whose upstream password is "
            f"{secret}, which {f'is {state}' if state else 'does not exist'} (Secret Manager): "
            "Artifact Registry cannot authenticate to the upstream"
        )
    if evidence.upstream_agent_can_access is False:
        decisive.append(
            f"Artifact Registry's service agent {evidence.upstream_agent} holds no "
            f"{ACCESSOR_ROLE} on {'/'.join(secret.split('/')[:4])} or its project: it cannot "
            f"read the upstream password of {evidence.repository}"
        )
    if not decisive:
        return None
    return Finding(Cause.UPSTREAM, (*decisive, *_also_lacks(evidence)))


CHECK = Check(
    name="upstream",
    reads=READS,
    causes=frozenset({Cause.UPSTREAM}),
    judge=judge,
    gather=gather,
    wants=wants,
    summary="a remote repository's upstream password is enabled and readable by Artifact Registry",
    advice=(
        "enable (or add) the secret version that holds the upstream password, or grant Artifact "
        "Registry's service agent roles/secretmanager.secretAccessor on the secret"
    ),
)
