"""Network: the path from the failing pool's nodes to the registry, as GKE and Compute state it.

A pull that times out, or whose DNS lookup fails, says nothing of why; the live configuration
does. For a failure the text puts on the network path (`dial tcp …: i/o timeout`, `lookup …:
server misbehaving`, `no route to host`, not a TLS or certificate error), this check reads:

- whether the pool's nodes are private (GKE `clusters.get`: the pool's
  `networkConfig.enablePrivateNodes`, else the cluster's `networkConfig.defaultEnablePrivateNodes`
  or `privateClusterConfig.enablePrivateNodes`) and their subnetwork (`networkConfig.subnetwork`,
  in the host project for a Shared VPC):
  https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters#Cluster
- Private Google Access on that subnetwork (Compute `subnetworks.get`, `privateIpGoogleAccess`):
  https://cloud.google.com/compute/docs/reference/rest/v1/subnetworks/get
- Cloud NAT on the region's Cloud Routers of that network (Compute `routers.list`, `nats[]`:
  `sourceSubnetworkIpRangesToNat` is ALL_SUBNETWORKS_ALL_IP_RANGES,
  ALL_SUBNETWORKS_ALL_PRIMARY_IP_RANGES, or LIST_OF_SUBNETWORKS naming the subnetwork in
  `subnetworks[].name`): https://cloud.google.com/compute/docs/reference/rest/v1/routers/list
- EGRESS firewall rules denying tcp:443 (Compute `firewalls.list`: `direction`, `priority`,
  `denied`/`allowed`, `destinationRanges`, `targetTags`, `targetServiceAccounts`, `disabled`;
  the lowest priority number wins, and a deny wins over an allow of the same priority):
  https://cloud.google.com/compute/docs/reference/rest/v1/firewalls/list,
  https://cloud.google.com/firewall/docs/firewalls#priority_order_for_firewall_rules
- for an address of `restricted.googleapis.com` (199.36.153.4/30) or `private.googleapis.com`
  (199.36.153.8/30), the route that takes it (Compute `routes.list`, `destRange`,
  `nextHopGateway` the default internet gateway):
  https://cloud.google.com/vpc/docs/configure-private-google-access#config-routing
- for a Google registry host (`*.pkg.dev`, `*gcr.io`) the text names, the Cloud DNS private
  zones of the network's project (a Shared VPC's host project) visible to the nodes' network
  (Cloud DNS v1 `managedZones.list`, `GET https://dns.googleapis.com/dns/v1/projects/{project}/
  managedZones`, `privateVisibilityConfig.networks[].networkUrl`, paged by `nextPageToken`:
  https://cloud.google.com/dns/docs/reference/v1/managedZones/list) and the records of the most
  specific one whose `dnsName` covers the host (`resourceRecordSets.list`, `GET .../managedZones/
  {zone}/rrsets`: https://cloud.google.com/dns/docs/reference/v1/resourceRecordSets/list).
  Private Google Access to `private.googleapis.com` or `restricted.googleapis.com` needs such a
  zone to send the registry's names to the VIP: for Artifact Registry the zone `pkg.dev.` with an
  A record `pkg.dev.` naming the four addresses of the VIP and a CNAME `*.pkg.dev.` to
  `pkg.dev.`, for Container Registry likewise `gcr.io.`
  (https://cloud.google.com/vpc/docs/configure-private-google-access#config-domain,
  https://cloud.google.com/vpc-service-controls/docs/set-up-gke). The most specific private zone
  bound to the network answers for every name under its DNS name, and a name it holds no record
  for does not exist (https://cloud.google.com/dns/docs/zones/zones-overview,
  https://cloud.google.com/dns/docs/vpc-name-res-order): where the text says the host's lookup
  failed (`no such host`, `server misbehaving`) and that zone has no record answering the host
  (by its name or a wildcard), the gap is that record (`dns_record`); where its records answer
  the host with public addresses outside the VIP ranges, or mix the restricted and private
  VIPs, the gap is the record (`dns_address`); where they answer a VIP, that VIP's route and
  Private Google Access are judged as for an address the text dialled. A forwarding or peering
  zone, an internal address (a Private Service Connect endpoint, not read), or a CNAME out of
  the zone to another name: not judged. Zones bound from other projects
  (cross-project binding) are not read.

Private nodes reach Google's registries through Private Google Access, or through a Cloud NAT
gateway that serves their subnetwork (Google enables Private Google Access for the subnetwork
ranges a Public NAT gateway serves:
https://cloud.google.com/nat/docs/nat-product-interactions); registries outside Google only
through Cloud NAT (https://cloud.google.com/kubernetes-engine/docs/how-to/private-clusters,
https://cloud.google.com/vpc/docs/private-google-access). gcpdiag's lint rule
`gke/ERR/2022_002` (private clusters without Private Google Access or Cloud NAT) and its
`gke/image-pull` runbook check the same; this check names the missing piece and its fix. A
denied read is "cannot tell" for that piece. The cause stays `network`: no grant can fix it.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Any

from pullfix.checks.base import Check, Finding, Read
from pullfix.core.causes import Cause
from pullfix.core.classify import Diagnosis
from pullfix.core.judge import Evidence, NetworkFailure, NetworkPath
from pullfix.core.model import (
    AccessDenied,
    ClusterNetwork,
    DnsRecord,
    DnsZone,
    FirewallRule,
    NetworkGap,
    RouteInfo,
)
from pullfix.core.registry import RegistryFamily

if TYPE_CHECKING:
    from pullfix.engine.evidence import EvidenceCollector

__all__ = ["CHECK", "READS", "VIP_RANGES", "gaps", "network_failure"]

_COMPUTE = "compute.googleapis.com"
READS = (
    Read(
        "cluster_network",
        "cluster_network",
        "container.googleapis.com",
        "network,subnetwork,networkConfig(network,subnetwork,defaultEnablePrivateNodes),"
        "privateClusterConfig/enablePrivateNodes,nodePools(name,networkConfig/enablePrivateNodes)",
        ("container.clusters.get",),
        60.0,
    ),
    Read(
        "subnetwork",
        "subnetwork",
        _COMPUTE,
        "name,privateIpGoogleAccess",
        ("compute.subnetworks.get",),
        60.0,
    ),
    Read(
        "router_nats",
        "router_nats",
        _COMPUTE,
        "items(name,network,nats(name,sourceSubnetworkIpRangesToNat,subnetworks/name))",
        ("compute.routers.list",),
        60.0,
    ),
    Read(
        "egress_firewalls",
        "egress_firewalls",
        _COMPUTE,
        "items(name,network,direction,priority,allowed,denied,destinationRanges,targetTags,"
        "targetServiceAccounts,disabled)",
        ("compute.firewalls.list",),
        60.0,
    ),
    Read(
        "routes",
        "routes",
        _COMPUTE,
        "items(name,network,destRange,nextHopGateway,tags)",
        ("compute.routes.list",),
        60.0,
    ),
    Read(
        "dns_zones",
        "dns_zones",
        "dns.googleapis.com",
        "managedZones(name,dnsName,visibility,privateVisibilityConfig/networks/networkUrl,"
        "forwardingConfig/targetNameServers,peeringConfig/targetNetwork/networkUrl),nextPageToken",
        ("dns.managedZones.list",),
        60.0,
    ),
    Read(
        "dns_records",
        "dns_records",
        "dns.googleapis.com",
        "rrsets(name,type,rrdatas),nextPageToken",
        ("dns.resourceRecordSets.list",),
        60.0,
    ),
)

# The virtual IPs of Private Google Access's special domains
# (https://cloud.google.com/vpc/docs/configure-private-google-access#domain-options).
VIP_RANGES = {
    "restricted.googleapis.com": ipaddress.ip_network("199.36.153.4/30"),
    "private.googleapis.com": ipaddress.ip_network("199.36.153.8/30"),
}
# Wordings of a connection or lookup that did not get through (the path), as opposed to a
# TLS or certificate error (which a path with a proxy on it gives, or a clock).
_PATH_WORDS = (
    "i/o timeout",
    "dial tcp",
    "no such host",
    "server misbehaving",
    "connection refused",
    "connection reset by peer",
    "no route to host",
    "network is unreachable",
    "context deadline exceeded",
    "code = deadlineexceeded",
    "client.timeout exceeded",
    "tls handshake timeout",
)
_DIALLED_RE = re.compile(r"dial tcp (\d{1,3}(?:\.\d{1,3}){3}):443\b")
# The host whose lookup failed (Go's net package: `lookup HOST on RESOLVER: no such host`,
# `lookup HOST: server misbehaving`), or the URL's host; only a Google registry's is kept.
_LOOKUP_RE = re.compile(r"\blookup ([A-Za-z0-9.-]{1,253})(?::| on )")
_URL_HOST_RE = re.compile(r"https://([A-Za-z0-9.-]{1,253})[/:\"]")
_GOOGLE_HOST_RE = re.compile(r"(?:[a-z0-9-]{1,63}\.)*(?:pkg\.dev|gcr\.io)")
_LOOKUP_FAILED = ("no such host", "server misbehaving")


def network_failure(offline: Diagnosis, message: str) -> NetworkFailure | None:
    """What a `network` failure's text names of the path (None: not a path failure). The
    message is only matched, never trusted: an address it names is checked against
    Google's configuration, and enters no command."""
    if offline.cause is not Cause.NETWORK:
        return None
    words = (offline.words or "").lower()
    if not any(word in words for word in _PATH_WORDS):
        return None
    address = None
    found = _DIALLED_RE.findall(message[-4096:])
    if found:
        try:
            address = str(ipaddress.IPv4Address(found[-1]))
        except ValueError:
            address = None
    vip = address is not None and _vip(address) is not None
    tail = message[-4096:]
    looked_up = _LOOKUP_RE.findall(tail)
    named = looked_up or _URL_HOST_RE.findall(tail)
    host = named[-1].lower().rstrip(".") if named else None
    if host is not None and not _GOOGLE_HOST_RE.fullmatch(host):
        host = None
    lowered = tail.lower()
    lookup = bool(looked_up) and any(word in lowered for word in _LOOKUP_FAILED)
    google = offline.family is RegistryFamily.GOOGLE or vip or host is not None
    return NetworkFailure(google=google, address=address, host=host, lookup=lookup and bool(host))


