"""What the Google APIs say about a failure, as typed values, and the ports that fetch it.

Pure values and Protocols only: the Google adapter (`pullfix.google`) implements the ports
with the official clients, in production and against the sandbox alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from pullfix.errors import PullfixError

__all__ = [
    "DOWNLOAD_ROLES",
    "READER_ROLE",
    "STORAGE_READ_SCOPES",
    "AccessDenied",
    "AccountInfo",
    "ClusterInfo",
    "GoogleApis",
    "GrantResult",
    "NodePoolInfo",
    "PolicyView",
    "TransientError",
]

READER_ROLE = "roles/artifactregistry.reader"
# Roles that carry artifactregistry.repositories.downloadArtifacts (predefined and basic).
DOWNLOAD_ROLES = frozenset(
    {
        READER_ROLE,
        "roles/artifactregistry.writer",
        "roles/artifactregistry.repoAdmin",
        "roles/artifactregistry.admin",
        "roles/artifactregistry.serviceAgent",
        "roles/owner",
        "roles/editor",
        "roles/viewer",
    }
)
PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})
_SCOPE = "https://www.googleapis.com/auth/"
STORAGE_READ_SCOPES = frozenset(
    _SCOPE + s
    for s in (
        "devstorage.read_only",
        "devstorage.read_write",
        "devstorage.full_control",
        "cloud-platform",
    )
)


class TransientError(PullfixError):
    """A Google API failed in a way a retry can fix (5xx, 429, timeout): Pub/Sub redelivers."""


class AccessDenied(PullfixError):
    """pullfix itself may not read or write something (its own IAM), or it does not exist."""


@dataclass(frozen=True, slots=True)
class NodePoolInfo:
    name: str
    service_account: str  # "default" or an email, as the GKE API reports it
    oauth_scopes: tuple[str, ...]
    version: str
    instance_groups: tuple[str, ...]  # instance group manager names

    def has_storage_read_scope(self) -> bool:
        return any(scope in STORAGE_READ_SCOPES for scope in self.oauth_scopes)


@dataclass(frozen=True, slots=True)
class ClusterInfo:
    project: str
    location: str
    name: str
    master_version: str
    node_pools: tuple[NodePoolInfo, ...]

    def pools_of_node(self, node: str) -> list[NodePoolInfo]:
        """The pools whose instance groups the node belongs to, by GKE's naming.

        GKE names a node `<group base>-<4 chars>` where the pool's instance group manager
        is `<group base>-grp`.
        """
        base, _, suffix = node.rpartition("-")
        if not base or not suffix:
            return []
        group = f"{base}-grp"
        return [pool for pool in self.node_pools if group in pool.instance_groups]


@dataclass(frozen=True, slots=True)
class AccountInfo:
    email: str
    exists: bool
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class Binding:
    role: str
    members: frozenset[str]
    conditional: bool


@dataclass(frozen=True)
class PolicyView:
    """An IAM policy as read at version 3, with the client's own object kept for writing."""

    bindings: tuple[Binding, ...]
    etag: bytes
    raw: Any = field(default=None, compare=False, repr=False)

    def download_role_of(self, member: str) -> str | None:
        """An unconditional role granting `member` downloadArtifacts (directly, or to
        everyone: a public repository), if any."""
        for binding in self.bindings:
            if binding.conditional or binding.role not in DOWNLOAD_ROLES:
                continue
            if member in binding.members:
                return binding.role
            public = binding.members & PUBLIC_MEMBERS
            if public:
                return f"{binding.role} ({sorted(public)[0]})"
        return None

    def conditional_roles_of(self, member: str) -> list[str]:
        return [b.role for b in self.bindings if b.conditional and member in b.members]


@dataclass(frozen=True, slots=True)
class GrantResult:
    changed: bool
    attempts: int


class GoogleApis(Protocol):
    """Everything pullfix asks Google; None/False for what does not exist."""

    def cluster(self, project: str, location: str, name: str) -> ClusterInfo | None: ...

    def project_number(self, project: str) -> int | None: ...

    def service_account(self, email: str) -> AccountInfo: ...

    def repository_exists(self, repository: str) -> bool: ...

    def tag_exists(self, repository: str, image_path: str, tag: str) -> bool: ...

    def repository_policy(self, repository: str) -> PolicyView: ...

    def project_policy(self, project: str) -> PolicyView: ...

    def add_member(
        self, resource: str, role: str, member: str, first: PolicyView | None = None
    ) -> GrantResult: ...
