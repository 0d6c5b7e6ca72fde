"""The sandbox's world: the state of the Google resources it serves, loaded from YAML.

The world file schema is a public contract (docs/world.md). Loading validates
every field and names the one that is wrong; `World.to_dict()` writes the same schema back.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pullfix.core.gkeversion import GKEVersion, InvalidVersion
from pullfix.core.schema import mapping
from pullfix.errors import PullfixError
from pullfix.settings import load_yaml

__all__ = [
    "Binding",
    "ChatSpace",
    "Cluster",
    "CryptoKey",
    "DenyRule",
    "Folder",
    "NodePool",
    "Organization",
    "Policy",
    "Project",
    "Repository",
    "Secret",
    "ServiceAccount",
    "Topic",
    "World",
    "WorldError",
    "default_compute_account",
    "load_world",
    "world_from_dict",
]

_PROJECT_ID_RE = re.compile(r"(?:[a-z0-9][a-z0-9.-]{0,62}:)?[a-z][a-z0-9-]{4,28}[a-z0-9]")
_NAME_RE = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")
_LOCATION_RE = re.compile(r"[a-z]+(?:-[a-z]+[0-9]+)?(?:-[a-z])?")
_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_ROLE_RE = re.compile(r"(?:roles/|projects/[^/]+/roles/|organizations/[0-9]+/roles/)[A-Za-z0-9_.]+")
_MEMBER_RE = re.compile(
    r"(?:allUsers|allAuthenticatedUsers"
    r"|(?:user|serviceAccount|group|domain|deleted:user|deleted:serviceAccount|deleted:group)"
    r":[^\s]+"
    r"|(?:projectOwner|projectEditor|projectViewer):[a-z][a-z0-9-]+"
    r"|principal(?:Set)?://[^\s]+)"
)
_TAG_RE = re.compile(
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r":[\w][\w.-]{0,127}",
    re.ASCII,
)
_SCOPE_PREFIX = "https://www.googleapis.com/auth/"
_IMAGE_TYPE_RE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
_MEDIA_TYPE_RE = re.compile(r"[a-z0-9][a-z0-9.+-]{0,126}/[a-z0-9][a-z0-9.+-]{0,126}")
_ALIASES = {
    "cloud-platform": "cloud-platform",
    "storage-ro": "devstorage.read_only",
    "storage-rw": "devstorage.read_write",
    "storage-full": "devstorage.full_control",
}


class WorldError(PullfixError, ValueError):
    """A world file that does not follow the schema; the message names the field."""


def default_compute_account(project_number: int) -> str:
    """The Compute Engine default service account of a project."""
    return f"{project_number}-compute@developer.gserviceaccount.com"


@dataclass
class Binding:
    """One IAM binding: a role, its members and an optional condition."""

    role: str
    members: list[str]
    condition: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "members": list(self.members)}
        if self.condition is not None:
            out["condition"] = dict(self.condition)
        return out


@dataclass
class Policy:
    """An IAM policy with a revision that every change bumps (its etag)."""

    bindings: list[Binding] = field(default_factory=list)
    revision: int = 1

    @property
    def etag(self) -> str:
        return base64.b64encode(f"pullfix-sandbox-{self.revision}".encode()).decode()

    @property
    def has_conditions(self) -> bool:
        return any(b.condition is not None for b in self.bindings)

    def members_of(self, role: str) -> set[str]:
        return {
            m for b in self.bindings if b.role == role and b.condition is None for m in b.members
        }


@dataclass
class ServiceAccount:
    """A service account; `disabled` ones exist but cannot authenticate."""

    email: str
    disabled: bool = False
    unique_id: str = ""


@dataclass
class NodePool:
    """A GKE node pool with its identity, scopes and nodes."""

    name: str
    version: str
    service_account: str
    oauth_scopes: list[str]
    nodes: list[str]
    private_nodes: bool | None = None  # None: the cluster's
    image_type: str = "COS_CONTAINERD"  # GKE NodeConfig.imageType: the nodes' OS and runtime
    image_streaming: bool = False  # GKE NodeConfig.gcfsConfig.enabled


@dataclass
class Cluster:
    """A GKE cluster."""

    name: str
    location: str
    version: str
    node_pools: dict[str, NodePool]
    private_nodes: bool = False
    network: str = "default"
    subnetwork: str = "default"
    autopilot: bool = False  # GKE makes its node pools; their defaults are the cluster's
    # A Shared VPC: the host project of the network and subnetwork (None: the cluster's own).
    network_project: str | None = None


@dataclass
class Manifest:
    """What Artifact Registry reports of one image (DockerImage `mediaType`, `imageSizeBytes`)."""

    media_type: str = "application/vnd.docker.distribution.manifest.v2+json"
    size_bytes: int = 52_428_800


@dataclass
class Repository:
    """An Artifact Registry Docker repository: its IAM policy and the image tags in it."""

    name: str
    location: str
    policy: Policy
    tags: list[str]
    mode: str = "standard"  # standard, remote (pull-through) or virtual
    # IMAGE:TAG -> the image's manifest media type and size, where not the defaults.
    manifests: dict[str, Manifest] = field(default_factory=dict)

    def manifest(self, tag: str) -> Manifest:
        return self.manifests.get(tag) or Manifest()

    kms_key_name: str | None = None  # projects/P/locations/L/keyRings/R/cryptoKeys/K
    # A remote repository's upstream password: projects/P/secrets/S/versions/V.
    upstream_secret_version: str | None = None
    # A virtual repository's upstream repositories: projects/P/locations/L/repositories/R.
    upstreams: list[str] = field(default_factory=list)
    # A remote repository's upstream: DOCKER_HUB, a URL (a custom upstream), or an Artifact
    # Registry repository projects/P/locations/L/repositories/R.
    remote_upstream: str = "DOCKER_HUB"


@dataclass
class DenyRule:
    """One rule of an IAM deny policy (iam v2 DenyRule), named by its policy."""

    name: str
    denied_principals: list[str]
    denied_permissions: list[str]
    exception_principals: list[str] = field(default_factory=list)
    denial_condition: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "denied_principals": list(self.denied_principals),
            "denied_permissions": list(self.denied_permissions),
        }
        if self.exception_principals:
            out["exception_principals"] = list(self.exception_principals)
        if self.denial_condition is not None:
            out["denial_condition"] = dict(self.denial_condition)
        return out


@dataclass
class Folder:
    """A Resource Manager folder: its parent, allow policy and deny policies."""

    folder_id: str
    parent: str
    policy: Policy
    deny_policies: list[DenyRule] = field(default_factory=list)


@dataclass
class Organization:
    """The world's organization, with its custom roles."""

    org_id: str
    policy: Policy
    custom_roles: dict[str, list[str]] = field(default_factory=dict)
    deny_policies: list[DenyRule] = field(default_factory=list)
    # Principal access boundary policies by id: the principal sets they are bound to and
    # the resources their rules make eligible.
    principal_access_boundaries: dict[str, dict[str, list[str]]] = field(default_factory=dict)


@dataclass
class Subnetwork:
    """A VPC subnetwork (Compute `subnetworks.get`)."""

    name: str
    region: str
    network: str = "default"
    private_ip_google_access: bool = False
    ip_cidr_range: str = "10.128.0.0/20"

    def to_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "network": self.network,
            "private_ip_google_access": self.private_ip_google_access,
            "ip_cidr_range": self.ip_cidr_range,
        }