def _vip(address: str) -> str | None:
    ip = ipaddress.IPv4Address(address)
    return next((name for name, net in VIP_RANGES.items() if ip in net), None)


def wants(evidence: Evidence) -> bool:
    return (
        evidence.network_failure is not None
        and evidence.network is None
        and evidence.unverified is None
        and evidence.cluster is not None
        and evidence.pool is not None
    )


def gather(collector: EvidenceCollector, evidence: Evidence) -> None:
    """The pool's network path, each read that is refused written down as unread."""
    cluster, failure = evidence.cluster, evidence.network_failure
    assert cluster is not None and failure is not None
    apis = collector.apis
    path = evidence.network = NetworkPath()
    try:
        path.cluster = apis.cluster_network(cluster.project, cluster.location, cluster.name)
    except AccessDenied as exc:
        path.unread.append(f"the cluster's network: {exc}")
    where = path.cluster
    if where is None:
        return
    project, region = where.network_project, where.region
    try:
        path.firewalls = apis.egress_firewalls(project)
    except AccessDenied as exc:
        path.unread.append(f"the network's firewall rules: {exc}")
    if failure.host is not None and (failure.address is None or _vip(failure.address) is None):
        _gather_dns(collector, path, failure.host)
    assert evidence.pool is not None
    if evidence.pool.name not in where.private_pools:
        return  # nodes with external addresses: no NAT, Private Google Access or VIP route
    try:
        path.subnet = apis.subnetwork(project, region, where.subnetwork_name)
    except AccessDenied as exc:
        path.unread.append(f"subnetwork {where.subnetwork_name}: {exc}")
    try:
        path.nats = apis.router_nats(project, region)
    except AccessDenied as exc:
        path.unread.append(f"the Cloud Routers of {region}: {exc}")
    if (failure.address is not None and _vip(failure.address) is not None) or _dns_vip(
        path, failure
    ):
        try:
            path.routes = apis.routes(project)
        except AccessDenied as exc:
            path.unread.append(f"the network's routes: {exc}")


