"""Existence: the image's tag and its repository exist.

Reads: the tag (Artifact Registry `repositories.packages.tags.get`), and when it is missing
the repository (`repositories.get`, its `mode`: a remote or virtual repository fetches what
it lacks on pull, so a missing tag there proves nothing); for an image by digest, only the
repository. A denial leaves existence unknown (a note, no finding). Names `not_found`.
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

# Repository modes in which a missing tag is fetched from elsewhere on pull, so its absence
# is no evidence that the image does not exist (Artifact Registry: Repository.Mode).
_PROXY_MODES = frozenset({"REMOTE_REPOSITORY", "VIRTUAL_REPOSITORY"})

READS = (
    Read(
        "tag_exists",
        "tag_exists",
        "artifactregistry.googleapis.com",
        "name",
        ("artifactregistry.tags.get",),
        30.0,
    ),
    Read(
        "repository_mode",
        "repository_exists",
        "artifactregistry.googleapis.com",
        "name,mode",
        ("artifactregistry.repositories.get",),
        30.0,
    ),
    Read(
        "repository_exists",
        "repository_exists",
        "artifactregistry.googleapis.com",
        "name",
        ("artifactregistry.repositories.get",),
        30.0,
    ),
)


def wants(evidence: Evidence) -> bool:
    return (
        evidence.image is not None
        and evidence.repository is not None
        and evidence.tag_exists is None
        and evidence.repository_exists is None
    )


def gather(collector: EvidenceCollector, evidence: Evidence) -> None:
    """Do the image's tag and repository exist?"""
    repository, image = evidence.repository, evidence.image
    assert repository is not None and image is not None
    apis = collector.apis
    try:
        tag = image.tag_or_latest
        if tag is not None and image.ar_image_path:
            evidence.tag_exists = apis.tag_exists(repository, image.ar_image_path, tag)
            if evidence.tag_exists is False:
                mode = apis.repository_mode(repository)
                evidence.repository_exists = mode is not None
                if mode in _PROXY_MODES:
                    # A remote or virtual repository fetches what it lacks on pull.
                    evidence.tag_exists = None
                    evidence.notes.append(
                        f"{repository} is a {mode.split('_')[0].lower()} repository: a tag "
                        "it does not hold yet is fetched upstream on pull, so its absence "
                        "proves nothing"
                    )
        else:
            evidence.repository_exists = apis.repository_exists(repository)
    except AccessDenied as exc:
        evidence.notes.append(f"could not check that the image exists: {exc}")


def judge(offline: Diagnosis, evidence: Evidence) -> Finding | None:
    if evidence.repository_exists is False:
        return Finding(Cause.NOT_FOUND, (f"repository {evidence.repository} does not exist",))
    if evidence.tag_exists is False and evidence.image is not None:
        return Finding(
            Cause.NOT_FOUND,
            (f"tag {evidence.image.tag_or_latest} of {evidence.image.name} does not exist",),
        )
    if offline.cause is Cause.NOT_FOUND:
        # The registry's own words, and nothing here contradicts them.
        return Finding(Cause.NOT_FOUND, tuple(evidence.notes))
    return None


CHECK = Check(
    name="existence",
    reads=READS,
    causes=frozenset({Cause.NOT_FOUND}),
    judge=judge,
    gather=gather,
    wants=wants,
    summary="the image's tag and its repository exist",
    advice="push the image, or fix the tag or repository the workload names",
)
