"""What the Google APIs say about a failure, as typed values, and the ports that fetch it.

Pure values and Protocols only: the Google adapter (`pullfix.google`) implements the ports
with the official clients, in production and against the sandbox alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from pullfix.core.vpcsc import VpcScDenial
from pullfix.errors import PullfixError

if TYPE_CHECKING:
    from pullfix.core.policy import GrantCondition

__all__ = [
    "DOWNLOAD_PERMISSION",
    "DOWNLOAD_ROLES",
    "READER_ROLE",
    "STORAGE_READ_SCOPES",
    "AccessDenied",
    "AccessState",
    "AccessVerdict",
    "AccountInfo",
    "ClusterInfo",
    "ClusterNetwork",
    "DnsRecord",
    "DnsZone",
    "DockerImageInfo",
    "FirewallRule",
    "GoogleApiError",
    "GoogleApis",
    "GrantResult",
    "InstanceGroup",
    "NetworkGap",
    "NodePoolInfo",
    "PolicyView",
    "RouteInfo",
    "RouterNat",
    "SubnetInfo",
    "TransientError",
]

READER_ROLE = "roles/artifactregistry.reader"
# The permission a pull needs on the repository.
DOWNLOAD_PERMISSION = "artifactregistry.repositories.downloadArtifacts"
# Predefined and basic roles known to carry it, as Google's role reference lists them
# (https://cloud.google.com/iam/docs/roles-permissions/artifactregistry, "Included in
# roles"). A shortcut only: any other role is expanded with IAM roles.get.
DOWNLOAD_ROLES = frozenset(
    {
        READER_ROLE,
        "roles/artifactregistry.writer",
        "roles/artifactregistry.repoAdmin",
        "roles/artifactregistry.admin",
        "roles/artifactregistry.createOnPushWriter",
        "roles/artifactregistry.createOnPushRepoAdmin",
        "roles/artifactregistry.serviceAgent",
        "roles/cloudbuild.builds.builder",
        "roles/composer.worker",
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
    """pullfix itself may not read or write something (its own IAM), or it does not exist.

    `call` says what pullfix asked (set where a Google call is made), `needs` the
    permissions that call takes: so the ticket that ends an incident can name both."""

    def __init__(
        self, message: str, *, call: str = "", needs: tuple[str, ...] = (), answer: str = ""
    ) -> None:
        super().__init__(message)
        self.call = call
        self.needs = needs
        self.answer = answer or message  # what the API itself said


class GoogleApiError(PullfixError):
    """A Google API answered with an error (`pullfix.gcp.errors` has its kinds).

    `call` is what pullfix asked ("writing the IAM policy of projects/…"), set where the call
    is made; an error that has one is an answer about the world, and one that is not
    retryable ends its incident with an outcome instead of a redelivery loop."""

    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(code, status, message)
        self.code = code  # the HTTP status code
        self.status = status  # the google.rpc.Code name, "" when the answer named none
        self.message = message
        self.call = ""
        self.needs: tuple[str, ...] = ()
        # False for an answer without Google's error envelope (a proxy's page): it says
        # nothing about the resource asked for.
        self.from_google = True

    @property
    def retryable(self) -> bool:
        """Whether the same call may succeed later (429, 5xx: `pullfix.gcp.errors.Retryable`)."""
        return False


@dataclass(frozen=True, slots=True)
class InstanceGroup:
    """A node pool's managed instance group, from the pool's `instanceGroupUrls`."""

    project: str
    zone: str
    name: str

    @classmethod
    def from_url(cls, url: str) -> InstanceGroup | None:
        """`https://www.googleapis.com/compute/v1/projects/P/zones/Z/instanceGroupManagers/N`."""
        parts = url.split("/")
        try:
            at = parts.index("projects")
        except ValueError:
            return None
        tail = parts[at:]
        if len(tail) != 6 or tail[2] != "zones" or tail[4] != "instanceGroupManagers":
            return None
        return cls(project=tail[1], zone=tail[3], name=tail[5])

    def created(self, created_by: str, project_number: int | None) -> bool:
        """Whether an instance's `created-by` metadata names this group. Compute writes
        `projects/NUMBER/zones/ZONE/instanceGroupManagers/NAME`; the project is taken by
        id or number."""
        parts = created_by.strip("/").split("/")
        if (
            len(parts) != 6
            or parts[0] != "projects"
            or parts[2:5:2] != ["zones", "instanceGroupManagers"]
        ):
            return False
        projects = {self.project, str(project_number)} if project_number else {self.project}
        return parts[1] in projects and parts[3] == self.zone and parts[5] == self.name

    def may_hold(self, node: str) -> bool:
        """GKE names a group `<base>-grp` and its instances `<base>-<suffix>`: a name test
        that narrows the lookups, never a proof of membership."""
        base = self.name.removesuffix("-grp")
        return base != self.name and node.startswith(base + "-") and len(node) > len(base) + 1


@dataclass(frozen=True, slots=True)
class NodePoolInfo:
    name: str
    service_account: str  # "default" or an email, as the GKE API reports it
    oauth_scopes: tuple[str, ...]
    version: str
    instance_groups: tuple[InstanceGroup, ...]
    # GKE v1 NodeConfig `imageType` (COS_CONTAINERD, UBUNTU_CONTAINERD, WINDOWS_LTSC_CONTAINERD,
    # …): the node's OS and runtime. "" when the API did not say.
    image_type: str = ""
    # GKE v1 NodeConfig `gcfsConfig.enabled`: image streaming on the pool's nodes.
    image_streaming: bool = False

    @property
    def windows(self) -> bool:
        """Windows Server nodes (`WINDOWS_LTSC_CONTAINERD`, `WINDOWS_SAC_CONTAINERD`, …)."""
        return self.image_type.upper().startswith("WINDOWS")

    def has_storage_read_scope(self) -> bool:
        return any(scope in STORAGE_READ_SCOPES for scope in self.oauth_scopes)


@dataclass(frozen=True, slots=True)
class ClusterInfo:
    project: str
    location: str
    name: str
    master_version: str
    node_pools: tuple[NodePoolInfo, ...]
    # Autopilot (GKE v1 `Cluster.autopilot.enabled`): GKE makes and manages the node pools, so
    # none is the user's to create or recreate; the nodes' account and scopes are the cluster's
    # auto-provisioning defaults (`autoscaling.autoprovisioningNodePoolDefaults`), set when
    # the cluster is created (https://cloud.google.com/kubernetes-engine/docs/reference/rest/
    # v1/projects.locations.clusters#Cluster, #Autopilot, #AutoprovisioningNodePoolDefaults).
    autopilot: bool = False
    autoprovisioning_account: str | None = None  # "default" or an email; None: not set
    autoprovisioning_scopes: tuple[str, ...] = ()

    def candidate_groups(self, node: str) -> list[tuple[NodePoolInfo, InstanceGroup]]:
        """The pools' instance groups whose names could hold the node (GKE's naming). Only
        candidates: membership is proven by the instance's own `created-by` metadata."""
        return [
            (pool, group)
            for pool in self.node_pools
            for group in pool.instance_groups
            if group.may_hold(node)
        ]