def _gather_dns(collector: EvidenceCollector, path: NetworkPath, host: str) -> None:
    """The private zones of the network's project bound to its network, and the records of the
    one that answers for `host` (a Shared VPC's zones live in its host project)."""
    where = path.cluster
    assert where is not None
    project = where.network_project
    try:
        path.zones = collector.apis.dns_zones(project)
    except AccessDenied as exc:
        path.unread.append(f"the Cloud DNS zones of {project}: {exc}")
        return
    zone = _zone_for(path.zones, where.network, host)
    if zone is None or zone.delegated:
        return
    try:
        path.records = collector.apis.dns_records(project, zone.name)
    except AccessDenied as exc:
        path.unread.append(f"the records of Cloud DNS zone {zone.name} in {project}: {exc}")


def _fqdn(name: str) -> str:
    return name.lower().rstrip(".") + "."


def _zone_for(zones: tuple[DnsZone, ...], network: str, host: str) -> DnsZone | None:
    """The most specific private zone visible to `network` whose DNS name covers `host`."""
    fqdn = _fqdn(host)
    covering = [
        zone
        for zone in zones
        if network in zone.networks
        and (fqdn == _fqdn(zone.dns_name) or fqdn.endswith("." + _fqdn(zone.dns_name)))
    ]
    return max(covering, key=lambda zone: len(zone.dns_name), default=None)