@dataclass
class Router:
    """A Cloud Router and its Cloud NAT gateways (Compute `routers.list`)."""

    name: str
    region: str
    network: str
    nats: list[dict[str, Any]]  # name, source_subnetwork_ip_ranges_to_nat, subnetworks

    def to_dict(self) -> dict[str, Any]:
        return {"region": self.region, "network": self.network, "nats": list(self.nats)}


@dataclass
class Firewall:
    """A VPC firewall rule (Compute `firewalls.list`)."""

    name: str
    network: str
    direction: str
    priority: int
    action: str  # allow | deny
    rules: list[str]  # tcp:443, tcp:400-500, tcp, all
    destination_ranges: list[str]
    target_tags: list[str]
    disabled: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "network": self.network,
            "direction": self.direction,
            "priority": self.priority,
            "action": self.action,
            "rules": list(self.rules),
            "destination_ranges": list(self.destination_ranges),
            "target_tags": list(self.target_tags),
            "disabled": self.disabled,
        }


@dataclass
class Route:
    """A VPC route (Compute `routes.list`); `next_hop_gateway` or another next hop."""

    name: str
    network: str
    dest_range: str
    next_hop_gateway: str | None
    next_hop_ip: str | None
    priority: int
    tags: list[str]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "network": self.network,
            "dest_range": self.dest_range,
            "priority": self.priority,
            "tags": list(self.tags),
        }
        if self.next_hop_gateway:
            out["next_hop_gateway"] = self.next_hop_gateway
        if self.next_hop_ip:
            out["next_hop_ip"] = self.next_hop_ip
        return out


@dataclass
class DnsZone:
    """A Cloud DNS managed zone (`managedZones.list`) and its record sets
    (`resourceRecordSets.list`)."""

    name: str
    dns_name: str  # with the trailing dot
    visibility: str  # private | public
    networks: list[str]  # projects/P/global/networks/N
    records: list[dict[str, Any]]  # name, type, ttl, rrdatas

    def to_dict(self) -> dict[str, Any]:
        return {
            "dns_name": self.dns_name,
            "visibility": self.visibility,
            "networks": list(self.networks),
            "records": [dict(r) for r in self.records],
        }


@dataclass
class Topic:
    """A Pub/Sub topic, optionally pushing each message to an HTTP endpoint."""

    name: str
    push_endpoint: str | None = None


@dataclass
class Secret:
    """A Secret Manager secret: its versions' states (by version number) and its policy."""

    versions: dict[str, str]
    policy: Policy

    def version(self, version: str) -> tuple[str, str] | None:
        """(number, state) of a version; `latest` is the highest-numbered one."""
        if version == "latest" and self.versions:
            version = max(self.versions, key=int)
        state = self.versions.get(version)
        return None if state is None else (version, state)


_SECRET_STATES = ("ENABLED", "DISABLED", "DESTROYED")
_SECRET_VERSION_RE = re.compile(
    r"projects/[a-z0-9-]+/secrets/[A-Za-z0-9_-]+/versions/(?:[1-9][0-9]*|latest)"
)


@dataclass
class CryptoKey:
    """A Cloud KMS key: its primary version's state and its allow policy."""

    state: str
    policy: Policy


_KEY_STATES = (
    "ENABLED",
    "DISABLED",
    "DESTROYED",
    "DESTROY_SCHEDULED",
    "PENDING_GENERATION",
)
_KEY_NAME_RE = re.compile(
    r"projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/locations/[a-z0-9-]+/keyRings/[A-Za-z0-9_-]+"
    r"/cryptoKeys/[A-Za-z0-9_-]+"
)


@dataclass
class Project:
    """A Google Cloud project and what lives in it."""

    project_id: str
    number: int
    policy: Policy
    service_accounts: dict[str, ServiceAccount]
    clusters: dict[str, Cluster]
    topics: dict[str, Topic]
    repositories: dict[str, Repository]
    project_iam_is_list: bool = False
    parent: str | None = None  # folders/N or organizations/N
    custom_roles: dict[str, list[str]] = field(default_factory=dict)
    deny_policies: list[DenyRule] = field(default_factory=list)
    subnetworks: dict[str, Subnetwork] = field(default_factory=dict)
    routers: dict[str, Router] = field(default_factory=dict)
    firewalls: dict[str, Firewall] = field(default_factory=dict)
    routes: dict[str, Route] = field(default_factory=dict)
    # Cloud DNS managed zones by name.
    dns_zones: dict[str, DnsZone] = field(default_factory=dict)
    # Artifact Registry's VPC Service Controls setting for remote repositories, by location
    # (DENY or ALLOW; a location not listed has none set, which is DENY).
    vpcsc_policy: dict[str, str] = field(default_factory=dict)
    # Services (APIs) disabled in the project; every other one is enabled (Service Usage).
    disabled_services: list[str] = field(default_factory=list)
    # Cloud KMS keys: "LOCATION/KEY_RING/KEY" -> its primary version's state and its policy.
    crypto_keys: dict[str, CryptoKey] = field(default_factory=dict)
    # Secret Manager secrets: "SECRET" -> its versions' states and its policy.
    secrets: dict[str, Secret] = field(default_factory=dict)

    def service_account(self, email: str) -> ServiceAccount | None:
        """A service account of this project, the default compute one included."""
        if email in self.service_accounts:
            return self.service_accounts[email]
        if email == default_compute_account(self.number):
            return ServiceAccount(email=email, unique_id=f"1{self.number:020d}")
        return None


@dataclass
class ChatSpace:
    """A Google Chat space the sandbox's Chat API serves: whether pullfix's Chat app is a
    member of it, and the messages the app posted there (as `spaces.messages.create`
    answered them)."""

    space_id: str
    app_member: bool = True
    messages: list[dict[str, Any]] = field(default_factory=list)
    # requestId -> the message it created ("Specifying an existing request ID returns the
    # message created with that ID"); kept while the sandbox runs, not in the world file.
    request_ids: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"spaces/{self.space_id}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"app_member": self.app_member}
        if self.messages:
            out["messages"] = [dict(m) for m in self.messages]
        return out


_SPACE_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,128}")


