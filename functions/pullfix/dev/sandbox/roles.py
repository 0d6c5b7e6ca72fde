"""Predefined IAM roles, as far as pullfix asks about them: whether each carries
`artifactregistry.repositories.downloadArtifacts`.

Source: Google's role reference, https://cloud.google.com/iam/docs/roles-permissions/artifactregistry
(the permission's "Included in roles" list) and the pages of the roles outside Artifact
Registry it names (https://cloud.google.com/iam/docs/roles-permissions/cloudbuild,
.../composer). The sandbox models only this permission and the read permissions beside it;
any other predefined role includes none of them. Custom roles come from the world file.
"""

from __future__ import annotations

__all__ = ["DOWNLOAD", "predefined_permissions"]

DOWNLOAD = "artifactregistry.repositories.downloadArtifacts"
_READ = (
    DOWNLOAD,
    "artifactregistry.repositories.get",
    "artifactregistry.repositories.list",
    "artifactregistry.tags.get",
    "artifactregistry.tags.list",
)
_WRITE = (*_READ, "artifactregistry.repositories.uploadArtifacts", "artifactregistry.tags.create")
_CARRIERS: dict[str, tuple[str, ...]] = {
    "roles/artifactregistry.reader": _READ,
    "roles/artifactregistry.writer": _WRITE,
    "roles/artifactregistry.repoAdmin": (*_WRITE, "artifactregistry.repositories.deleteArtifacts"),
    "roles/artifactregistry.admin": (
        *_WRITE,
        "artifactregistry.repositories.deleteArtifacts",
        "artifactregistry.repositories.getIamPolicy",
        "artifactregistry.repositories.setIamPolicy",
    ),
    "roles/artifactregistry.createOnPushWriter": (
        *_WRITE,
        "artifactregistry.repositories.createOnPush",
    ),
    "roles/artifactregistry.createOnPushRepoAdmin": (
        *_WRITE,
        "artifactregistry.repositories.createOnPush",
        "artifactregistry.repositories.deleteArtifacts",
    ),
    "roles/artifactregistry.serviceAgent": (DOWNLOAD, "pubsub.topics.publish"),
    "roles/cloudbuild.builds.builder": (*_WRITE, "cloudbuild.builds.get"),
    "roles/composer.worker": (*_READ, "composer.environments.get"),
    "roles/owner": (*_WRITE, "resourcemanager.projects.setIamPolicy"),
    "roles/editor": _WRITE,
    "roles/viewer": _READ,
}
# Predefined roles that share names with download carriers but do not carry it.
_OTHERS: dict[str, tuple[str, ...]] = {
    "roles/artifactregistry.attachmentReader": ("artifactregistry.attachments.get",),
    "roles/storage.objectViewer": ("storage.objects.get", "storage.objects.list"),
    "roles/container.defaultNodeServiceAccount": ("logging.logEntries.create",),
}


def predefined_permissions(role: str) -> tuple[str, ...]:
    """The modelled permissions of a predefined role (`roles/…`)."""
    return _CARRIERS.get(role) or _OTHERS.get(role) or ()