# What a zone's records answer for a name: nothing (the name does not exist there), the
# addresses of an A record set (and that set's name), a VIP's name (a CNAME to it), or
# something pullfix does not follow (a CNAME elsewhere, a delegated zone).
_NOTHING, _ADDRESSES, _VIP_NAME, _ELSEWHERE = "nothing", "addresses", "vip", "elsewhere"


def _answer(
    records: tuple[DnsRecord, ...], zone: DnsZone, host: str
) -> tuple[str, str, tuple[str, ...]]:
    """What the zone answers for `host`: (kind, the record set's name, addresses or VIP name).
    A name's own records first, else the nearest wildcard (`*.` an ancestor inside the zone);
    a CNAME within the zone is followed, one to `private.googleapis.com.` or
    `restricted.googleapis.com.` is that VIP (both resolve to it,
    https://cloud.google.com/vpc/docs/configure-private-google-access#domain-options)."""
    apex = _fqdn(zone.dns_name)
    by_name: dict[str, list[DnsRecord]] = {}
    for record in records:
        by_name.setdefault(_fqdn(record.name), []).append(record)
    name = _fqdn(host)
    for _ in range(8):  # CNAME hops within the zone
        found = _records_for(by_name, name, apex)
        if not found:
            return _NOTHING, name, ()
        cname = next((r for r in found if r.type == "CNAME" and r.rrdatas), None)
        if cname is None:
            a = next((r for r in found if r.type == "A"), None)
            return (_ADDRESSES, _fqdn(a.name), a.rrdatas) if a else (_NOTHING, name, ())
        target = _fqdn(cname.rrdatas[0])
        if target[:-1] in VIP_RANGES:
            return _VIP_NAME, _fqdn(cname.name), (target[:-1],)
        if not (target == apex or target.endswith("." + apex)):
            return _ELSEWHERE, _fqdn(cname.name), ()
        name = target
    return _ELSEWHERE, name, ()


