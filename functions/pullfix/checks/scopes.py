"""Scopes: the node pool's OAuth scopes let its nodes read storage.

A node's token carries the pool's scopes, which cannot change on existing nodes; without
devstorage.read_only, read_write, full_control or cloud-platform the registry refuses it
whatever IAM says. Reads nothing of its own: `config.oauthScopes` comes with the cluster that
verification read, and so does its kind (an Autopilot cluster's pools are GKE's, made from its
auto-provisioning defaults: the fix is then the cluster's, never a node pool). Names `scope`.

`cloud-platform.read-only` is not storage read for a pull. Artifact Registry's guides name the
storage `read-only` scope for pulling images from Compute Engine and GKE nodes, and
`read-write`, `cloud-platform` or `full-control` for pushing
(https://cloud.google.com/artifact-registry/docs/integrate-compute,
https://cloud.google.com/artifact-registry/docs/deploy); the Artifact Registry API's discovery
document lists `cloud-platform.read-only` only for its own read methods (`repositories.get`,
`tags.get`), not for the Docker endpoint kubelet pulls from. gcpdiag accepts it; without a
Google document that does, pullfix does not.
"""

from __future__ import annotations

from pullfix.checks.base import Check, Finding
from pullfix.core.causes import Cause
from pullfix.core.classify import Diagnosis
from pullfix.core.judge import Evidence

__all__ = ["CHECK"]


def judge(offline: Diagnosis, evidence: Evidence) -> Finding | None:
    pool = evidence.pool
    assert pool is not None
    if pool.has_storage_read_scope():
        return None
    scopes = ", ".join(s.rsplit("/", 1)[-1] for s in pool.oauth_scopes) or "none"
    lacking = (
        f"node pool {pool.name} OAuth scopes ({scopes}) lack storage read "
        "(devstorage.read_only, read_write, full_control or cloud-platform)"
    )
    cluster = evidence.cluster
    if cluster is not None and cluster.autopilot:
        # Autopilot makes its pools from the cluster's auto-provisioning defaults, set when the
        # cluster was created: no pool of the user's to recreate (GKE v1 Cluster.autopilot).
        defaults = ", ".join(s.rsplit("/", 1)[-1] for s in cluster.autoprovisioning_scopes)
        return Finding(
            Cause.SCOPE,
            (
                lacking,
                f"cluster {cluster.name} is Autopilot (GKE API autopilot.enabled): GKE makes "
                "its node pools from the auto-provisioning defaults"
                + (f" (scopes {defaults})" if defaults else "")
                + ", set when the cluster was created",
            ),
        )
    return Finding(Cause.SCOPE, (lacking,))


CHECK = Check(
    name="scopes",
    reads=(),
    causes=frozenset({Cause.SCOPE}),
    judge=judge,
    summary="the node pool's OAuth scopes include storage read",
    advice=(
        "a new node pool with a storage-read or cloud-platform scope, the workloads "
        "migrated to it (scopes cannot change on existing nodes)"
    ),
)