@dataclass(frozen=True, slots=True)
class DockerImageInfo:
    """An image as Artifact Registry describes it (`dockerImages.get`: `name`, `mediaType`,
    `imageSizeBytes`; https://cloud.google.com/artifact-registry/docs/reference/rest/v1/
    projects.locations.repositories.dockerImages#DockerImage)."""

    name: str
    media_type: str  # the manifest's media type ("" when the API did not say)
    size_bytes: int | None  # the calculated size of the image (None when not reported)


@dataclass(frozen=True, slots=True)
class AccountInfo:
    email: str
    exists: bool
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class Binding:
    role: str
    members: frozenset[str]
    condition: str | None = None  # "title: expression" of a conditional binding

    @property
    def conditional(self) -> bool:
        return self.condition is not None


@dataclass(frozen=True)
class PolicyView:
    """An IAM policy as read at version 3, with the adapter's own copy (Google's `Policy`
    JSON) kept for writing."""

    bindings: tuple[Binding, ...]
    etag: bytes
    raw: Any = field(default=None, compare=False, repr=False)


class AccessState(StrEnum):
    """Whether the node account may download from the repository, as IAM evaluates it."""

    GRANTED = "granted"  # an allow binding applies and no deny rule blocks it
    DENIED = "denied"  # an IAM deny policy blocks it, whatever the allow policies say
    NOT_GRANTED = "not_granted"  # no allow binding applies: a reader grant is the fix
    CONDITIONAL = "conditional"  # only a conditional binding could: an admin scoped it
    UNKNOWN = "unknown"  # the evaluator cannot tell (a group, a role or a policy unread)