@dataclass
class World:
    """Everything the sandbox serves."""

    projects: dict[str, Project]
    log_entries: list[dict[str, Any]] = field(default_factory=list)
    organization: Organization | None = None
    folders: dict[str, Folder] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    # How many more logging.entries.list requests are answered before the rest get 429
    # RESOURCE_EXHAUSTED, as past Cloud Logging's read quota; None: no limit.
    logging_read_quota: int | None = None
    # Google Chat spaces by id (the part after `spaces/`).
    chat_spaces: dict[str, ChatSpace] = field(default_factory=dict)

    def project_by_number(self, number: int) -> Project | None:
        for project in self.projects.values():
            if project.number == number:
                return project
        return None

    def find_project(self, key: str) -> Project | None:
        """A project by id or by number."""
        if key in self.projects:
            return self.projects[key]
        return self.project_by_number(int(key)) if key.isdigit() else None

    def service_account(self, email: str) -> ServiceAccount | None:
        """A service account anywhere in the world."""
        for project in self.projects.values():
            account = project.service_account(email)
            if account is not None:
                return account
        return None

    def owns_service_account(self, email: str) -> bool:
        """Whether the account's home project is in this world (so its absence means deleted)."""
        domain = email.partition("@")[2]
        if domain == "developer.gserviceaccount.com":
            number = email.partition("-")[0]
            return number.isdigit() and self.project_by_number(int(number)) is not None
        if domain.endswith(".iam.gserviceaccount.com"):
            return domain.removesuffix(".iam.gserviceaccount.com") in self.projects
        return False

    def to_dict(self) -> dict[str, Any]:
        """The world in the world-file schema."""
        out: dict[str, Any] = {}
        if self.organization is not None:
            org = self.organization
            out["organization"] = {"id": org.org_id}
            if org.policy.bindings:
                out["organization"]["iam"] = _policy_out(org.policy, True)
            if org.custom_roles:
                out["organization"]["custom_roles"] = _roles_out(org.custom_roles)
            if org.deny_policies:
                out["organization"]["deny_policies"] = [d.to_dict() for d in org.deny_policies]
            if org.principal_access_boundaries:
                out["organization"]["principal_access_boundaries"] = {
                    pid: {k: list(v) for k, v in spec.items()}
                    for pid, spec in org.principal_access_boundaries.items()
                }
        if self.folders:
            out["folders"] = {
                fid: {
                    "parent": f.parent,
                    **({"iam": _policy_out(f.policy, True)} if f.policy.bindings else {}),
                    **(
                        {"deny_policies": [d.to_dict() for d in f.deny_policies]}
                        if f.deny_policies
                        else {}
                    ),
                }
                for fid, f in self.folders.items()
            }
        if self.groups:
            out["groups"] = {g: {"members": list(m)} for g, m in self.groups.items()}
        out["projects"] = {pid: _project_dict(p) for pid, p in self.projects.items()}
        if self.log_entries:
            out["log_entries"] = list(self.log_entries)
        if self.logging_read_quota is not None:
            out["logging_read_quota"] = self.logging_read_quota
        if self.chat_spaces:
            out["chat_spaces"] = {sid: s.to_dict() for sid, s in self.chat_spaces.items()}
        return out


def load_world(path: str | Path) -> World:
    """Read and validate a world file."""
    data = load_yaml(path, "world file", WorldError)
    return world_from_dict(data, source=str(path))


def world_from_dict(data: object, source: str = "world") -> World:
    """Validate a decoded world document (the same schema as the file)."""
    root = _mapping(
        data,
        source,
        (
            "projects",
            "log_entries",
            "logging_read_quota",
            "organization",
            "folders",
            "groups",
            "chat_spaces",
        ),
    )
    projects_data = _mapping(root.get("projects") or {}, "projects", None)
    projects = {
        str(pid): _project(str(pid), value, f"projects.{pid}")
        for pid, value in projects_data.items()
    }
    numbers: dict[int, str] = {}
    for pid, project in projects.items():
        if project.number in numbers:
            other = numbers[project.number]
            raise WorldError(f"projects.{pid}.number: {project.number} is also {other}'s number")
        numbers[project.number] = pid
    entries = root.get("log_entries") or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise WorldError("log_entries: expected a list of LogEntry objects")
    quota = root.get("logging_read_quota")
    if quota is not None and (isinstance(quota, bool) or not isinstance(quota, int) or quota < 0):
        raise WorldError(
            f"logging_read_quota: expected a number of requests (0 or more), got {quota!r}"
        )
    world = World(
        projects=projects,
        log_entries=list(entries),
        logging_read_quota=quota,
        organization=_organization(root["organization"]) if root.get("organization") else None,
        folders={
            str(fid): _folder(str(fid), spec, f"folders.{fid}")
            for fid, spec in _mapping(root.get("folders") or {}, "folders", None).items()
        },
        groups={
            str(email): _group(str(email), spec, f"groups.{email}")
            for email, spec in _mapping(root.get("groups") or {}, "groups", None).items()
        },
        chat_spaces={
            str(sid): _chat_space(str(sid), spec, f"chat_spaces.{sid}")
            for sid, spec in _mapping(root.get("chat_spaces") or {}, "chat_spaces", None).items()
        },
    )
    _check_hierarchy(world)
    return world


def _organization(value: object) -> Organization:
    data = _mapping(
        value,
        "organization",
        ("id", "iam", "custom_roles", "deny_policies", "principal_access_boundaries"),
    )
    org_id = str(data.get("id", ""))
    if not org_id.isdigit():
        raise WorldError(f"organization.id: expected a numeric organization id, got {org_id!r}")
    return Organization(
        org_id=org_id,
        policy=_policy(data.get("iam") or [], "organization.iam"),
        custom_roles=_custom_roles(data.get("custom_roles"), "organization.custom_roles"),
        deny_policies=_deny_policies(data.get("deny_policies"), "organization.deny_policies"),
        principal_access_boundaries=_boundaries(data.get("principal_access_boundaries")),
    )


_CRM = "//cloudresourcemanager.googleapis.com/"
_BOUNDARY_RESOURCE_RE = re.compile(
    r"//cloudresourcemanager\.googleapis\.com/(?:organizations|folders|projects)/[a-z0-9-]+"
)


def _boundaries(value: object) -> dict[str, dict[str, list[str]]]:
    where = "organization.principal_access_boundaries"
    out: dict[str, dict[str, list[str]]] = {}
    for pid, spec in _mapping(value or {}, where, None).items():
        at = f"{where}.{pid}"
        if not re.fullmatch(r"[a-z][a-z0-9-]{2,62}", str(pid)):
            raise WorldError(f"{at}: not a principal access boundary policy id")
        data = _mapping(spec, at, ("principal_sets", "resources"))
        sets = _string_list(data.get("principal_sets", []), f"{at}.principal_sets")
        resources = _string_list(data.get("resources", []), f"{at}.resources")
        for item in (*sets, *resources):
            if not _BOUNDARY_RESOURCE_RE.fullmatch(item):
                raise WorldError(
                    f"{at}: {item!r} is not //cloudresourcemanager.googleapis.com/"
                    "{organizations,folders,projects}/ID"
                )
        out[str(pid)] = {"principal_sets": sets, "resources": resources}
    return out


def _folder(folder_id: str, value: object, where: str) -> Folder:
    if not folder_id.isdigit():
        raise WorldError(f"{where}: folder ids are numeric, got {folder_id!r}")
    data = _mapping(value, where, ("parent", "iam", "deny_policies"))
    parent = data.get("parent")
    if not isinstance(parent, str) or not _PARENT_RE.fullmatch(parent):
        raise WorldError(f"{where}.parent: expected folders/N or organizations/N, got {parent!r}")
    return Folder(
        folder_id=folder_id,
        parent=parent,
        policy=_policy(data.get("iam") or [], f"{where}.iam"),
        deny_policies=_deny_policies(data.get("deny_policies"), f"{where}.deny_policies"),
    )


