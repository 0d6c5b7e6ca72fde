"""CMEK: the repository's customer-managed key can be used to serve the pull.

Reads: the repository's `kmsKeyName` (Artifact Registry `repositories.get`,
https://cloud.google.com/artifact-registry/docs/reference/rest/v1/projects.locations.repositories#Repository);
for a repository that has one, the key's primary version's state (Cloud KMS `cryptoKeys.get`,
`primary.state`: ENABLED, DISABLED, DESTROYED, DESTROY_SCHEDULED, …,
https://cloud.google.com/kms/docs/reference/rest/v1/projects.locations.keyRings.cryptoKeys.cryptoKeyVersions#CryptoKeyVersionState)
and whether Artifact Registry's service agent
(`service-PROJECT_NUMBER@gcp-sa-artifactregistry.iam.gserviceaccount.com`, of the repository's
project) holds `roles/cloudkms.cryptoKeyEncrypterDecrypter` on the key or the key's project
(`cryptoKeys.getIamPolicy`; the project's policy, Resource Manager), as
https://cloud.google.com/artifact-registry/docs/cmek requires. Neither is fixed by a reader
grant. Names `cmek`; a read pullfix may not make is "cannot tell": `permission`, never a grant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pullfix.checks.base import PROJECT_POLICY, Check, Finding, Read, also_lacks_reader
from pullfix.core.causes import Cause
from pullfix.core.classify import Diagnosis
from pullfix.core.judge import Evidence
from pullfix.core.model import AccessDenied

if TYPE_CHECKING:
    from pullfix.engine.evidence import EvidenceCollector

__all__ = ["CHECK", "KMS_ROLE", "READS"]

KMS_ROLE = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
# Roles that carry cloudkms.cryptoKeyVersions.useToEncrypt and useToDecrypt
# (https://cloud.google.com/kms/docs/reference/permissions-and-roles).
_KMS_ROLES = frozenset({KMS_ROLE, "roles/cloudkms.cryptoOperator"})

READS = (
    Read(
        "repository_kms_key",
        "repository_kms_key",
        "artifactregistry.googleapis.com",
        "name,kmsKeyName",
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
        "crypto_key_state",
        "crypto_key_state",
        "cloudkms.googleapis.com",
        "name,primary(name,state) (cryptoKeys.get)",
        ("cloudkms.cryptoKeys.get",),
        30.0,
    ),
    Read(
        "crypto_key_policy",
        "crypto_key_policy",
        "cloudkms.googleapis.com",
        "bindings,etag (cryptoKeys.getIamPolicy, requestedPolicyVersion 3)",
        ("cloudkms.cryptoKeys.getIamPolicy",),
        30.0,
    ),
    PROJECT_POLICY,
)


def wants(evidence: Evidence) -> bool:
    return (
        evidence.repository is not None
        and evidence.account is not None
        and evidence.kms_key is None
        and evidence.kms_error is None
    )


def gather(collector: EvidenceCollector, evidence: Evidence) -> None:
    """The repository's key, its primary version's state and the service agent's role."""
    repository, project = evidence.repository, evidence.repository_project
    assert repository is not None and project is not None
    apis = collector.apis
    try:
        evidence.kms_key = apis.repository_kms_key(repository)
        if not evidence.kms_key:
            return
        evidence.kms_key_state = apis.crypto_key_state(evidence.kms_key)
        number = apis.project_number(project)
        if number is None:
            return
        agent = f"serviceAccount:service-{number}@gcp-sa-artifactregistry.iam.gserviceaccount.com"
        evidence.kms_agent = agent.removeprefix("serviceAccount:")
        key_project = f"projects/{evidence.kms_key.split('/')[1]}"
        evidence.kms_agent_holds_role = any(
            agent in binding.members and binding.role in _KMS_ROLES and not binding.conditional
            for policy in (
                apis.crypto_key_policy(evidence.kms_key),
                apis.resource_policy(key_project),
            )
            for binding in policy.bindings
        )
    except AccessDenied as exc:
        evidence.kms_error = str(exc)


def judge(offline: Diagnosis, evidence: Evidence) -> Finding | None:
    key = evidence.kms_key
    if evidence.kms_error is not None:
        return Finding(
            Cause.PERMISSION,
            (
                f"pullfix cannot tell whether the customer-managed key of {evidence.repository} "
                f"can serve the pull ({evidence.kms_error}): no grant on a guess",
            ),
        )
    if not key:
        return None
    if evidence.kms_key_state is not None and evidence.kms_key_state != "ENABLED":
        state = evidence.kms_key_state or "no primary version"
        return Finding(
            Cause.CMEK,
            (
                f"{evidence.repository} is encrypted with {key}, whose primary version is "
                f"{state} (Cloud KMS): Artifact Registry cannot decrypt what it serves",
                *also_lacks_reader(evidence),
            ),
        )
    if evidence.kms_agent_holds_role is False:
        return Finding(
            Cause.CMEK,
            (
                f"Artifact Registry's service agent {evidence.kms_agent} holds no {KMS_ROLE} on "
                f"{key} or its project: it cannot decrypt {evidence.repository}",
                *also_lacks_reader(evidence),
            ),
        )
    return None


CHECK = Check(
    name="cmek",
    reads=READS,
    causes=frozenset({Cause.CMEK}),
    judge=judge,
    gather=gather,
    wants=wants,
    summary="the repository's customer-managed key is enabled and usable by Artifact Registry",
    advice=(
        "enable (or restore) the key's primary version, or grant Artifact Registry's service "
        "agent roles/cloudkms.cryptoKeyEncrypterDecrypter on the key"
    ),
)