@dataclass(frozen=True, slots=True)
class AccessVerdict:
    """An access answer with what decided it, each item quotable in a ticket."""

    state: AccessState
    evaluator: str  # "Policy Troubleshooter" or "allow policies"
    via: tuple[str, ...] = ()  # the bindings, conditions, deny policies or gaps that decided
    # Principal access boundary policies that make the account ineligible for the resource
    # (or that the troubleshooter cannot evaluate): no grant fixes these. `state` is then
    # what the allow and deny policies alone say.
    boundary: tuple[str, ...] = ()

    def describe(self) -> str:
        return "; ".join(self.via) if self.via else self.state.value


@dataclass(frozen=True, slots=True)
class GrantResult:
    changed: bool
    attempts: int


@dataclass(frozen=True, slots=True)
class ClusterNetwork:
    """Where a cluster's nodes sit (GKE `clusters.get`): their network and subnetwork as
    `projects/P/global/networks/N` and `projects/P/regions/R/subnetworks/S` (the host project
    of a Shared VPC), and which pools have private nodes (no external addresses)."""

    network: str
    subnetwork: str
    private_pools: frozenset[str]  # the pools whose nodes have only internal addresses

    @property
    def network_project(self) -> str:
        return self.subnetwork.split("/")[1]

    @property
    def region(self) -> str:
        return self.subnetwork.split("/")[3]

    @property
    def subnetwork_name(self) -> str:
        return self.subnetwork.rsplit("/", 1)[-1]

    @property
    def network_name(self) -> str:
        return self.network.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class SubnetInfo:
    """A subnetwork (Compute `subnetworks.get`): its name and Private Google Access."""

    name: str
    private_google_access: bool


@dataclass(frozen=True, slots=True)
class RouterNat:
    """One Cloud NAT gateway of a Cloud Router (Compute `routers.list`, `nats[]`)."""

    router: str
    name: str
    network: str  # the router's network, by name
    source: str  # sourceSubnetworkIpRangesToNat
    subnetworks: tuple[str, ...]  # by name, for LIST_OF_SUBNETWORKS

    def covers(self, subnetwork: str) -> bool:
        """Whether this gateway translates the primary range of `subnetwork` (a name)."""
        if self.source in (
            "ALL_SUBNETWORKS_ALL_IP_RANGES",
            "ALL_SUBNETWORKS_ALL_PRIMARY_IP_RANGES",
        ):
            return True
        return self.source == "LIST_OF_SUBNETWORKS" and subnetwork in self.subnetworks


@dataclass(frozen=True, slots=True)
class FirewallRule:
    """An EGRESS VPC firewall rule (Compute `firewalls.list`) as far as port 443 goes."""

    name: str
    network: str  # by name
    priority: int
    deny: bool  # `denied` (else `allowed`)
    covers_443: bool  # its protocols and ports include tcp:443
    destination_ranges: tuple[str, ...]
    targeted: bool  # applies only to some instances (targetTags, targetServiceAccounts)
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class RouteInfo:
    """A route of the VPC network (Compute `routes.list`)."""

    name: str
    network: str  # by name
    dest_range: str
    internet_gateway: bool  # nextHopGateway is the default internet gateway
    targeted: bool  # applies only to instances with its tags