def _chat_space(space_id: str, value: object, where: str) -> ChatSpace:
    if not _SPACE_ID_RE.fullmatch(space_id):
        raise WorldError(f"{where}: a space is named by its id (letters, digits, - and _)")
    data = _mapping(value or {}, where, ("app_member", "messages"))
    member = data.get("app_member", True)
    if not isinstance(member, bool):
        raise WorldError(f"{where}.app_member: expected true or false, got {member!r}")
    messages = data.get("messages") or []
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise WorldError(f"{where}.messages: expected a list of Message objects")
    return ChatSpace(space_id=space_id, app_member=member, messages=[dict(m) for m in messages])


def _group(email: str, value: object, where: str) -> list[str]:
    if not _EMAIL_RE.fullmatch(email):
        raise WorldError(f"{where}: a group is named by its email address")
    data = _mapping(value, where, ("members",))
    members = _string_list(data.get("members", []), f"{where}.members")
    for member in members:
        if not member.startswith(("user:", "serviceAccount:", "group:")):
            raise WorldError(f"{where}.members: {member!r} is not user:, serviceAccount: or group:")
    return members


_PARENT_RE = re.compile(r"(?:folders|organizations)/[0-9]+")
_PERMISSION_RE = re.compile(r"[a-z][a-zA-Z0-9]*(?:\.[a-zA-Z0-9]+){2}")
# Deny policies name permissions as SERVICE_FQDN/RESOURCE.VERB (iam v2 DenyRule).
_DENY_PERMISSION_RE = re.compile(
    r"[a-z][a-z0-9.-]*\.googleapis\.com/(?:\*|[a-zA-Z]+\.(?:\*|[a-zA-Z]+))"
)
_DENY_PRINCIPAL_RE = re.compile(r"principal(?:Set)?://[^\s]+")


def _custom_roles(value: object, where: str) -> dict[str, list[str]]:
    roles: dict[str, list[str]] = {}
    for role_id, spec in _mapping(value or {}, where, None).items():
        if not re.fullmatch(r"[A-Za-z0-9_.]{3,64}", str(role_id)):
            raise WorldError(f"{where}.{role_id}: not a custom role id")
        data = _mapping(spec, f"{where}.{role_id}", ("permissions", "title"))
        permissions = _string_list(data.get("permissions", []), f"{where}.{role_id}.permissions")
        for permission in permissions:
            if not _PERMISSION_RE.fullmatch(permission):
                raise WorldError(
                    f"{where}.{role_id}.permissions: {permission!r} is not service.resource.verb"
                )
        roles[str(role_id)] = permissions
    return roles


def _deny_policies(value: object, where: str) -> list[DenyRule]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise WorldError(f"{where}: expected a list of deny rules")
    rules = []
    for index, item in enumerate(value):
        at = f"{where}[{index}]"
        data = _mapping(
            item,
            at,
            (
                "name",
                "denied_principals",
                "denied_permissions",
                "exception_principals",
                "denial_condition",
            ),
        )
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise WorldError(f"{at}.name: a deny policy needs a name")
        principals = _string_list(data.get("denied_principals", []), f"{at}.denied_principals")
        exceptions = _string_list(
            data.get("exception_principals", []), f"{at}.exception_principals"
        )
        for principal in (*principals, *exceptions):
            if not _DENY_PRINCIPAL_RE.fullmatch(principal):
                raise WorldError(
                    f"{at}: {principal!r} is not a deny-policy principal "
                    "(principal://… or principalSet://…)"
                )
        permissions = _string_list(data.get("denied_permissions", []), f"{at}.denied_permissions")
        for permission in permissions:
            if not _DENY_PERMISSION_RE.fullmatch(permission):
                raise WorldError(
                    f"{at}.denied_permissions: {permission!r} is not SERVICE_FQDN/RESOURCE.VERB "
                    "(e.g. artifactregistry.googleapis.com/repositories.downloadArtifacts)"
                )
        if not principals or not permissions:
            raise WorldError(f"{at}: a deny rule needs denied_principals and denied_permissions")
        condition = None
        if data.get("denial_condition") is not None:
            cond = _mapping(
                data["denial_condition"], f"{at}.denial_condition", ("title", "expression")
            )
            if not isinstance(cond.get("expression"), str) or not cond["expression"].strip():
                raise WorldError(f"{at}.denial_condition.expression: required")
            condition = {k: str(v) for k, v in cond.items()}
        rules.append(DenyRule(name, principals, permissions, exceptions, condition))
    return rules


def _check_hierarchy(world: World) -> None:
    """Every parent exists and the folders form a tree under the organization."""

    def check(parent: str, where: str) -> None:
        kind, _, key = parent.partition("/")
        if kind == "folders" and key not in world.folders:
            raise WorldError(f"{where}: folder {key} is not in folders")
        if kind == "organizations" and (
            world.organization is None or world.organization.org_id != key
        ):
            raise WorldError(f"{where}: organization {key} is not the world's organization")

    for fid, folder in world.folders.items():
        check(folder.parent, f"folders.{fid}.parent")
        seen, at = {fid}, folder.parent
        while at.startswith("folders/"):
            at_id = at.split("/")[1]
            if at_id in seen:
                raise WorldError(f"folders.{fid}.parent: folders form a cycle")
            seen.add(at_id)
            at = world.folders[at_id].parent
    for pid, project in world.projects.items():
        if project.parent is not None:
            check(project.parent, f"projects.{pid}.parent")


