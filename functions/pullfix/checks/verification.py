"""Verification: the cluster and node pool the event names, as the GKE and Compute APIs know
them. An event can be written by anyone with `logging.logEntries.create`; nothing it names is
acted on before this check confirms it.

Reads: the cluster (GKE `projects.locations.clusters.get`, its node pools' instance groups,
versions, accounts and scopes), the node's instance (Compute `instances.get`, its
`created-by` metadata) and, for an instance group in another project, that project's number.
Names `unverified`: a ticket, never a grant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pullfix.checks.base import Check, Finding, Read
from pullfix.core.causes import Cause
from pullfix.core.classify import Diagnosis
from pullfix.core.judge import Evidence
from pullfix.core.model import AccessDenied

if TYPE_CHECKING:
    from pullfix.engine.evidence import EvidenceCollector

__all__ = ["CHECK", "READS"]

READS = (
    Read(
        "cluster",
        "cluster",
        "container.googleapis.com",
        "name,location,currentMasterVersion,currentNodeVersion,nodePools(name,version,"
        "instanceGroupUrls,config/serviceAccount,config/oauthScopes,config/imageType,"
        "config/gcfsConfig/enabled),"
        "autopilot/enabled,"
        "autoscaling/autoprovisioningNodePoolDefaults(serviceAccount,oauthScopes)",
        ("container.clusters.get",),
        60.0,
    ),
    Read(
        "node_created_by",
        "node_instance",
        "compute.googleapis.com",
        "name,metadata/items",
        ("compute.instances.get",),
        600.0,
    ),
    Read(
        "project_number",
        "project_number",
        "cloudresourcemanager.googleapis.com",
        "name,parent",
        ("resourcemanager.projects.get",),
        3600.0,
    ),
)


def wants(evidence: Evidence) -> bool:
    return evidence.claims is not None and evidence.pool is None and evidence.unverified is None


def gather(collector: EvidenceCollector, evidence: Evidence) -> None:
    """Confirm the event's cluster and the pool of its node, or say in `evidence.unverified`
    why they are not confirmed."""
    claims = evidence.claims
    assert claims is not None
    apis = collector.apis
    project, location, cluster_name, node = (
        claims.project,
        claims.location,
        claims.cluster,
        claims.node,
    )
    if claims.log_project is not None and project is not None and claims.log_project != project:
        # Cloud Logging writes a GKE entry into its cluster's project: an entry that
        # names another project in its labels did not come from that cluster.
        evidence.unverified = (
            f"the entry was written in project {claims.log_project} (logName) but names "
            f"project {project} (resource.labels.project_id)"
        )
        return
    if not (project and location and cluster_name):
        evidence.unverified = "the event names no complete cluster (project, location, name)"
        return
    resource = f"projects/{project}/locations/{location}/clusters/{cluster_name}"
    try:
        cluster = apis.cluster(project, location, cluster_name)
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
    candidates = cluster.candidate_groups(node)
    if not candidates:
        evidence.unverified = f"node {node} is in no node pool of {cluster.name}"
        return
    # The name only narrows the search: the instance itself must exist and say which
    # instance group created it (Compute's `created-by` metadata).
    number = None
    looked = []
    for pool, group in candidates:
        try:
            created_by = apis.node_created_by(group.project, group.zone, node)
        except AccessDenied as exc:
            evidence.unverified = f"pullfix cannot read node {node}'s instance: {exc}"
            return
        looked.append(f"{group.project}/{group.zone}")
        if created_by is None:
            continue
        if number is None and created_by.split("/")[1:2] != [group.project]:
            number = apis.project_number(group.project)
        if group.created(created_by, number):
            evidence.pool = pool
            return
        evidence.unverified = (
            f"instance {node} was not created by node pool {pool.name}'s instance group "
            f"{group.name} (created-by: {created_by or 'none'})"
        )
        return
    evidence.unverified = (
        f"node {node} is no instance of {cluster.name}'s node pools "
        f"(Compute: not found in {', '.join(dict.fromkeys(looked))})"
    )


def judge(offline: Diagnosis, evidence: Evidence) -> Finding | None:
    if evidence.unverified is not None:
        return Finding(Cause.UNVERIFIED, (evidence.unverified,))
    return None


CHECK = Check(
    name="verification",
    reads=READS,
    causes=frozenset({Cause.UNVERIFIED}),
    judge=judge,
    gather=gather,
    wants=wants,
    summary="the event's cluster, and its node's pool by the instance",
    advice="nothing is granted: check what the event names, and who writes such entries",
)