def _records_for(
    by_name: dict[str, list[DnsRecord]], name: str, apex: str
) -> list[DnsRecord] | None:
    """The record sets answering `name`: its own, else the nearest wildcard inside the zone."""
    found = by_name.get(name)
    if found is not None:
        return found
    labels = name.split(".")
    for i in range(1, len(labels)):
        ancestor = ".".join(labels[i:])
        if ancestor != apex and not ancestor.endswith("." + apex):
            return None
        wildcard = by_name.get("*." + ancestor)
        if wildcard is not None or ancestor == apex:
            return wildcard
    return None


def _zone_answer(
    path: NetworkPath, failure: NetworkFailure
) -> tuple[DnsZone, tuple[str, str, tuple[str, ...]]] | None:
    """The zone answering for the failure's host and what it answers (None: not read, no
    such zone, or a delegated one)."""
    where = path.cluster
    if where is None or path.zones is None or path.records is None or failure.host is None:
        return None
    zone = _zone_for(path.zones, where.network, failure.host)
    if zone is None or zone.delegated:
        return None
    return zone, _answer(path.records, zone, failure.host)


def _dns_vip(path: NetworkPath, failure: NetworkFailure) -> str | None:
    """The VIP the private zone sends the failure's host to, when it names exactly one and
    the text names no address the node dialled (that address decides, not today's zone)."""
    if failure.address is not None:
        return None
    found = _zone_answer(path, failure)
    if found is None:
        return None
    kind, _, values = found[1]
    if kind == _VIP_NAME:
        return values[0]
    if kind != _ADDRESSES:
        return None
    vips = {_vip_of(value) for value in values}
    return vips.pop() if len(vips) == 1 and None not in vips else None


def _vip_of(value: str) -> str | None:
    try:
        return _vip(value)
    except ValueError:
        return None


def _public_outside(value: str) -> bool:
    """An address outside the VIPs that is public (an internal one may be a Private Service
    Connect endpoint for Google's APIs, which pullfix does not read)."""
    try:
        address = ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return _vip(value) is None and address.is_global


def _vip_addresses(vip: str) -> tuple[str, ...]:
    return tuple(str(address) for address in VIP_RANGES[vip])


def _gap_at(where: ClusterNetwork, kind: str, **fields: Any) -> NetworkGap:
    """A gap in the pool's network (its project, region, network and subnetwork)."""
    return NetworkGap(
        kind,
        project=where.network_project,
        region=where.region,
        network=where.network_name,
        subnetwork=where.subnetwork_name,
        **fields,
    )


def _dns_gap(path: NetworkPath, failure: NetworkFailure) -> NetworkGap | None:
    """The record the private zone lacks for the failure's host, or the one it answers
    wrongly (None: nothing DNS-wise that Google's APIs show missing)."""
    found = _zone_answer(path, failure)
    if found is None:
        return None
    zone, (kind, name, values) = found
    where = path.cluster
    assert where is not None and failure.host is not None
    apex = _fqdn(zone.dns_name)
    records = path.records or ()
    # The VIP the zone's other records name, else private.googleapis.com.
    named = {_vip_of(v) for r in records if r.type == "A" for v in r.rrdatas} - {None}
    vip = "restricted.googleapis.com" if "restricted.googleapis.com" in named else None
    vip = vip or next(iter(named), None) or "private.googleapis.com"

    def gap(
        kind: str, detail: str, write: tuple[tuple[str, str, tuple[str, ...]], ...]
    ) -> NetworkGap:
        return _gap_at(
            where,
            kind,
            detail=detail,
            zone=zone.name,
            zone_dns_name=apex,
            host=failure.host or "",
            records=write,
        )

    if kind == _NOTHING and failure.lookup:
        write: list[tuple[str, str, tuple[str, ...]]] = []
        if not any(_fqdn(r.name) == apex and r.type == "A" for r in records):
            write.append((apex, "A", _vip_addresses(vip)))
        if _fqdn(failure.host) != apex:
            write.append(("*." + apex, "CNAME", (apex,)))
        return gap("dns_record", vip, tuple(write))
    if kind == _ADDRESSES:
        vips = {v for v in map(_vip_of, values) if v is not None}
        if any(map(_public_outside, values)) or len(vips) > 1:
            chosen = vips.pop() if len(vips) == 1 else vip
            detail = ", ".join(values)
            return gap("dns_address", detail, ((name, "A", _vip_addresses(chosen)),))
    return None