def _project(pid: str, value: object, where: str) -> Project:
    if not _PROJECT_ID_RE.fullmatch(pid):
        raise WorldError(
            f"{where}: {pid!r} is not a project id (6-30 lowercase letters, digits, -)"
        )
    data = _mapping(
        value,
        where,
        (
            "number",
            "parent",
            "iam",
            "custom_roles",
            "deny_policies",
            "service_accounts",
            "clusters",
            "topics",
            "repositories",
            "subnetworks",
            "routers",
            "firewalls",
            "routes",
            "dns_zones",
            "vpcsc_policy",
            "disabled_services",
            "crypto_keys",
            "secrets",
        ),
    )
    parent = data.get("parent")
    if parent is not None and (not isinstance(parent, str) or not _PARENT_RE.fullmatch(parent)):
        raise WorldError(f"{where}.parent: expected folders/N or organizations/N, got {parent!r}")
    number = data.get("number")
    if isinstance(number, str) and number.isdigit():
        number = int(number)
    if not isinstance(number, int) or isinstance(number, bool) or number <= 0:
        raise WorldError(f"{where}.number: expected a positive project number, got {number!r}")
    iam_value = data.get("iam") or {}
    accounts: dict[str, ServiceAccount] = {}
    for email, spec in _mapping(
        data.get("service_accounts") or {}, f"{where}.service_accounts", None
    ).items():
        sa_where = f"{where}.service_accounts.{email}"
        if not _EMAIL_RE.fullmatch(str(email)):
            raise WorldError(f"{sa_where}: not a service account email")
        sa = _mapping(spec or {}, sa_where, ("disabled",))
        disabled = sa.get("disabled", False)
        if not isinstance(disabled, bool):
            raise WorldError(f"{sa_where}.disabled: expected true or false, got {disabled!r}")
        digest = int(hashlib.sha256(str(email).encode()).hexdigest()[:16], 16)
        accounts[str(email)] = ServiceAccount(
            email=str(email), disabled=disabled, unique_id=f"1{digest % 10**20:020d}"
        )
    return Project(
        project_id=pid,
        number=number,
        policy=_policy(iam_value, f"{where}.iam"),
        service_accounts=accounts,
        clusters={
            str(name): _cluster(str(name), spec, f"{where}.clusters.{name}")
            for name, spec in _mapping(
                data.get("clusters") or {}, f"{where}.clusters", None
            ).items()
        },
        topics={
            str(name): _topic(str(name), spec, f"{where}.topics.{name}")
            for name, spec in _mapping(data.get("topics") or {}, f"{where}.topics", None).items()
        },
        repositories={
            str(name): _repository(str(name), spec, f"{where}.repositories.{name}")
            for name, spec in _mapping(
                data.get("repositories") or {}, f"{where}.repositories", None
            ).items()
        },
        project_iam_is_list=isinstance(iam_value, list),
        parent=parent,
        custom_roles=_custom_roles(data.get("custom_roles"), f"{where}.custom_roles"),
        deny_policies=_deny_policies(data.get("deny_policies"), f"{where}.deny_policies"),
        subnetworks={
            str(n): _subnetwork(str(n), spec, f"{where}.subnetworks.{n}")
            for n, spec in _mapping(
                data.get("subnetworks") or {}, f"{where}.subnetworks", None
            ).items()
        },
        routers={
            str(n): _router(str(n), spec, f"{where}.routers.{n}")
            for n, spec in _mapping(data.get("routers") or {}, f"{where}.routers", None).items()
        },
        firewalls={
            str(n): _firewall(str(n), spec, f"{where}.firewalls.{n}")
            for n, spec in _mapping(data.get("firewalls") or {}, f"{where}.firewalls", None).items()
        },
        routes={
            str(n): _route(str(n), spec, f"{where}.routes.{n}")
            for n, spec in _mapping(data.get("routes") or {}, f"{where}.routes", None).items()
        },
        dns_zones={
            str(n): _dns_zone(str(n), pid, spec, f"{where}.dns_zones.{n}")
            for n, spec in _mapping(data.get("dns_zones") or {}, f"{where}.dns_zones", None).items()
        },
        vpcsc_policy=_vpcsc_policy(data.get("vpcsc_policy"), f"{where}.vpcsc_policy"),
        disabled_services=_services(data.get("disabled_services"), f"{where}.disabled_services"),
        crypto_keys=_crypto_keys(data.get("crypto_keys"), f"{where}.crypto_keys"),
        secrets=_secrets(data.get("secrets"), f"{where}.secrets"),
    )


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise WorldError(f"{where}: expected true or false, got {value!r}")
    return value


def _cidr(value: object, where: str) -> str:
    import ipaddress

    try:
        return (
            str(ipaddress.ip_network(str(value), strict=False))
            if isinstance(value, str)
            else _bad_cidr(value, where)
        )
    except ValueError as exc:
        raise WorldError(f"{where}: {exc}") from exc


def _bad_cidr(value: object, where: str) -> str:
    raise WorldError(f"{where}: expected an address range like 10.0.0.0/8, got {value!r}")