@dataclass(frozen=True, slots=True)
class DnsZone:
    """A Cloud DNS private managed zone (`managedZones.list`): its name, its DNS name (with
    the trailing dot, `pkg.dev.`), the VPC networks it is visible to (`projects/P/global/
    networks/N`, from `privateVisibilityConfig.networks[].networkUrl`), and whether it
    answers from elsewhere (a forwarding or peering zone: its records are not its own)."""

    name: str
    dns_name: str
    networks: tuple[str, ...]
    delegated: bool = False


@dataclass(frozen=True, slots=True)
class DnsRecord:
    """A resource record set of a managed zone (`resourceRecordSets.list`)."""

    name: str  # fully qualified, with the trailing dot
    type: str  # A, CNAME, ...
    rrdatas: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NetworkGap:
    """A piece missing from the path between a node pool and its registry, with what its
    fix names (from Google's APIs; of the event only `host`, and only a Google registry's
    name, `*.pkg.dev` or `*gcr.io`)."""

    # private_google_access | cloud_nat | egress_firewall | vip_route | dns_record | dns_address
    kind: str
    project: str  # the network's project (a Shared VPC's host)
    region: str
    network: str
    subnetwork: str
    detail: str = ""  # the denying rule, or the VIP range the route needs
    priority: int = 0  # the denying rule's priority
    router: str = ""  # a Cloud Router of the network in the region, to give the NAT to
    # A DNS gap: the private zone (its name and DNS name), the registry host it leaves
    # unanswered or answers wrongly, the VIP addresses the records should name, and the
    # records to write (`NAME TYPE RRDATA[,RRDATA]`, each set a whole new one).
    zone: str = ""
    zone_dns_name: str = ""
    host: str = ""
    records: tuple[tuple[str, str, tuple[str, ...]], ...] = ()


