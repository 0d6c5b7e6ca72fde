"""Remote repositories and VPC Service Controls: a remote repository inside a service perimeter
reaches an upstream outside it only where Artifact Registry's VPC Service Controls setting for
its project and location allows it.

Remote repositories in a service perimeter do not fetch from upstreams outside it unless the
setting allows it (https://cloud.google.com/artifact-registry/docs/repositories/remote-repo#vpc);
`gcloud artifacts vpcsc-config allow --project=P --location=L` "allow[s] Artifact Registry
remote repositories inside a service perimeter to retrieve data from their upstream sources
outside of the perimeter"
(https://cloud.google.com/sdk/gcloud/reference/artifacts/vpcsc-config/allow). Reads: the
repository's upstream (Artifact Registry `repositories.get`, the read the existence check
shares: `remoteRepositoryConfig.dockerRepository.publicRepository`, `.customRepository.uri`,
`.commonRepository.uri`,
https://cloud.google.com/artifact-registry/docs/reference/rest/v1/projects.locations.repositories#RemoteRepositoryConfig)
and, for an upstream outside Google (Docker Hub, or a URL whose host is not Artifact Registry's
or Container Registry's), the setting (`projects.locations.getVpcscConfig`, `vpcscPolicy`: DENY,
ALLOW; unset is DENY, "the default behavior",
https://cloud.google.com/artifact-registry/docs/reference/rest/v1/projects.locations/getVpcscConfig,
https://cloud.google.com/artifact-registry/docs/reference/rest/v1/VPCSCConfig).

The setting alone does not say the project is in a perimeter: DENY is every project's default.
The evidence pullfix takes is the one the `vpc_sc` check finds: a denial (not a dry run) in the
repository project's Policy Denied audit log, whose `securityPolicyInfo.servicePerimeterName`
names the perimeter the project is in
(https://cloud.google.com/vpc-service-controls/docs/audit-logging). Access Context Manager's
perimeters would say it too, but reading them takes an organization-wide grant pullfix does not
ask for. With a denial and DENY, the cause is `vpc_sc` with the setting's fix first (the
denial's ingress or egress rule beside it); with a denial and a setting pullfix may not read,
`vpc_sc` says it cannot tell whether the setting blocks the upstream. Without a denial, a DENY
setting is a note, never a cause: pullfix cannot tell the project is in a perimeter. No grant
fixes any of it. This check gathers before `vpc_sc` and judges before it (it judges what
`vpc_sc` gathered).
"""

from __future__ import annotations

import re
import urllib.parse
from typing import TYPE_CHECKING

from pullfix.checks import vpc_sc
from pullfix.checks.base import Check, Finding, Read
from pullfix.core.causes import Cause
from pullfix.core.classify import Diagnosis
from pullfix.core.judge import Evidence
from pullfix.core.model import AccessDenied

if TYPE_CHECKING:
    from pullfix.engine.evidence import EvidenceCollector

__all__ = ["CHECK", "READS", "outside_google"]

READS = (
    Read(
        "repository_remote_upstream",
        "repository_exists",
        "artifactregistry.googleapis.com",
        "name,remoteRepositoryConfig/dockerRepository(publicRepository,customRepository/uri),"
        "remoteRepositoryConfig/commonRepository/uri",
        ("artifactregistry.repositories.get",),
        30.0,
    ),
    Read(
        "vpcsc_policy",
        "vpcsc_policy",
        "artifactregistry.googleapis.com",
        "name,vpcscPolicy (projects.locations.getVpcscConfig)",
        ("artifactregistry.vpcscconfigs.get",),
        30.0,
    ),
)

# Hosts of Google's registries: an upstream there is a Google service, not "outside".
_GOOGLE_HOST_RE = re.compile(r"(?:[a-z0-9-]+\.)*(?:pkg\.dev|gcr\.io)")


def outside_google(upstream: str) -> bool:
    """Whether a remote repository's upstream is outside Google: a public repository (Docker
    Hub), or a URI whose host is not Artifact Registry's or Container Registry's; an Artifact
    Registry repository by name (`projects/…`) is inside."""
    if not upstream or upstream.startswith("projects/"):
        return False
    if "://" not in upstream:
        return True  # a public repository by name: DOCKER_HUB
    try:  # the host after any user name and password (`user:pass@host:port`)
        host = urllib.parse.urlsplit(upstream).hostname or ""
    except ValueError:
        return True  # not a URL pullfix can read: nothing says it is Google's
    return not _GOOGLE_HOST_RE.fullmatch(host)


def wants(evidence: Evidence) -> bool:
    return (
        evidence.repository is not None
        and evidence.account is not None
        and evidence.remote_upstream is None
        and evidence.remote_vpcsc_error is None
    )


def gather(collector: EvidenceCollector, evidence: Evidence) -> None:
    """The repository's upstream and, for one outside Google, the setting of its project and
    location; a DENY setting is noted (the project's perimeter is `vpc_sc`'s to show)."""
    repository, project = evidence.repository, evidence.repository_project
    assert repository is not None and project is not None
    location = repository.split("/")[3]
    try:
        evidence.remote_upstream = collector.apis.repository_remote_upstream(repository)
        if not outside_google(evidence.remote_upstream):
            return
        evidence.remote_vpcsc_policy = collector.apis.vpcsc_policy(project, location)
    except AccessDenied as exc:
        evidence.remote_vpcsc_error = str(exc)
        return
    if evidence.remote_vpcsc_policy == "DENY":
        evidence.notes.append(
            f"Artifact Registry's VPC Service Controls setting for remote repositories in "
            f"{project} ({location}) is DENY: inside a service perimeter, {repository} cannot "
            f"fetch from its upstream {evidence.remote_upstream} outside it"
        )


def judge(offline: Diagnosis, evidence: Evidence) -> Finding | None:
    denial = evidence.vpc_sc_denial
    if denial is None or denial.dry_run or not outside_google(evidence.remote_upstream or ""):
        return None
    perimeter = vpc_sc.judge(offline, evidence)
    beside = perimeter.decisive if perimeter is not None else ()
    repository, project = evidence.repository, evidence.repository_project
    if evidence.remote_vpcsc_error is not None:
        return Finding(
            Cause.VPC_SC,
            (
                *beside,
                f"pullfix cannot tell whether Artifact Registry's VPC Service Controls setting "
                f"lets remote repository {repository} fetch from its upstream "
                f"{evidence.remote_upstream} outside perimeter {denial.perimeter or '(unnamed)'} "
                f"({evidence.remote_vpcsc_error}): no grant",
            ),
        )
    if evidence.remote_vpcsc_policy != "DENY":
        return None
    assert repository is not None
    location = repository.split("/")[3]
    return Finding(
        Cause.VPC_SC,
        (
            f"{repository} is a remote repository in VPC Service Controls perimeter "
            f"{denial.perimeter or '(unnamed)'} (policy audit log of project {project}) whose "
            f"upstream {evidence.remote_upstream} is outside it, and Artifact Registry's VPC "
            f"Service Controls setting for remote repositories in {project} ({location}) is "
            "DENY: it cannot fetch what it does not cache",
            *beside,
        ),
    )


CHECK = Check(
    name="remote_vpcsc",
    reads=READS,
    causes=frozenset({Cause.VPC_SC}),
    judge=judge,
    gather=gather,
    wants=wants,
    summary=(
        "a remote repository in a service perimeter may reach its upstream outside Google "
        "(Artifact Registry's VPC Service Controls setting)"
    ),
    advice=(
        "gcloud artifacts vpcsc-config allow for the repository's project and location (no "
        "grant can fix a perimeter)"
    ),
)