def _priority(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise WorldError(f"{where}: expected a priority 0-65535, got {value!r}")
    return value


_NAT_SOURCES = (
    "ALL_SUBNETWORKS_ALL_IP_RANGES",
    "ALL_SUBNETWORKS_ALL_PRIMARY_IP_RANGES",
    "LIST_OF_SUBNETWORKS",
)
_FIREWALL_RULE_RE = re.compile(r"(?:all|tcp|udp|icmp)(?::\d{1,5}(?:-\d{1,5})?)?")


def _vpcsc_policy(value: object, where: str) -> dict[str, str]:
    out = {}
    for location, policy in _mapping(value or {}, where, None).items():
        _location(location, f"{where}.{location}")
        if policy not in ("DENY", "ALLOW"):
            raise WorldError(f"{where}.{location}: expected DENY or ALLOW, got {policy!r}")
        out[str(location)] = str(policy)
    return out


_DNS_NAME_RE = re.compile(r"(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+")
_NETWORK_PATH_RE = re.compile(r"projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/global/networks/[a-z0-9-]+")
_RECORD_TYPES = ("A", "AAAA", "CNAME", "TXT", "MX", "NS", "SOA", "PTR", "SRV", "CAA")


def _dns_zone(name: str, project: str, value: object, where: str) -> DnsZone:
    """A zone: `dns_name` (`pkg.dev.`), `visibility` (private by default), `networks` (names
    in the project, or `projects/P/global/networks/N`), `records` (each `name`, `type`,
    `rrdatas`, `ttl`)."""
    _check_name(name, where)
    data = _mapping(value, where, ("dns_name", "visibility", "networks", "records"))
    dns_name = data.get("dns_name")
    if not isinstance(dns_name, str) or not _DNS_NAME_RE.fullmatch(dns_name):
        raise WorldError(f"{where}.dns_name: expected a DNS name ending in '.', got {dns_name!r}")
    visibility = data.get("visibility", "private")
    if visibility not in ("private", "public"):
        raise WorldError(f"{where}.visibility: expected private or public, got {visibility!r}")
    networks = []
    for given in _string_list(data.get("networks", []), f"{where}.networks"):
        if "/" not in given:
            _check_name(given, f"{where}.networks")
            networks.append(f"projects/{project}/global/networks/{given}")
            continue
        if not _NETWORK_PATH_RE.fullmatch(given):
            raise WorldError(f"{where}.networks: {given!r} is not projects/P/global/networks/N")
        networks.append(given)
    records = []
    raw = data.get("records", [])
    if not isinstance(raw, list):
        raise WorldError(f"{where}.records: expected a list of record sets")
    for index, item in enumerate(raw):
        at = f"{where}.records[{index}]"
        spec = _mapping(item, at, ("name", "type", "rrdatas", "ttl"))
        record_name = spec.get("name")
        if not isinstance(record_name, str) or not _DNS_NAME_RE.fullmatch(record_name):
            raise WorldError(f"{at}.name: expected a DNS name ending in '.', got {record_name!r}")
        if not (record_name == dns_name or record_name.endswith("." + dns_name)):
            raise WorldError(f"{at}.name: {record_name} is not in the zone's {dns_name}")
        kind = spec.get("type")
        if kind not in _RECORD_TYPES:
            raise WorldError(f"{at}.type: one of {', '.join(_RECORD_TYPES)}, got {kind!r}")
        rrdatas = _string_list(spec.get("rrdatas"), f"{at}.rrdatas")
        ttl = spec.get("ttl", 300)
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0:
            raise WorldError(f"{at}.ttl: expected seconds, got {ttl!r}")
        records.append({"name": record_name, "type": kind, "rrdatas": rrdatas, "ttl": ttl})
    return DnsZone(
        name=name, dns_name=dns_name, visibility=visibility, networks=networks, records=records
    )


def _subnetwork(name: str, value: object, where: str) -> Subnetwork:
    _check_name(name, where)
    data = _mapping(
        value, where, ("region", "network", "private_ip_google_access", "ip_cidr_range")
    )
    network = data.get("network", "default")
    _check_name(str(network), f"{where}.network")
    return Subnetwork(
        name=name,
        region=_location(data.get("region"), f"{where}.region"),
        network=str(network),
        private_ip_google_access=_bool(
            data.get("private_ip_google_access", False), f"{where}.private_ip_google_access"
        ),
        ip_cidr_range=_cidr(data.get("ip_cidr_range", "10.128.0.0/20"), f"{where}.ip_cidr_range"),
    )


def _router(name: str, value: object, where: str) -> Router:
    _check_name(name, where)
    data = _mapping(value, where, ("region", "network", "nats"))
    network = str(data.get("network", "default"))
    _check_name(network, f"{where}.network")
    nats = data.get("nats") or []
    if not isinstance(nats, list):
        raise WorldError(f"{where}.nats: expected a list of NAT gateways")
    checked = []
    for index, nat in enumerate(nats):
        at = f"{where}.nats[{index}]"
        spec = _mapping(nat, at, ("name", "source_subnetwork_ip_ranges_to_nat", "subnetworks"))
        _check_name(str(spec.get("name")), f"{at}.name")
        source = spec.get("source_subnetwork_ip_ranges_to_nat", "ALL_SUBNETWORKS_ALL_IP_RANGES")
        if source not in _NAT_SOURCES:
            raise WorldError(
                f"{at}.source_subnetwork_ip_ranges_to_nat: one of {', '.join(_NAT_SOURCES)}"
            )
        subnets = _string_list(spec.get("subnetworks", []), f"{at}.subnetworks")
        checked.append(
            {
                "name": spec["name"],
                "source_subnetwork_ip_ranges_to_nat": source,
                "subnetworks": subnets,
            }
        )
    return Router(
        name=name,
        region=_location(data.get("region"), f"{where}.region"),
        network=network,
        nats=checked,
    )


def _firewall(name: str, value: object, where: str) -> Firewall:
    _check_name(name, where)
    data = _mapping(
        value,
        where,
        (
            "network",
            "direction",
            "priority",
            "action",
            "rules",
            "destination_ranges",
            "target_tags",
            "disabled",
        ),
    )
    direction = data.get("direction", "INGRESS")
    if direction not in ("INGRESS", "EGRESS"):
        raise WorldError(f"{where}.direction: INGRESS or EGRESS, got {direction!r}")
    action = data.get("action", "allow")
    if action not in ("allow", "deny"):
        raise WorldError(f"{where}.action: allow or deny, got {action!r}")
    rules = _string_list(data.get("rules", ["all"]), f"{where}.rules")
    for rule in rules:
        if not _FIREWALL_RULE_RE.fullmatch(rule):
            raise WorldError(f"{where}.rules: {rule!r} is not PROTOCOL[:PORT[-PORT]]")
    network = str(data.get("network", "default"))
    _check_name(network, f"{where}.network")
    return Firewall(
        name=name,
        network=network,
        direction=direction,
        priority=_priority(data.get("priority", 1000), f"{where}.priority"),
        action=action,
        rules=rules,
        destination_ranges=[
            _cidr(r, f"{where}.destination_ranges")
            for r in _string_list(
                data.get("destination_ranges", ["0.0.0.0/0"]), f"{where}.destination_ranges"
            )
        ],
        target_tags=_string_list(data.get("target_tags", []), f"{where}.target_tags"),
        disabled=_bool(data.get("disabled", False), f"{where}.disabled"),
    )


def _route(name: str, value: object, where: str) -> Route:
    _check_name(name, where)
    data = _mapping(
        value,
        where,
        ("network", "dest_range", "next_hop_gateway", "next_hop_ip", "priority", "tags"),
    )
    gateway = data.get("next_hop_gateway")
    hop_ip = data.get("next_hop_ip")
    if (gateway is None) == (hop_ip is None):
        raise WorldError(f"{where}: a route needs one next hop: next_hop_gateway or next_hop_ip")
    if gateway is not None and gateway != "default-internet-gateway":
        raise WorldError(f"{where}.next_hop_gateway: only default-internet-gateway exists")
    network = str(data.get("network", "default"))
    _check_name(network, f"{where}.network")
    return Route(
        name=name,
        network=network,
        dest_range=_cidr(data.get("dest_range"), f"{where}.dest_range"),
        next_hop_gateway=gateway,
        next_hop_ip=str(hop_ip) if hop_ip is not None else None,
        priority=_priority(data.get("priority", 1000), f"{where}.priority"),
        tags=_string_list(data.get("tags", []), f"{where}.tags"),
    )


def _crypto_keys(value: object, where: str) -> dict[str, CryptoKey]:
    keys = {}
    for path, spec in _mapping(value or {}, where, None).items():
        at = f"{where}.{path}"
        if not re.fullmatch(r"[a-z0-9-]+/[A-Za-z0-9_-]+/[A-Za-z0-9_-]+", str(path)):
            raise WorldError(f"{at}: a key is named LOCATION/KEY_RING/KEY")
        data = _mapping(spec or {}, at, ("state", "iam"))
        state = data.get("state", "ENABLED")
        if state not in _KEY_STATES:
            raise WorldError(f"{at}.state: expected one of {', '.join(_KEY_STATES)}, got {state!r}")
        keys[str(path)] = CryptoKey(state=state, policy=_policy(data.get("iam") or [], f"{at}.iam"))
    return keys


def _secrets(value: object, where: str) -> dict[str, Secret]:
    secrets = {}
    for name, spec in _mapping(value or {}, where, None).items():
        at = f"{where}.{name}"
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,255}", str(name)):
            raise WorldError(f"{at}: a secret's name is letters, digits, - and _")
        data = _mapping(spec or {}, at, ("versions", "iam"))
        versions = {}
        for number, state in _mapping(data.get("versions") or {}, f"{at}.versions", None).items():
            if not re.fullmatch(r"[1-9][0-9]*", str(number)) or state not in _SECRET_STATES:
                raise WorldError(
                    f"{at}.versions.{number}: expected a version number and one of "
                    f"{', '.join(_SECRET_STATES)}, got {state!r}"
                )
            versions[str(number)] = str(state)
        secrets[str(name)] = Secret(versions, _policy(data.get("iam") or [], f"{at}.iam"))
    return secrets


_SERVICE_RE = re.compile(r"[a-z][a-z0-9-]*(?:\.[a-z0-9-]+)*\.googleapis\.com")


def _services(value: object, where: str) -> list[str]:
    services = _string_list(value if value is not None else [], where)
    for service in services:
        if not _SERVICE_RE.fullmatch(service):
            raise WorldError(f"{where}: {service!r} is not a service name (NAME.googleapis.com)")
    return services


