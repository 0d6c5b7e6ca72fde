"""Gathering evidence from the Google APIs, step by step, into an `Evidence`.

Shared by `remediate` (for an event) and `pullfix diagnose` (for a node pool and an image):
the same calls, in the same order, with the same answers to what pullfix may not read.
"""

from __future__ import annotations

from pullfix.core.causes import GRANT_FIXABLE, Cause
from pullfix.core.classify import Diagnosis
from pullfix.core.imageref import ImageRef
from pullfix.core.judge import Evidence, judge
from pullfix.core.model import AccessDenied, GoogleApis

__all__ = ["EvidenceCollector", "grant_may_fix"]


def grant_may_fix(evidence: Evidence) -> bool:
    """Whether the identity checks leave a reader grant as a possible fix."""
    if evidence.unverified is not None or evidence.account is None:
        return False
    probe = judge(Diagnosis(Cause.PERMISSION, ()), evidence)
    return probe.cause in GRANT_FIXABLE


class EvidenceCollector:
    """Asks the Google APIs what `judge` needs to know."""

    def __init__(self, apis: GoogleApis) -> None:
        self.apis = apis

    def verify(
        self,
        project: str | None,
        location: str | None,
        cluster_name: str | None,
        node: str | None,
        evidence: Evidence,
    ) -> None:
        """The event's cluster and node pool, as the GKE API knows them."""
        if not (project and location and cluster_name):
            evidence.unverified = "the event names no complete cluster (project, location, name)"
            return
        resource = f"projects/{project}/locations/{location}/clusters/{cluster_name}"
        try:
            cluster = self.apis.cluster(project, location, cluster_name)
        except AccessDenied as exc:
            evidence.unverified = f"pullfix cannot read the cluster: {exc}"
            return
        if cluster is None:
            evidence.unverified = f"cluster {resource} does not exist (GKE API: 404)"
            return
        evidence.cluster = cluster
        if not node:
            evidence.unverified = "the event names no node"
            return
        pools = cluster.pools_of_node(node)
        if len(pools) != 1:
            names = ", ".join(p.name for p in pools)
            evidence.unverified = (
                f"node {node} is in no node pool of {cluster.name}"
                if not pools
                else f"node {node} matches several node pools ({names})"
            )
            return
        evidence.pool = pools[0]

    def identity(self, evidence: Evidence) -> None:
        """The node pool's service account, resolved and looked up."""
        assert evidence.pool is not None and evidence.cluster is not None
        email = evidence.pool.service_account
        if email == "default":
            number = self.apis.project_number(evidence.cluster.project)
            if number is None:
                evidence.unverified = (
                    f"project {evidence.cluster.project} has no number (not found)"
                )
                return
            email = f"{number}-compute@developer.gserviceaccount.com"
        evidence.account_email = email
        try:
            evidence.account = self.apis.service_account(email)
        except AccessDenied as exc:
            evidence.unverified = f"pullfix cannot confirm the node service account: {exc}"

    def existence(self, evidence: Evidence, image: ImageRef) -> None:
        """Do the image's tag and repository exist?"""
        repository = evidence.repository
        assert repository is not None
        try:
            tag = image.tag_or_latest
            if tag is not None and image.ar_image_path:
                evidence.tag_exists = self.apis.tag_exists(repository, image.ar_image_path, tag)
                if evidence.tag_exists is False:
                    evidence.repository_exists = self.apis.repository_exists(repository)
            else:
                evidence.repository_exists = self.apis.repository_exists(repository)
        except AccessDenied as exc:
            evidence.notes.append(f"could not check that the image exists: {exc}")

    def access(self, evidence: Evidence) -> None:
        """Who can read the repository: does the node account already hold a role?"""
        repository = evidence.repository
        assert repository is not None and evidence.account_email is not None
        member = f"serviceAccount:{evidence.account_email}"
        try:
            policy = self.apis.repository_policy(repository)
        except AccessDenied as exc:
            evidence.policy_error = str(exc)
            return
        evidence.repository_policy = policy
        role = policy.download_role_of(member)
        if role is not None:
            evidence.access = f"{role} on {repository}"
            return
        evidence.conditional_access = policy.conditional_roles_of(member)
        project = evidence.repository_project
        assert project is not None
        try:
            project_role = self.apis.project_policy(project).download_role_of(member)
        except AccessDenied as exc:
            evidence.notes.append(f"could not read project {project}'s IAM policy: {exc}")
            return
        if project_role is not None:
            evidence.access = f"{project_role} on project {project}"
