"""Manifest: the node's runtime accepts the image's manifest format.

GKE 1.33 and later Linux nodes run containerd 2.0, which removed support for Docker Image
Manifest V2, Schema 1 images (https://cloud.google.com/kubernetes-engine/docs/deprecations/
migrate-containerd-2: "Nodes that run GKE 1.33 use containerd 2.0"); Artifact Registry still
stores and serves them (https://cloud.google.com/artifact-registry/docs/supported-formats).
containerd refuses such a pull with "schema 1 image manifests are no longer supported"
(containerd `core/transfer/local/pull.go`, v2.0.0 and later) or "media type
\\"application/vnd.docker.distribution.manifest.v1+prettyjws\\" is no longer supported since
containerd v2.x" (`client/pull.go`, `core/remotes/docker/resolver.go`, v2.1.0 and later). No
grant fixes it: the image must be pushed again as schema 2 or OCI.

Reads: the tag's version (Artifact Registry `tags.get`) and the image by digest
(`dockerImages.get`: `mediaType`, `imageSizeBytes`), for a node pool that runs containerd 2:
the pool's `version` and `config.imageType` come with the cluster verification read. A denial
leaves the format unknown: the runtime's own words, where the event has them, decide then.
Names `image_format`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pullfix.checks.base import Check, Finding, Read
from pullfix.core.causes import Cause
from pullfix.core.classify import Diagnosis
from pullfix.core.gkeversion import GKEVersion, InvalidVersion
from pullfix.core.judge import Evidence
from pullfix.core.model import AccessDenied, NodePoolInfo

if TYPE_CHECKING:
    from pullfix.engine.evidence import EvidenceCollector

__all__ = ["CHECK", "CONTAINERD_2", "READS", "SCHEMA_1_TYPES", "runs_containerd_2"]

# The Docker schema 1 media types (containerd `core/images/mediatypes.go`
# MediaTypeDockerSchema1Manifest; the unsigned form of the Docker registry's manifest v2,
# schema 1 specification).
SCHEMA_1_TYPES = frozenset(
    {
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "application/vnd.docker.distribution.manifest.v1+json",
    }
)
# The first GKE minor whose Linux nodes run containerd 2.0.
CONTAINERD_2 = GKEVersion(1, 33, 0)

READS = (
    Read(
        "docker_image",
        "docker_image_tag",
        "artifactregistry.googleapis.com",
        "name,version (tags.get)",
        ("artifactregistry.tags.get",),
        30.0,
    ),
    Read(
        "docker_image",
        "docker_image",
        "artifactregistry.googleapis.com",
        "name,mediaType,imageSizeBytes (dockerImages.get)",
        # Google's permission reference spells the resource "dockerimages"
        # (https://cloud.google.com/iam/docs/roles-permissions/artifactregistry).
        ("artifactregistry.dockerimages.get",),
        30.0,
    ),
)


def runs_containerd_2(pool: NodePoolInfo) -> bool | None:
    """Whether the pool's nodes run containerd 2 (Linux, GKE 1.33 or later); None when the
    API's answer does not tell (a Windows Server pool, a version that does not parse)."""
    if pool.windows:
        return None
    try:
        return GKEVersion.parse(pool.version) >= CONTAINERD_2
    except InvalidVersion:
        return None


def wants(evidence: Evidence) -> bool:
    return (
        not evidence.docker_image_asked
        and evidence.image is not None
        and evidence.image.ar_image_path is not None
        and evidence.repository is not None
        and evidence.pool is not None
        and runs_containerd_2(evidence.pool) is True
        and not evidence.image_missing
    )


def read_docker_image(collector: EvidenceCollector, evidence: Evidence, what: str) -> bool:
    """Ask Artifact Registry, once per event, for the image the tag (or digest) names: this
    check and `image_size` judge the same answer. False where there is nothing to ask or
    pullfix may not read it (noted: `what` of the image it could not read)."""
    image, repository = evidence.image, evidence.repository
    assert image is not None and repository is not None and image.ar_image_path is not None
    evidence.docker_image_asked = True
    reference = image.digest or image.tag_or_latest
    if reference is None:
        return False
    try:
        evidence.docker_image = collector.apis.docker_image(
            repository, image.ar_image_path, reference
        )
    except AccessDenied as exc:
        evidence.notes.append(f"could not read the image's {what}: {exc}")
        return False
    return True


def gather(collector: EvidenceCollector, evidence: Evidence) -> None:
    """The image's manifest media type, as Artifact Registry describes it."""
    if not read_docker_image(collector, evidence, "manifest type"):
        return
    image = evidence.image
    assert image is not None
    found = evidence.docker_image
    if found is not None and found.media_type and found.media_type not in SCHEMA_1_TYPES:
        evidence.notes.append(
            f"Artifact Registry: {image.name} is {found.media_type}, not Docker schema 1"
        )


def judge(offline: Diagnosis, evidence: Evidence) -> Finding | None:
    pool, found = evidence.pool, evidence.docker_image
    assert pool is not None
    containerd_2 = runs_containerd_2(pool)
    if found is not None and found.media_type in SCHEMA_1_TYPES and containerd_2:
        return Finding(
            Cause.IMAGE_FORMAT,
            (
                f"{found.name.rsplit('/', 1)[-1]} is a Docker schema 1 image "
                f"({found.media_type}, Artifact Registry), and node pool {pool.name} "
                f"(version {pool.version}, {pool.image_type or 'Linux'}) runs containerd 2, "
                "which no longer pulls schema 1",
            ),
        )
    if offline.cause is Cause.IMAGE_FORMAT and found is None and containerd_2 is not False:
        # The runtime said so, and the registry could not be asked or does not say
        # otherwise: its words stand.
        return Finding(Cause.IMAGE_FORMAT, (*offline.reasons, *evidence.notes))
    return None


CHECK = Check(
    name="manifest",
    reads=READS,
    causes=frozenset({Cause.IMAGE_FORMAT}),
    judge=judge,
    gather=gather,
    wants=wants,
    summary="the node's runtime accepts the image's manifest format (containerd 2: no schema 1)",
    advice="push the image again as Docker schema 2 or OCI (docker buildx), never a grant",
)