def _cluster(name: str, value: object, where: str) -> Cluster:
    _check_name(name, where)
    data = _mapping(
        value,
        where,
        (
            "location",
            "version",
            "node_pools",
            "private_nodes",
            "network",
            "subnetwork",
            "autopilot",
            "network_project",
        ),
    )
    network_project = data.get("network_project")
    if network_project is not None and (
        not isinstance(network_project, str) or not _PROJECT_ID_RE.fullmatch(network_project)
    ):
        raise WorldError(f"{where}.network_project: expected a project id, got {network_project!r}")
    autopilot = data.get("autopilot", False)
    if not isinstance(autopilot, bool):
        raise WorldError(f"{where}.autopilot: expected true or false, got {autopilot!r}")
    location = _location(data.get("location"), f"{where}.location")
    version = _version(data.get("version"), f"{where}.version")
    pools_data = _mapping(data.get("node_pools") or {}, f"{where}.node_pools", None)
    if not pools_data:
        raise WorldError(f"{where}.node_pools: a cluster needs at least one node pool")
    pools = {
        str(p): _node_pool(str(p), spec, f"{where}.node_pools.{p}", version)
        for p, spec in pools_data.items()
    }
    for key in ("network", "subnetwork"):
        _check_name(str(data.get(key, "default")), f"{where}.{key}")
    return Cluster(
        name=name,
        location=location,
        version=version,
        node_pools=pools,
        private_nodes=_bool(data.get("private_nodes", False), f"{where}.private_nodes"),
        network=str(data.get("network", "default")),
        subnetwork=str(data.get("subnetwork", "default")),
        autopilot=autopilot,
        network_project=network_project,
    )


def _node_pool(name: str, value: object, where: str, cluster_version: str) -> NodePool:
    _check_name(name, where)
    data = _mapping(
        value or {},
        where,
        (
            "version",
            "service_account",
            "oauth_scopes",
            "nodes",
            "private_nodes",
            "image_type",
            "image_streaming",
        ),
    )
    streaming = data.get("image_streaming", False)
    if not isinstance(streaming, bool):
        raise WorldError(f"{where}.image_streaming: expected true or false, got {streaming!r}")
    image_type = data.get("image_type", "COS_CONTAINERD")
    if not isinstance(image_type, str) or not _IMAGE_TYPE_RE.fullmatch(image_type):
        raise WorldError(
            f"{where}.image_type: expected a GKE image type (COS_CONTAINERD, "
            f"WINDOWS_LTSC_CONTAINERD, …), got {image_type!r}"
        )
    version = (
        _version(data["version"], f"{where}.version") if "version" in data else cluster_version
    )
    account = data.get("service_account", "default")
    if not isinstance(account, str) or not (account == "default" or _EMAIL_RE.fullmatch(account)):
        raise WorldError(
            f"{where}.service_account: expected 'default' or an email, got {account!r}"
        )
    scopes = _string_list(
        data.get("oauth_scopes", [_SCOPE_PREFIX + "devstorage.read_only"]), f"{where}.oauth_scopes"
    )
    normalised = []
    for scope in scopes:
        full = scope if scope.startswith("https://") else _SCOPE_PREFIX + _ALIASES.get(scope, scope)
        normalised.append(full)
    nodes = _string_list(data.get("nodes", []), f"{where}.nodes")
    for node in nodes:
        if not _NAME_RE.fullmatch(node):
            raise WorldError(f"{where}.nodes: {node!r} is not a node (instance) name")
    private = data.get("private_nodes")
    return NodePool(
        name=name,
        version=version,
        service_account=account,
        oauth_scopes=normalised,
        nodes=nodes,
        private_nodes=None if private is None else _bool(private, f"{where}.private_nodes"),
        image_type=image_type,
        image_streaming=streaming,
    )


# The repositories Artifact Registry serves Container Registry's hosts from (gcr.io
# repositories), named after the host.
_GCR_REPOSITORIES = frozenset({"gcr.io", "us.gcr.io", "eu.gcr.io", "asia.gcr.io"})


def _repository(name: str, value: object, where: str) -> Repository:
    if name not in _GCR_REPOSITORIES:
        _check_name(name, where)
    data = _mapping(
        value,
        where,
        (
            "location",
            "iam",
            "tags",
            "mode",
            "manifests",
            "kms_key_name",
            "upstream_secret_version",
            "upstreams",
            "remote_upstream",
        ),
    )
    remote_upstream = data.get("remote_upstream", "DOCKER_HUB")
    if "remote_upstream" in data and (
        data.get("mode") != "remote"
        or not isinstance(remote_upstream, str)
        or not re.fullmatch(
            r"DOCKER_HUB|https://[a-z0-9.-]+(?:/[A-Za-z0-9._/-]*)?"
            r"|projects/[a-z0-9-]+/locations/[a-z0-9-]+/repositories/[a-z0-9._-]+",
            remote_upstream,
        )
    ):
        raise WorldError(
            f"{where}.remote_upstream: a remote repository's DOCKER_HUB, https://HOST/PATH or "
            "projects/P/locations/L/repositories/R"
        )
    upstreams = _string_list(data.get("upstreams", []), f"{where}.upstreams")
    if upstreams and data.get("mode") != "virtual":
        raise WorldError(f"{where}.upstreams: only a virtual repository has upstreams")
    for upstream in upstreams:
        if not re.fullmatch(
            r"projects/[a-z0-9-]+/locations/[a-z0-9-]+/repositories/[a-z0-9._-]+", upstream
        ):
            raise WorldError(
                f"{where}.upstreams: {upstream!r} is not projects/P/locations/L/repositories/R"
            )
    upstream_secret = data.get("upstream_secret_version")
    if upstream_secret is not None and (
        data.get("mode") != "remote"
        or not isinstance(upstream_secret, str)
        or not _SECRET_VERSION_RE.fullmatch(upstream_secret)
    ):
        raise WorldError(
            f"{where}.upstream_secret_version: a remote repository's "
            "projects/P/secrets/S/versions/V"
        )
    kms_key_name = data.get("kms_key_name")
    if kms_key_name is not None and (
        not isinstance(kms_key_name, str) or not _KEY_NAME_RE.fullmatch(kms_key_name)
    ):
        raise WorldError(
            f"{where}.kms_key_name: expected projects/P/locations/L/keyRings/R/cryptoKeys/K"
        )
    location = _location(data.get("location"), f"{where}.location")
    mode = data.get("mode", "standard")
    if mode not in ("standard", "remote", "virtual"):
        raise WorldError(f"{where}.mode: expected standard, remote or virtual, got {mode!r}")
    tags = _string_list(data.get("tags", []), f"{where}.tags")
    for tag in tags:
        if not _TAG_RE.fullmatch(tag):
            raise WorldError(f"{where}.tags: {tag!r} is not IMAGE:TAG")
    return Repository(
        name=name,
        location=location,
        policy=_policy(data.get("iam") or [], f"{where}.iam"),
        tags=tags,
        mode=mode,
        manifests=_manifests(data.get("manifests") or {}, tags, f"{where}.manifests"),
        kms_key_name=kms_key_name,
        upstream_secret_version=upstream_secret,
        upstreams=upstreams,
        remote_upstream=remote_upstream,
    )


def _manifests(value: object, tags: list[str], where: str) -> dict[str, Manifest]:
    out = {}
    for tag, spec in _mapping(value, where, None).items():
        if tag not in tags:
            raise WorldError(f"{where}.{tag}: not one of the repository's tags")
        data = _mapping(spec or {}, f"{where}.{tag}", ("media_type", "size_bytes"))
        default = Manifest()
        media_type = data.get("media_type", default.media_type)
        size = data.get("size_bytes", default.size_bytes)
        if not isinstance(media_type, str) or not _MEDIA_TYPE_RE.fullmatch(media_type):
            raise WorldError(f"{where}.{tag}.media_type: not a media type: {media_type!r}")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise WorldError(f"{where}.{tag}.size_bytes: expected bytes, got {size!r}")
        out[str(tag)] = Manifest(media_type=media_type, size_bytes=size)
    return out