def _contains(cidr: str, address: str | None) -> bool:
    """Whether the range holds `address`; without one, whether it holds every address."""
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    if address is None:
        return net.prefixlen == 0 and net.version == 4
    return ipaddress.IPv4Address(address) in net


def _blocking(
    rules: tuple[FirewallRule, ...], network: str, address: str | None
) -> FirewallRule | None:
    """The EGRESS rule that decides tcp:443 to `address` for every node, when it denies."""
    applicable = [
        r
        for r in rules
        if r.network == network
        and not r.disabled
        and not r.targeted
        and r.covers_443
        and any(_contains(cidr, address) for cidr in r.destination_ranges or ("0.0.0.0/0",))
    ]
    # The lowest priority number wins; at equal priority a deny wins over an allow.
    applicable.sort(key=lambda r: (r.priority, not r.deny))
    first = applicable[0] if applicable else None
    return first if first is not None and first.deny else None


def _route_for(routes: tuple[RouteInfo, ...], network: str, address: str) -> RouteInfo | None:
    """The most specific route of the network for every node that holds `address`."""
    matching = [
        r
        for r in routes
        if r.network == network and not r.targeted and _contains(r.dest_range, address)
    ]
    return max(
        matching,
        key=lambda r: ipaddress.ip_network(r.dest_range, strict=False).prefixlen,
        default=None,
    )


def gaps(evidence: Evidence) -> tuple[NetworkGap, ...]:
    """The pieces missing from the pool's path to its registry, as Google's APIs state it
    (pure: none where a read was refused)."""
    path, failure, pool = evidence.network, evidence.network_failure, evidence.pool
    if path is None or path.cluster is None or failure is None or pool is None:
        return ()
    where = path.cluster

    def gap(kind: str, detail: str = "", priority: int = 0, router: str = "") -> NetworkGap:
        return _gap_at(where, kind, detail=detail, priority=priority, router=router)

    found: list[NetworkGap] = []
    if path.firewalls is not None:
        deny = _blocking(path.firewalls, where.network_name, failure.address)
        if deny is not None:
            found.append(
                gap(
                    "egress_firewall",
                    detail=deny.name,
                    priority=deny.priority,
                )
            )
    dns = _dns_gap(path, failure)
    if dns is not None:
        found.append(dns)
    if pool.name not in where.private_pools:
        return tuple(found)
    nats = path.nats
    nat = (
        next(
            (
                n
                for n in nats
                if n.network == where.network_name and n.covers(where.subnetwork_name)
            ),
            None,
        )
        if nats is not None
        else None
    )
    router = next((n.router for n in nats or () if n.network == where.network_name), "")
    vip = _vip(failure.address) if failure.address is not None else _dns_vip(path, failure)
    pga = path.subnet.private_google_access if path.subnet is not None else None
    if vip is not None:
        # The VIPs are reached through Private Google Access only, over a route to them; the
        # address the text dialled, or the VIP the private zone sends the host to.
        address = failure.address or str(VIP_RANGES[vip].network_address)
        if pga is False:
            found.append(gap("private_google_access", detail=vip))
        if path.routes is not None:
            route = _route_for(path.routes, where.network_name, address)
            if route is None or not route.internet_gateway:
                found.append(gap("vip_route", detail=str(VIP_RANGES[vip])))
    elif failure.google:
        if pga is False and nats is not None and nat is None:
            found.append(gap("private_google_access", router=router))
    elif nats is not None and nat is None:
        found.append(gap("cloud_nat", router=router))
    return tuple(found)


