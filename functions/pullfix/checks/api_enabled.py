"""API enabled: the Artifact Registry API is enabled in the repository's project.

Reads: Service Usage v1 `services.get` on
`projects/PROJECT/services/artifactregistry.googleapis.com`, its `state` (`ENABLED`;
`DISABLED`: "The service cannot be used by this consumer. It has either been explicitly
disabled, or has never been enabled." —
https://cloud.google.com/service-usage/docs/reference/rest/v1/services/get and
https://cloud.google.com/service-usage/docs/reference/rest/v1/services#State). gcr.io images are
served by Artifact Registry `gcr.io` repositories in the image's project
(`pullfix.core.imageref`), so the same API decides them.

A pull from a project whose Artifact Registry API is disabled is refused with `403 Forbidden`
(containerd prints no more) or Docker's `denied: Artifact Registry API has not been used in
project N before or it is disabled`: no reader grant fixes it. Names `api_disabled`; where
pullfix may not read the state, it cannot tell, and fails closed (`permission`: a ticket,
never a grant on a guess).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pullfix.checks.base import Check, Finding, Read, also_lacks_reader
from pullfix.core.causes import Cause
from pullfix.core.classify import Diagnosis
from pullfix.core.judge import Evidence
from pullfix.core.model import AccessDenied

if TYPE_CHECKING:
    from pullfix.engine.evidence import EvidenceCollector

__all__ = ["AR_SERVICE", "CHECK", "READS"]

AR_SERVICE = "artifactregistry.googleapis.com"

READS = (
    Read(
        "service_state",
        "service_state",
        "serviceusage.googleapis.com",
        "name,state (services.get)",
        ("serviceusage.services.get",),
        60.0,
    ),
)


def wants(evidence: Evidence) -> bool:
    return (
        evidence.repository is not None
        and evidence.account is not None
        and evidence.ar_api_state is None
        and evidence.ar_api_error is None
    )


def gather(collector: EvidenceCollector, evidence: Evidence) -> None:
    """The Artifact Registry API's state in the repository's project."""
    project = evidence.repository_project
    assert project is not None
    try:
        evidence.ar_api_state = collector.apis.service_state(project, AR_SERVICE)
    except AccessDenied as exc:
        evidence.ar_api_error = str(exc)


def judge(offline: Diagnosis, evidence: Evidence) -> Finding | None:
    project = evidence.repository_project
    if evidence.ar_api_state == "DISABLED":
        return Finding(
            Cause.API_DISABLED,
            (
                f"the Artifact Registry API ({AR_SERVICE}) is disabled in project {project} "
                "(Service Usage: state DISABLED): every pull from it is refused, whatever IAM says",
                *also_lacks_reader(
                    evidence, "once the API is enabled, grant roles/artifactregistry.reader"
                ),
            ),
        )
    if evidence.ar_api_error is not None or (
        evidence.ar_api_state is not None and evidence.ar_api_state != "ENABLED"
    ):
        why = evidence.ar_api_error or f"Service Usage answered state {evidence.ar_api_state!r}"
        return Finding(
            Cause.PERMISSION,
            (
                f"pullfix cannot tell whether the Artifact Registry API is enabled in project "
                f"{project} ({why}): no grant on a guess",
            ),
        )
    return None


CHECK = Check(
    name="api_enabled",
    reads=READS,
    causes=frozenset({Cause.API_DISABLED}),
    judge=judge,
    gather=gather,
    wants=wants,
    summary="the Artifact Registry API is enabled in the repository's project",
    advice="enable artifactregistry.googleapis.com in the repository's project",
)