def _topic(name: str, value: object, where: str) -> Topic:
    data = _mapping(value or {}, where, ("push_endpoint",))
    endpoint = data.get("push_endpoint")
    if endpoint is not None and (
        not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://"))
    ):
        raise WorldError(f"{where}.push_endpoint: expected an http(s) URL, got {endpoint!r}")
    return Topic(name=name, push_endpoint=endpoint)


def _policy(value: object, where: str) -> Policy:
    """`{role: [members]}` or a list of bindings, each with an optional condition."""
    bindings: list[Binding] = []
    if isinstance(value, Mapping):
        for role, members in value.items():
            bindings.append(_binding({"role": role, "members": members}, f"{where}.{role}"))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            bindings.append(_binding(item, f"{where}[{index}]"))
    else:
        raise WorldError(f"{where}: expected role -> members or a list of bindings")
    return Policy(bindings=bindings)


def _binding(value: object, where: str) -> Binding:
    data = _mapping(value, where, ("role", "members", "condition"))
    role = data.get("role")
    if not isinstance(role, str) or not _ROLE_RE.fullmatch(role):
        raise WorldError(f"{where}.role: {role!r} is not an IAM role name")
    members = _string_list(data.get("members"), f"{where}.members")
    if not members:
        raise WorldError(f"{where}.members: a binding needs at least one member")
    for member in members:
        if not _MEMBER_RE.fullmatch(member):
            raise WorldError(f"{where}.members: {member!r} is not an IAM principal")
    condition = None
    if data.get("condition") is not None:
        cond = _mapping(
            data["condition"], f"{where}.condition", ("title", "expression", "description")
        )
        if not isinstance(cond.get("expression"), str) or not cond["expression"].strip():
            raise WorldError(f"{where}.condition.expression: a condition needs a CEL expression")
        if not isinstance(cond.get("title"), str) or not cond["title"]:
            raise WorldError(f"{where}.condition.title: a condition needs a title")
        condition = {k: str(v) for k, v in cond.items()}
    return Binding(role=role, members=members, condition=condition)


def _mapping(value: object, where: str, allowed: tuple[str, ...] | None) -> dict[str, Any]:
    return mapping(value, where, allowed, WorldError)


def _string_list(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise WorldError(f"{where}: expected a list of strings, got {value!r}")
    return list(value)


def _check_name(name: str, where: str) -> None:
    if not _NAME_RE.fullmatch(name):
        raise WorldError(f"{where}: {name!r} is not a valid resource name")


def _location(value: object, where: str) -> str:
    if not isinstance(value, str) or not _LOCATION_RE.fullmatch(value):
        raise WorldError(f"{where}: expected a location like us-central1, got {value!r}")
    return value


def _version(value: object, where: str) -> str:
    try:
        return str(GKEVersion.parse(str(value))) if value is not None else _missing(where)
    except InvalidVersion as exc:
        raise WorldError(f"{where}: {exc}") from exc


def _missing(where: str) -> str:
    raise WorldError(f"{where}: required")


def _policy_out(policy: Policy, as_list: bool) -> Any:
    if as_list or policy.has_conditions:
        return [b.to_dict() for b in policy.bindings]
    roles: dict[str, list[str]] = {}
    for binding in policy.bindings:
        roles.setdefault(binding.role, []).extend(binding.members)
    return roles


def _roles_out(roles: dict[str, list[str]]) -> dict[str, Any]:
    return {rid: {"permissions": list(perms)} for rid, perms in roles.items()}


def _project_dict(project: Project) -> dict[str, Any]:
    out: dict[str, Any] = {"number": project.number}
    if project.parent is not None:
        out["parent"] = project.parent
    if project.custom_roles:
        out["custom_roles"] = _roles_out(project.custom_roles)
    if project.deny_policies:
        out["deny_policies"] = [d.to_dict() for d in project.deny_policies]
    if project.policy.bindings or project.project_iam_is_list:
        out["iam"] = _policy_out(project.policy, project.project_iam_is_list)
    if project.service_accounts:
        out["service_accounts"] = {
            e: {"disabled": sa.disabled} for e, sa in project.service_accounts.items()
        }
    if project.clusters:
        out["clusters"] = {
            name: {
                "location": c.location,
                "version": c.version,
                "node_pools": {
                    p.name: {
                        "version": p.version,
                        "service_account": p.service_account,
                        "oauth_scopes": list(p.oauth_scopes),
                        "nodes": list(p.nodes),
                        **(
                            {"private_nodes": p.private_nodes}
                            if p.private_nodes is not None
                            else {}
                        ),
                        **(
                            {"image_type": p.image_type} if p.image_type != "COS_CONTAINERD" else {}
                        ),
                        **({"image_streaming": True} if p.image_streaming else {}),
                    }
                    for p in c.node_pools.values()
                },
                **({"private_nodes": True} if c.private_nodes else {}),
                **({"network": c.network} if c.network != "default" else {}),
                **({"subnetwork": c.subnetwork} if c.subnetwork != "default" else {}),
                **({"autopilot": True} if c.autopilot else {}),
                **({"network_project": c.network_project} if c.network_project else {}),
            }
            for name, c in project.clusters.items()
        }
    if project.topics:
        out["topics"] = {
            n: ({"push_endpoint": t.push_endpoint} if t.push_endpoint else {})
            for n, t in project.topics.items()
        }
    if project.disabled_services:
        out["disabled_services"] = list(project.disabled_services)
    if project.vpcsc_policy:
        out["vpcsc_policy"] = dict(project.vpcsc_policy)
    if project.crypto_keys:
        out["crypto_keys"] = {
            path: {"state": key.state, "iam": _policy_out(key.policy, True)}
            for path, key in project.crypto_keys.items()
        }
    if project.secrets:
        out["secrets"] = {
            name: {"versions": dict(secret.versions), "iam": _policy_out(secret.policy, True)}
            for name, secret in project.secrets.items()
        }
    if project.repositories:
        out["repositories"] = {
            n: {
                "location": r.location,
                "iam": _policy_out(r.policy, True),
                "tags": list(r.tags),
                **({"mode": r.mode} if r.mode != "standard" else {}),
                **(
                    {
                        "manifests": {
                            t: {"media_type": m.media_type, "size_bytes": m.size_bytes}
                            for t, m in r.manifests.items()
                        }
                    }
                    if r.manifests
                    else {}
                ),
                **({"kms_key_name": r.kms_key_name} if r.kms_key_name else {}),
                **(
                    {"upstream_secret_version": r.upstream_secret_version}
                    if r.upstream_secret_version
                    else {}
                ),
                **({"upstreams": list(r.upstreams)} if r.upstreams else {}),
                **(
                    {"remote_upstream": r.remote_upstream}
                    if r.remote_upstream != "DOCKER_HUB"
                    else {}
                ),
            }
            for n, r in project.repositories.items()
        }
    for key, items in (
        ("subnetworks", project.subnetworks),
        ("routers", project.routers),
        ("firewalls", project.firewalls),
        ("routes", project.routes),
        ("dns_zones", project.dns_zones),
    ):
        if items:
            out[key] = {n: item.to_dict() for n, item in items.items()}
    return out