def _describe(gap: NetworkGap) -> str:
    subnet = f"subnetwork {gap.subnetwork} ({gap.project}, {gap.region})"
    if gap.kind == "egress_firewall":
        return (
            f"firewall rule {gap.detail} (priority {gap.priority}) denies egress tcp:443 from "
            f"every node of network {gap.network} to the registry"
        )
    if gap.kind == "private_google_access" and gap.detail:
        return (
            f"the nodes are private and {subnet} has Private Google Access off: "
            f"{gap.detail} is reached through it only"
        )
    if gap.kind == "private_google_access":
        return (
            f"the nodes are private, {subnet} has Private Google Access off and no Cloud NAT "
            "gateway serves it: the nodes have no path to Google's registries"
        )
    if gap.kind == "dns_record":
        return (
            f"Cloud DNS private zone {gap.zone} ({gap.zone_dns_name}, project {gap.project}) "
            f"answers for {gap.host} on network {gap.network} and holds no record for it: the "
            f"name does not exist for the nodes (the lookup failed); it needs the records that "
            f"send it to {gap.detail}"
        )
    if gap.kind == "dns_address":
        return (
            f"Cloud DNS private zone {gap.zone} ({gap.zone_dns_name}, project {gap.project}) "
            f"answers {gap.host} with {gap.detail} on network {gap.network}: not the addresses "
            "of one Private Google Access VIP (private.googleapis.com 199.36.153.8/30 or "
            "restricted.googleapis.com 199.36.153.4/30)"
        )
    if gap.kind == "vip_route":
        return (
            f"network {gap.network} has no route for {gap.detail} to the default internet "
            "gateway: the nodes cannot reach the address the registry's name resolved to"
        )
    return (
        f"the nodes are private and no Cloud NAT gateway serves {subnet}: they have no path "
        "to registries outside Google"
    )


def judge(offline: Diagnosis, evidence: Evidence) -> Finding | None:
    path = evidence.network
    if offline.cause is not Cause.NETWORK or path is None:
        return None
    unread = tuple(f"pullfix cannot tell, it may not read {what}" for what in path.unread)
    found = gaps(evidence)
    if found:
        return Finding(Cause.NETWORK, (*map(_describe, found), *unread))
    where = path.cluster
    if where is None:
        return Finding(Cause.NETWORK, unread) if unread else None
    assert evidence.pool is not None
    if unread:
        return Finding(Cause.NETWORK, unread)
    if evidence.pool.name not in where.private_pools:
        read = "the nodes have external addresses and no egress firewall rule denies tcp:443"
    else:
        read = (
            f"the nodes are private, and subnetwork {where.subnetwork_name}'s path is in place "
            "(Private Google Access or Cloud NAT, routes, egress firewall rules)"
        )
    return Finding(
        Cause.NETWORK,
        (f"{read}: look at DNS, a proxy, or the registry's availability",),
    )


CHECK = Check(
    name="network",
    reads=READS,
    causes=frozenset({Cause.NETWORK}),
    judge=judge,
    gather=gather,
    wants=wants,
    summary=(
        "the failing pool's path to the registry: private nodes, Private Google Access, "
        "Cloud NAT, egress firewall rules, routes to Google's VIPs, the private DNS zones that "
        "send the registry's names to them"
    ),
    advice=(
        "enable Private Google Access on the nodes' subnetwork, add a Cloud NAT gateway for "
        "it, allow egress tcp:443, or add the private zone's records for the registry's names "
        "(no grant can fix a network path)"
    ),
)
