"""Image size: a pull that was cancelled, of an image large enough to stall it.

containerd's CRI cancels a pull that makes no progress for `image_pull_progress_timeout` (5
minutes by default; containerd v2.0.0 `internal/cri/server/images/image_pull.go`, "cancel
pulling image %s because of no progress in %v"), and kubelet reports `context canceled`. The
text cannot tell a large image from a slow path to the registry; Artifact Registry's
`imageSizeBytes` for the image the tag names can (`dockerImages.get`:
https://cloud.google.com/artifact-registry/docs/reference/rest/v1/
projects.locations.repositories.dockerImages#DockerImage). The fix is GKE's image streaming
(the pool's `config.gcfsConfig.enabled`, from the cluster verification read:
https://cloud.google.com/kubernetes-engine/docs/how-to/image-streaming) or preloading the image
onto a secondary boot disk, never a grant.

Reads: the same `docker_image` read as `manifest` (asked once per event), only for an event
whose text says the pull was cancelled. A denial leaves the size unknown. Names `large_image`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pullfix.checks.base import Check, Finding
from pullfix.checks.manifest import READS as _IMAGE_READS
from pullfix.checks.manifest import read_docker_image
from pullfix.core.causes import Cause
from pullfix.core.classify import Diagnosis
from pullfix.core.judge import Evidence

if TYPE_CHECKING:
    from pullfix.engine.evidence import EvidenceCollector

__all__ = ["CHECK", "LARGE_IMAGE_BYTES"]

# pullfix's line for "large": an image of 1 GiB or more takes minutes to fetch and unpack on a
# node, long enough for a stall to reach containerd's progress timeout. Below it, a cancelled
# pull points at the path to the registry or the node, not the image.
LARGE_IMAGE_BYTES = 1 << 30


def wants(evidence: Evidence) -> bool:
    return (
        evidence.pull_cancelled
        and not evidence.docker_image_asked
        and evidence.image is not None
        and evidence.image.ar_image_path is not None
        and evidence.repository is not None
        and not evidence.image_missing
    )


def gather(collector: EvidenceCollector, evidence: Evidence) -> None:
    """The image's size, as Artifact Registry describes it."""
    read_docker_image(collector, evidence, "size")


def _gib(size: int) -> str:
    return f"{size / (1 << 30):.1f} GiB"


def judge(offline: Diagnosis, evidence: Evidence) -> Finding | None:
    found = evidence.docker_image
    if not offline.cancelled or found is None or found.size_bytes is None:
        return None
    if found.size_bytes < LARGE_IMAGE_BYTES:
        return None
    pool = evidence.pool
    streaming = (
        f"; node pool {pool.name} has image streaming " + ("on" if pool.image_streaming else "off")
        if pool is not None
        else ""
    )
    return Finding(
        Cause.LARGE_IMAGE,
        (
            f"the pull was cancelled, and the image is {_gib(found.size_bytes)} "
            f"({found.size_bytes} bytes, Artifact Registry imageSizeBytes){streaming}",
        ),
    )


CHECK = Check(
    name="image_size",
    reads=_IMAGE_READS,
    causes=frozenset({Cause.LARGE_IMAGE}),
    judge=judge,
    gather=gather,
    wants=wants,
    summary="a cancelled pull of an image of 1 GiB or more (Artifact Registry imageSizeBytes)",
    advice="image streaming on the node pool, or the image preloaded on a secondary boot disk",
)