class GoogleApis(Protocol):
    """Everything pullfix asks Google; None/False for what does not exist."""

    def cluster(self, project: str, location: str, name: str) -> ClusterInfo | None: ...

    def project_number(self, project: str) -> int | None: ...

    def service_account(self, email: str) -> AccountInfo: ...

    def repository_exists(self, repository: str) -> bool: ...

    def tag_exists(self, repository: str, image_path: str, tag: str) -> bool: ...

    def repository_policy(self, repository: str) -> PolicyView: ...

    def node_created_by(self, project: str, zone: str, node: str) -> str | None:
        """The `created-by` metadata of instance `node` in `zone` ("" without it; None when
        there is no such instance)."""
        ...

    def repository_mode(self, repository: str) -> str | None:
        """The repository's mode (STANDARD_REPOSITORY, REMOTE_REPOSITORY, …); None: absent."""
        ...

    def troubleshoot(self, email: str, repository: str) -> AccessVerdict:
        """Policy Troubleshooter's answer for downloadArtifacts on the repository."""
        ...

    def ancestry(self, project: str) -> tuple[str, ...]:
        """The project's folders and organization, nearest first (`folders/N`, …)."""
        ...

    def resource_policy(self, resource: str) -> PolicyView:
        """The allow policy of a project, folder or organization (`folders/N`, …)."""
        ...

    def role_permissions(self, role: str) -> frozenset[str]:
        """The permissions a predefined or custom role includes (IAM roles.get)."""
        ...

    def add_member(
        self,
        resource: str,
        role: str,
        member: str,
        first: PolicyView | None = None,
        *,
        condition: GrantCondition | None = None,
    ) -> GrantResult: ...

    def remove_member(
        self, resource: str, role: str, member: str, condition_title: str | None = None
    ) -> GrantResult: ...

    def cluster_network(self, project: str, location: str, name: str) -> ClusterNetwork | None:
        """The cluster's network, subnetwork and private pools (GKE `clusters.get`)."""
        ...

    def subnetwork(self, project: str, region: str, name: str) -> SubnetInfo | None:
        """A subnetwork's Private Google Access (Compute `subnetworks.get`); None: absent."""
        ...

    def router_nats(self, project: str, region: str) -> tuple[RouterNat, ...]:
        """Every Cloud NAT gateway of the region's Cloud Routers (Compute `routers.list`)."""
        ...

    def egress_firewalls(self, project: str) -> tuple[FirewallRule, ...]:
        """The project's EGRESS firewall rules (Compute `firewalls.list`)."""
        ...

    def routes(self, project: str) -> tuple[RouteInfo, ...]:
        """The project's routes (Compute `routes.list`)."""
        ...

    def dns_zones(self, project: str) -> tuple[DnsZone, ...]:
        """The project's private Cloud DNS managed zones (`managedZones.list`)."""
        ...

    def dns_records(self, project: str, zone: str) -> tuple[DnsRecord, ...]:
        """A managed zone's record sets (`resourceRecordSets.list`)."""
        ...

    def docker_image(
        self, repository: str, image_path: str, reference: str
    ) -> DockerImageInfo | None:
        """The image a tag (or a `sha256:` digest) names in the repository, as Artifact
        Registry describes it; None when the tag or image does not exist."""
        ...

    def service_state(self, project: str, service: str) -> str:
        """A service's state in a project (Service Usage `services.get` `state`: ENABLED,
        DISABLED; "" when Service Usage does not know the service)."""
        ...

    def vpc_sc_denial_of(
        self, project: str, principal: str, start: str, end: str
    ) -> VpcScDenial | None:
        """The latest VPC Service Controls denial of `principal` on Artifact Registry in the
        project's policy audit log between `start` and `end` (RFC 3339); None: none."""
        ...

    def vpc_sc_denial(self, project: str, unique_id: str) -> VpcScDenial | None:
        """The VPC Service Controls denial with that identifier in the project's policy audit
        log (`cloudaudit.googleapis.com/policy`); None when the log holds none."""
        ...

    def repository_kms_key(self, repository: str) -> str:
        """The repository's customer-managed key (Artifact Registry `kmsKeyName`); "" for
        none, or for a repository that does not exist."""
        ...

    def crypto_key_state(self, key: str) -> str:
        """The state of the key's primary version (Cloud KMS `cryptoKeys.get`
        `primary.state`: ENABLED, DISABLED, DESTROYED, DESTROY_SCHEDULED, …); "" when the
        key has no primary version, or does not exist."""
        ...

    def crypto_key_policy(self, key: str) -> PolicyView:
        """The key's own allow policy (Cloud KMS `cryptoKeys.getIamPolicy`)."""
        ...

    def repository_upstream_secret(self, repository: str) -> str:
        """A remote repository's upstream password (Artifact Registry `remoteRepositoryConfig.
        upstreamCredentials.usernamePasswordCredentials.passwordSecretVersion`,
        `projects/P/secrets/S/versions/V`); "" for none, or for a repository that does not
        exist."""
        ...

    def secret_version_state(self, version: str) -> str:
        """A Secret Manager secret version's state (`versions.get` metadata, never its
        payload: ENABLED, DISABLED, DESTROYED); "" when the version does not exist."""
        ...

    def secret_policy(self, secret: str) -> PolicyView:
        """A Secret Manager secret's allow policy (`secrets.getIamPolicy`)."""
        ...

    def repository_upstreams(self, repository: str) -> tuple[str, ...]:
        """A virtual repository's upstream repositories (Artifact Registry
        `virtualRepositoryConfig.upstreamPolicies[].repository`,
        `projects/P/locations/L/repositories/R`), in the order listed; () for any other
        repository, or for a repository that does not exist."""
        ...

    def repository_remote_upstream(self, repository: str) -> str:
        """A remote repository's upstream (Artifact Registry `remoteRepositoryConfig`: a public
        repository's name such as DOCKER_HUB, or a custom or common repository's URI); "" for
        any other repository."""
        ...

    def vpcsc_policy(self, project: str, location: str) -> str:
        """Artifact Registry's VPC Service Controls setting for the remote repositories of a
        project and location (`getVpcscConfig` `vpcscPolicy`): DENY (the default) or ALLOW."""
        ...

    def upstream_policy(self, repository: str) -> PolicyView | None:
        """An upstream repository's allow policy (Artifact Registry `getIamPolicy`); None when
        the repository does not exist."""
        ...
