"""Upstream: a remote repository can authenticate to its upstream, and a virtual repository's
upstreams are readable by Artifact Registry.

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
is fixed by a reader grant to the node account.

For a virtual repository: its `virtualRepositoryConfig.upstreamPolicies[].repository` (the same
read,
https://cloud.google.com/artifact-registry/docs/reference/rest/v1/projects.locations.repositories#VirtualRepositoryConfig)
and, for each upstream, whether the service agent of the virtual repository's project holds a
role with `artifactregistry.repositories.downloadArtifacts` (reader or broader, or the
`roles/artifactregistry.serviceAgent` role Google binds on the agent's own project,
https://cloud.google.com/artifact-registry/docs/ar-service-account) on the upstream or its
project (`repositories.getIamPolicy`; the project's policy): Artifact Registry reads the
upstreams as that agent (https://cloud.google.com/artifact-registry/docs/repositories/virtual-repo).
Policies above the project (folders, the organization) are not read.

Names `upstream`; a read pullfix may not make is "cannot tell": `permission`, never a grant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pullfix.checks.base import PROJECT_POLICY, Check, Finding, Read, also_lacks_reader
from pullfix.core.causes import Cause
from pullfix.core.classify import Diagnosis
from pullfix.core.judge import Evidence
from pullfix.core.model import AccessDenied, PolicyView

if TYPE_CHECKING:
    from pullfix.engine.evidence import EvidenceCollector

__all__ = ["ACCESSOR_ROLE", "CHECK", "MAX_UPSTREAMS", "READS"]

ACCESSOR_ROLE = "roles/secretmanager.secretAccessor"
# Roles that carry secretmanager.versions.access
# (https://cloud.google.com/secret-manager/docs/access-control).
_ACCESS_ROLES = frozenset({ACCESSOR_ROLE, "roles/secretmanager.admin"})
# Roles that carry artifactregistry.repositories.downloadArtifacts
# (https://cloud.google.com/artifact-registry/docs/access-control#roles), and the service
# agent's own role (https://cloud.google.com/artifact-registry/docs/ar-service-account).
_READ_ROLES = frozenset(
    {
        "roles/artifactregistry.reader",
        "roles/artifactregistry.writer",
        "roles/artifactregistry.repoAdmin",
        "roles/artifactregistry.admin",
        "roles/artifactregistry.serviceAgent",
    }
)
# The upstreams of one virtual repository read at most (each is one or two policy reads).
MAX_UPSTREAMS = 10

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
        "repository_upstreams",
        "repository_exists",
        "artifactregistry.googleapis.com",
        "name,virtualRepositoryConfig/upstreamPolicies(id,repository,priority)",
        ("artifactregistry.repositories.get",),
        30.0,
    ),
    Read(
        "upstream_policy",
        "repository_policy",
        "artifactregistry.googleapis.com",
        "bindings,etag (repositories.getIamPolicy, requestedPolicyVersion 3)",
        ("artifactregistry.repositories.getIamPolicy",),
        0.0,
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
    PROJECT_POLICY,
)


def wants(evidence: Evidence) -> bool:
    return (
        evidence.repository is not None
        and evidence.account is not None
        and evidence.upstream_secret is None
        and evidence.upstream_error is None
    )


def gather(collector: EvidenceCollector, evidence: Evidence) -> None:
    """A remote repository's password version, its state and the service agent's role; a
    virtual repository's upstreams and whether the service agent may read each."""
    repository, project = evidence.repository, evidence.repository_project
    assert repository is not None and project is not None
    apis = collector.apis
    try:
        evidence.upstream_secret = apis.repository_upstream_secret(repository)
        evidence.upstreams = (
            () if evidence.upstream_secret else apis.repository_upstreams(repository)
        )
        if not evidence.upstream_secret and not evidence.upstreams:
            return
        if evidence.upstream_secret:
            evidence.upstream_secret_state = apis.secret_version_state(evidence.upstream_secret)
        number = apis.project_number(project)
        if number is None:
            return
        agent = f"serviceAccount:service-{number}@gcp-sa-artifactregistry.iam.gserviceaccount.com"
        evidence.upstream_agent = agent.removeprefix("serviceAccount:")
        if evidence.upstream_secret:
            parts = evidence.upstream_secret.split("/")
            secret, secret_project = "/".join(parts[:4]), f"projects/{parts[1]}"
            evidence.upstream_agent_can_access = _holds(
                agent,
                _ACCESS_ROLES,
                apis.secret_policy(secret),
                apis.resource_policy(secret_project),
            )
        unreadable = []
        for upstream in evidence.upstreams[:MAX_UPSTREAMS]:
            policy = apis.upstream_policy(upstream)
            if policy is None:
                evidence.notes.append(f"upstream {upstream} of {repository} does not exist")
                continue
            upstream_project = apis.resource_policy(f"projects/{upstream.split('/')[1]}")
            if not _holds(agent, _READ_ROLES, policy, upstream_project):
                unreadable.append(upstream)
        if len(evidence.upstreams) > MAX_UPSTREAMS:
            evidence.notes.append(
                f"{repository} has {len(evidence.upstreams)} upstreams: the first "
                f"{MAX_UPSTREAMS} were checked"
            )
        evidence.upstreams_unreadable = tuple(unreadable)
    except AccessDenied as exc:
        evidence.upstream_error = str(exc)


def _holds(agent: str, roles: frozenset[str], *policies: PolicyView) -> bool:
    """Whether `agent` holds one of `roles`, unconditionally, in one of `policies`."""
    return any(
        agent in binding.members and binding.role in roles and not binding.conditional
        for policy in policies
        for binding in policy.bindings
    )


def judge(offline: Diagnosis, evidence: Evidence) -> Finding | None:
    secret = evidence.upstream_secret
    if evidence.upstream_error is not None:
        return Finding(
            Cause.PERMISSION,
            (
                f"pullfix cannot tell whether {evidence.repository} can reach its upstreams "
                f"({evidence.upstream_error}): no grant on a guess",
            ),
        )
    decisive = [
        f"{evidence.repository} is a virtual repository whose upstream {upstream} Artifact "
        f"Registry's service agent {evidence.upstream_agent} may not read (no role with "
        "downloadArtifacts on it or its project)"
        for upstream in evidence.upstreams_unreadable or ()
    ]
    if not secret:
        return (
            Finding(Cause.UPSTREAM, (*decisive, *also_lacks_reader(evidence))) if decisive else None
        )
    state = evidence.upstream_secret_state
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
    return Finding(Cause.UPSTREAM, (*decisive, *also_lacks_reader(evidence)))


CHECK = Check(
    name="upstream",
    reads=READS,
    causes=frozenset({Cause.UPSTREAM}),
    judge=judge,
    gather=gather,
    wants=wants,
    summary=(
        "a remote repository's upstream password is enabled and readable by Artifact Registry; "
        "a virtual repository's upstreams are readable by it"
    ),
    advice=(
        "enable (or add) the secret version that holds the upstream password, or grant Artifact "
        "Registry's service agent roles/secretmanager.secretAccessor on the secret, or "
        "roles/artifactregistry.reader on each upstream of a virtual repository"
    ),
)
