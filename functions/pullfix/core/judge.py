"""What the Google APIs said about one failure: the `Evidence` the diagnosis checks gather
and judge (`pullfix.checks`: one module per check, and the order they are judged in).

Pure values only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from pullfix.core.causes import Cause
from pullfix.core.imageref import ImageRef
from pullfix.core.model import (
    AccessVerdict,
    AccountInfo,
    ClusterInfo,
    ClusterNetwork,
    DnsRecord,
    DnsZone,
    DockerImageInfo,
    FirewallRule,
    NodePoolInfo,
    PolicyView,
    RouteInfo,
    RouterNat,
    SubnetInfo,
)
from pullfix.core.vpcsc import VpcScDenial

if TYPE_CHECKING:
    from concurrent.futures import Future

__all__ = ["IAM_CAUSES", "EventClaims", "Evidence", "NetworkFailure", "NetworkPath"]

# Offline causes that the node's identity, scopes, version or the repository can explain (and
# the image's manifest: containerd's refusal of a Docker schema 1 image is confirmed live).
IAM_CAUSES = frozenset(
    {
        Cause.PERMISSION,
        Cause.CROSS_PROJECT,
        Cause.UNKNOWN,
        Cause.NOT_FOUND,
        Cause.IMAGE_FORMAT,
    }
)


@dataclass(frozen=True)
class EventClaims:
    """What an event says about where it happened: to be verified, never trusted."""

    project: str | None
    location: str | None
    cluster: str | None
    node: str | None
    log_project: str | None = None  # the project of the entry's logName


@dataclass(frozen=True)
class NetworkFailure:
    """A failure the text puts on the network path, and what the text names of it (parsed
    with strict patterns, never trusted: the checks decide from Google's APIs)."""

    google: bool  # the registry is Google's (Artifact Registry, gcr.io)
    address: str | None = None  # the IPv4 address the node dialled, when the text names one
    # The Google registry host the text names (`lookup HOST`, `https://HOST/`), lowercased,
    # and whether its name lookup failed (`no such host`, `server misbehaving`).
    host: str | None = None
    lookup: bool = False


@dataclass
class NetworkPath:
    """What GKE and Compute said of the path from the failing pool's nodes (None: not read,
    or not needed); `unread` names each read that was refused."""

    cluster: ClusterNetwork | None = None
    subnet: SubnetInfo | None = None
    nats: tuple[RouterNat, ...] | None = None
    firewalls: tuple[FirewallRule, ...] | None = None
    routes: tuple[RouteInfo, ...] | None = None
    # The private Cloud DNS zones of the network's project visible to the nodes' network, and
    # the records of the one that answers for the registry's host (None: not read).
    zones: tuple[DnsZone, ...] | None = None
    records: tuple[DnsRecord, ...] | None = None
    unread: list[str] = field(default_factory=list)


@dataclass
class Evidence:
    """What the APIs said, gathered step by step; None means not asked (or not needed)."""

    cluster: ClusterInfo | None = None
    pool: NodePoolInfo | None = None
    unverified: str | None = None
    image: ImageRef | None = None
    repository: str | None = None
    account_email: str | None = None
    account: AccountInfo | None = None
    repository_exists: bool | None = None
    tag_exists: bool | None = None
    verdict: AccessVerdict | None = None  # may the account download? (None: not asked)
    policy_error: str | None = None
    repository_policy: PolicyView | None = None
    notes: list[str] = field(default_factory=list)
    claims: EventClaims | None = None  # what verification checks (None: nothing to verify)
    # The troubleshooter's answer, when the engine asked it ahead of the access check.
    troubleshooting: Future[AccessVerdict] | None = field(default=None, repr=False, compare=False)
    # A failure on the network path (set for `network` failures), and what the network
    # check read of that path.
    network_failure: NetworkFailure | None = None
    network: NetworkPath | None = None
    # The image's manifest as Artifact Registry describes it (`pullfix.checks.manifest`), and
    # whether it was asked (None with asked: absent, or pullfix may not read it).
    docker_image: DockerImageInfo | None = None
    docker_image_asked: bool = False
    # The event's text says the pull was cancelled (`context canceled`): the image's size is
    # asked (`pullfix.checks.image_size`).
    pull_cancelled: bool = False
    # The Artifact Registry API's state in the repository's project (Service Usage
    # `services.get` `state`: ENABLED, DISABLED); None: not asked.
    ar_api_state: str | None = None
    ar_api_error: str | None = None  # why pullfix cannot tell that state (a denial)
    # The `vpcServiceControlsUniqueIdentifier` the event's text carries (to be looked up, never
    # trusted), and what the repository project's policy audit log says of it.
    vpc_sc_id: str | None = None
    vpc_sc_denial: VpcScDenial | None = None
    vpc_sc_looked_up: bool = False
    vpc_sc_error: str | None = None  # why pullfix cannot read that log (a denial)
    # The event's time, where its text shows the registry refusing without an identifier
    # (containerd's bare `403 Forbidden`): the policy audit log is asked by the verified node
    # account and that time instead.
    refused_at: datetime | None = None
    # The repository's customer-managed key (Artifact Registry `kmsKeyName`; "" for none), its
    # primary version's state (Cloud KMS `cryptoKeys.get` `primary.state`), whether Artifact
    # Registry's service agent holds the Encrypter/Decrypter role on the key or its project
    # (None: not known), and why pullfix cannot tell (a denial).
    kms_key: str | None = None
    kms_key_state: str | None = None
    kms_agent: str | None = None
    kms_agent_holds_role: bool | None = None
    kms_error: str | None = None
    # A remote repository's upstream password version (Artifact Registry `remoteRepositoryConfig
    # .upstreamCredentials.usernamePasswordCredentials.passwordSecretVersion`; "" for none), its
    # state (Secret Manager `versions.get` `state`; "" for a version that does not exist),
    # Artifact Registry's service agent, whether it may access the secret (None: not known),
    # and why pullfix cannot tell (a denial).
    upstream_secret: str | None = None
    upstream_secret_state: str | None = None
    upstream_agent: str | None = None
    upstream_agent_can_access: bool | None = None
    upstream_error: str | None = None
    # A virtual repository's upstream repositories (Artifact Registry `virtualRepositoryConfig.
    # upstreamPolicies[].repository`; () for none) and those Artifact Registry's service agent
    # holds no reading role on (None: not known).
    upstreams: tuple[str, ...] | None = None
    upstreams_unreadable: tuple[str, ...] | None = None
    # A remote repository's upstream outside Google (Artifact Registry `remoteRepositoryConfig`;
    # "" for none), Artifact Registry's VPC Service Controls setting for remote repositories in
    # its project and location (`getVpcscConfig`: DENY, ALLOW), and why pullfix cannot tell it.
    remote_upstream: str | None = None
    remote_vpcsc_policy: str | None = None
    remote_vpcsc_error: str | None = None

    @property
    def image_missing(self) -> bool:
        """Whether the registry said the tag or the repository does not exist."""
        return self.tag_exists is False or self.repository_exists is False

    @property
    def repository_project(self) -> str | None:
        return self.repository.split("/")[1] if self.repository else None
