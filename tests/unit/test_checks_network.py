"""The network check's judge and parser, table-driven: what the text names of the path (real
texts), and which piece is missing for each state of the path Google's APIs describe."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pullfix.checks import judge as judge_all
from pullfix.checks.network import gaps, judge, network_failure
from pullfix.core.causes import Cause
from pullfix.core.classify import Diagnosis, classify_message
from pullfix.core.judge import Evidence, NetworkFailure, NetworkPath
from pullfix.core.model import (
    ClusterInfo,
    ClusterNetwork,
    DnsRecord,
    DnsZone,
    FirewallRule,
    NodePoolInfo,
    RouteInfo,
    RouterNat,
    SubnetInfo,
)
from pullfix.core.remediation import Context, ticket_draft
from tests.conftest import REPO

TEXTS = {
    t["name"]: t
    for t in json.loads((REPO / "tests/data/network/real_texts.json").read_text())["texts"]
}
POOL = NodePoolInfo("default-pool", "default", (), "1.29.4-gke.1043002", ())
CLUSTER = ClusterInfo("shop-prod", "us-central1", "c1", "1.29.4-gke.1043002", (POOL,))
NET = "projects/host-net/global/networks/shared"
SUBNET = "projects/host-net/regions/us-central1/subnetworks/gke-nodes"


def _where(private: bool = True) -> ClusterNetwork:
    return ClusterNetwork(NET, SUBNET, frozenset({"default-pool"} if private else ()))


def _nat(source: str, subnets: tuple[str, ...] = (), network: str = "shared") -> RouterNat:
    return RouterNat("edge", "egress", network, source, subnets)


def _rule(name: str, priority: int, deny: bool, **kw: Any) -> FirewallRule:
    spec: dict[str, Any] = {
        "network": "shared",
        "covers_443": True,
        "destination_ranges": ("0.0.0.0/0",),
        "targeted": False,
    }
    spec.update(kw)
    return FirewallRule(name, priority=priority, deny=deny, **spec)


DEFAULT_ROUTE = RouteInfo("default", "shared", "0.0.0.0/0", True, False)


def _evidence(
    failure: NetworkFailure,
    *,
    private: bool = True,
    pga: bool | None = False,
    nats: tuple[RouterNat, ...] | None = (),
    firewalls: tuple[FirewallRule, ...] | None = (),
    routes: tuple[RouteInfo, ...] | None = (DEFAULT_ROUTE,),
    unread: tuple[str, ...] = (),
    zones: tuple[DnsZone, ...] | None = None,
    records: tuple[DnsRecord, ...] | None = None,
) -> Evidence:
    return Evidence(
        cluster=CLUSTER,
        pool=POOL,
        network_failure=failure,
        network=NetworkPath(
            cluster=_where(private),
            subnet=SubnetInfo("gke-nodes", pga) if pga is not None else None,
            nats=nats,
            firewalls=firewalls,
            routes=routes,
            zones=zones,
            records=records,
            unread=list(unread),
        ),
    )


GOOGLE = NetworkFailure(google=True, address="173.194.205.82")
OUTSIDE = NetworkFailure(google=False, address="3.94.224.37")
LOOKUP = NetworkFailure(google=True)
PRIVATE_VIP = NetworkFailure(google=True, address="199.36.153.9")
RESTRICTED_VIP = NetworkFailure(google=True, address="199.36.153.5")


@pytest.mark.parametrize(
    ("name", "google", "address", "host"),
    [
        ("artifact_registry_private_cluster", True, "173.194.205.82", "us-east1-docker.pkg.dev"),
        ("docker_hub_timeout", False, "3.94.224.37", None),
        # A lookup that timed out is no answer: not a name the zone lacks.
        ("artifact_registry_lookup_timeout", True, None, "us-central1-docker.pkg.dev"),
    ],
)
def test_real_texts_name_the_path(
    name: str, google: bool, address: str | None, host: str | None
) -> None:
    text = TEXTS[name]
    offline = classify_message(text["message"], image=text["image"])
    assert offline.cause is Cause.NETWORK
    assert network_failure(offline, text["message"]) == NetworkFailure(google, address, host)


@pytest.mark.parametrize(
    "message",
    [
        # TLS and certificates: something on the path answered; no route or NAT explains it.
        "x509: certificate signed by unknown authority",
        "tls: failed to verify certificate: x509: certificate has expired or is not yet valid",
        "http: server gave HTTP response to HTTPS client",
    ],
)
def test_tls_errors_are_not_the_path(message: str) -> None:
    offline = classify_message(message, image="us-docker.pkg.dev/p/r/i:1")
    assert offline.cause is Cause.NETWORK
    assert network_failure(offline, message) is None


def test_other_causes_and_forged_addresses_read_nothing() -> None:
    denied = classify_message("403 Forbidden", image="us-docker.pkg.dev/p/r/i:1")
    assert network_failure(denied, "dial tcp 199.36.153.9:443: i/o timeout") is None
    offline = Diagnosis(Cause.NETWORK, (), words="i/o timeout")
    assert network_failure(offline, "dial tcp 999.1.1.1:443: i/o timeout") == NetworkFailure(
        False, None
    )


CASES: list[tuple[str, Evidence, list[str]]] = [
    # Google's registries: Private Google Access, or a Cloud NAT gateway serving the subnet.
    ("google, no PGA, no NAT", _evidence(GOOGLE), ["private_google_access"]),
    ("google, PGA on", _evidence(GOOGLE, pga=True), []),
    ("google, NAT for all", _evidence(GOOGLE, nats=(_nat("ALL_SUBNETWORKS_ALL_IP_RANGES"),)), []),
    (
        "google, NAT for primary ranges",
        _evidence(GOOGLE, nats=(_nat("ALL_SUBNETWORKS_ALL_PRIMARY_IP_RANGES"),)),
        [],
    ),
    (
        "google, NAT lists the subnet",
        _evidence(GOOGLE, nats=(_nat("LIST_OF_SUBNETWORKS", ("gke-nodes",)),)),
        [],
    ),
    (
        "google, NAT lists another subnet",
        _evidence(GOOGLE, nats=(_nat("LIST_OF_SUBNETWORKS", ("other",)),)),
        ["private_google_access"],
    ),
    (
        "google, NAT on another network",
        _evidence(GOOGLE, nats=(_nat("ALL_SUBNETWORKS_ALL_IP_RANGES", network="other"),)),
        ["private_google_access"],
    ),
    ("google, lookup, no PGA", _evidence(LOOKUP), ["private_google_access"]),
    ("google, public nodes", _evidence(GOOGLE, private=False), []),
    # Outside Google: Cloud NAT only.
    ("outside, no NAT", _evidence(OUTSIDE, pga=True), ["cloud_nat"]),
    ("outside, NAT", _evidence(OUTSIDE, nats=(_nat("ALL_SUBNETWORKS_ALL_IP_RANGES"),)), []),
    ("outside, public nodes", _evidence(OUTSIDE, private=False), []),
    # The VIPs: Private Google Access (NAT does not reach them) and a route to them.
    ("private VIP, PGA, default route", _evidence(PRIVATE_VIP, pga=True), []),
    (
        "private VIP, no PGA, NAT",
        _evidence(PRIVATE_VIP, nats=(_nat("ALL_SUBNETWORKS_ALL_IP_RANGES"),)),
        ["private_google_access"],
    ),
    (
        "restricted VIP, PGA, no route",
        _evidence(RESTRICTED_VIP, pga=True, routes=()),
        ["vip_route"],
    ),
    (
        "private VIP, a narrower route to an appliance",
        _evidence(
            PRIVATE_VIP,
            pga=True,
            routes=(
                DEFAULT_ROUTE,
                RouteInfo("appliance", "shared", "199.36.153.8/30", False, False),
            ),
        ),
        ["vip_route"],
    ),
    (
        "private VIP, a route for tagged instances only",
        _evidence(
            PRIVATE_VIP,
            pga=True,
            routes=(RouteInfo("tagged", "shared", "199.36.153.8/30", True, True),),
        ),
        ["vip_route"],
    ),
    # Egress firewall rules: the lowest priority number wins, a deny wins a tie.
    (
        "deny 443",
        _evidence(GOOGLE, private=False, firewalls=(_rule("no-out", 1000, True),)),
        ["egress_firewall"],
    ),
    (
        "allow above the deny",
        _evidence(
            GOOGLE,
            private=False,
            firewalls=(_rule("no-out", 1000, True), _rule("out", 900, False)),
        ),
        [],
    ),
    (
        "allow at the deny's priority",
        _evidence(
            GOOGLE,
            private=False,
            firewalls=(_rule("no-out", 1000, True), _rule("out", 1000, False)),
        ),
        ["egress_firewall"],
    ),
    (
        "deny for tagged instances",
        _evidence(GOOGLE, private=False, firewalls=(_rule("no-out", 1000, True, targeted=True),)),
        [],
    ),
    (
        "deny of another port",
        _evidence(
            GOOGLE, private=False, firewalls=(_rule("no-out", 1000, True, covers_443=False),)
        ),
        [],
    ),
    (
        "deny of another range",
        _evidence(
            GOOGLE,
            private=False,
            firewalls=(_rule("no-out", 1000, True, destination_ranges=("10.0.0.0/8",)),),
        ),
        [],
    ),
    (
        "deny of the address's range",
        _evidence(
            GOOGLE,
            private=False,
            firewalls=(_rule("no-out", 1000, True, destination_ranges=("173.194.0.0/16",)),),
        ),
        ["egress_firewall"],
    ),
    (
        "disabled deny",
        _evidence(GOOGLE, private=False, firewalls=(_rule("no-out", 1000, True, disabled=True),)),
        [],
    ),
    # A read refused: that piece is not judged.
    ("NAT unread", _evidence(OUTSIDE, nats=None, unread=("routers",)), []),
    ("subnet unread", _evidence(GOOGLE, pga=None, unread=("subnet",)), []),
]


@pytest.mark.parametrize(("name", "evidence", "kinds"), CASES, ids=[c[0] for c in CASES])
def test_the_missing_piece(name: str, evidence: Evidence, kinds: list[str]) -> None:
    assert [gap.kind for gap in gaps(evidence)] == kinds


def test_a_finding_names_the_piece_first_and_reads_refused_say_so() -> None:
    offline = Diagnosis(Cause.NETWORK, ("the node could not reach the registry: i/o timeout",))
    found = judge(offline, _evidence(GOOGLE))
    assert found is not None and found.cause is Cause.NETWORK
    assert (
        "subnetwork gke-nodes (host-net, us-central1) has Private Google Access off"
        in (found.decisive[0])
    )
    found = judge(offline, _evidence(OUTSIDE, nats=None, unread=("the Cloud Routers",)))
    assert found is not None
    assert found.decisive == ("pullfix cannot tell, it may not read the Cloud Routers",)
    found = judge(offline, _evidence(GOOGLE, pga=True))
    assert found is not None and "look at DNS" in found.decisive[0]
    # The check says nothing of causes other than `network`.
    assert judge(Diagnosis(Cause.PERMISSION, ()), _evidence(GOOGLE)) is None


def test_the_final_diagnosis_keeps_network_and_puts_the_piece_first() -> None:
    offline = Diagnosis(Cause.NETWORK, ("the node could not reach the registry: i/o timeout",))
    final = judge_all(offline, _evidence(GOOGLE))
    assert final.cause is Cause.NETWORK
    assert "Private Google Access off" in final.reasons[0]
    assert final.reasons[1] == offline.reasons[0]


@pytest.mark.parametrize(
    ("evidence", "command", "terraform"),
    [
        (
            _evidence(GOOGLE),
            "gcloud compute networks subnets update gke-nodes --project=host-net "
            "--region=us-central1 --enable-private-ip-google-access",
            "private_ip_google_access = true",
        ),
        (
            _evidence(OUTSIDE, pga=True),
            "gcloud compute routers nats create gke-nodes-nat --project=host-net "
            "--router=shared-nat-router --region=us-central1 --auto-allocate-nat-external-ips "
            "--nat-custom-subnet-ip-ranges=gke-nodes",
            'resource "google_compute_router_nat"',
        ),
        (
            _evidence(RESTRICTED_VIP, pga=True, routes=()),
            "gcloud compute routes create restricted-googleapis --project=host-net "
            "--network=shared --destination-range=199.36.153.4/30 "
            "--next-hop-gateway=default-internet-gateway",
            'next_hop_gateway = "default-internet-gateway"',
        ),
        (
            _evidence(GOOGLE, private=False, firewalls=(_rule("no-out", 1000, True),)),
            "gcloud compute firewall-rules create allow-registry-egress-shared "
            "--project=host-net --network=shared --direction=EGRESS --action=ALLOW "
            "--rules=tcp:443 --destination-ranges=0.0.0.0/0 --priority=999",
            "priority           = 999",
        ),
    ],
)
def test_each_piece_has_its_exact_fix(evidence: Evidence, command: str, terraform: str) -> None:
    draft = ticket_draft(Context(cause=Cause.NETWORK, network_gaps=gaps(evidence)))
    assert command in draft["commands"]
    assert terraform in draft["terraform"]


def test_a_nat_goes_on_the_router_the_region_has() -> None:
    evidence = _evidence(OUTSIDE, nats=(_nat("LIST_OF_SUBNETWORKS", ("other",)),))
    draft = ticket_draft(Context(cause=Cause.NETWORK, network_gaps=gaps(evidence)))
    assert not any("routers create" in c for c in draft["commands"])
    assert any("--router=edge" in c for c in draft["commands"])


def test_names_from_the_apis_are_quoted_in_commands_and_terraform() -> None:
    evidence = _evidence(OUTSIDE, pga=True)
    gap = gaps(evidence)[0]
    odd = type(gap)(**{**{f: getattr(gap, f) for f in gap.__slots__}, "subnetwork": "a b;$(x)"})
    draft = ticket_draft(Context(cause=Cause.NETWORK, network_gaps=(odd,)))
    assert "--nat-custom-subnet-ip-ranges='a b;$(x)'" in draft["commands"][-1]
    assert "$(x)" in draft["terraform"] and "${" not in draft["terraform"]


# -- DNS for the VIPs -----------------------------------------------------------------------

HOST = "us-central1-docker.pkg.dev"
# Go's resolver's words for a name the DNS server says does not exist, and for an answer it
# could not use, on the shape of the lookup text above (constructed: Cloud DNS's private zone
# answers NXDOMAIN for a name it holds no record of).
NO_SUCH_HOST = TEXTS["artifact_registry_lookup_timeout"]["message"].replace(
    f"lookup {HOST}: i/o timeout", f"lookup {HOST} on 169.254.169.254:53: no such host"
)
MISBEHAVING = NO_SUCH_HOST.replace("no such host", "server misbehaving")
NX = NetworkFailure(google=True, host=HOST, lookup=True)
TIMED_OUT = NetworkFailure(google=True, host=HOST, lookup=False)
ZONE = DnsZone("registry", "pkg.dev.", (NET,))
APEX = DnsRecord("pkg.dev.", "A", ("199.36.153.4", "199.36.153.5", "199.36.153.6", "199.36.153.7"))
WILDCARD = DnsRecord("*.pkg.dev.", "CNAME", ("pkg.dev.",))
SOA = (DnsRecord("pkg.dev.", "SOA", ("ns-gcp-private.googledomains.com. x 1 2 3 4 5",)),)


def test_a_failed_lookup_names_its_host() -> None:
    for message in (NO_SUCH_HOST, MISBEHAVING):
        offline = classify_message(message, image=f"{HOST}/p/r/i:1")
        assert offline.cause is Cause.NETWORK
        assert network_failure(offline, message) == NX
    # A host outside Google's registries is not looked up in Google's zones.
    hub = NO_SUCH_HOST.replace(HOST, "registry-1.docker.io")
    offline = classify_message(hub, image="busybox:1")
    found = network_failure(offline, hub)
    assert found is not None and found.host is None and not found.lookup


def _dns(failure: NetworkFailure, records: tuple[DnsRecord, ...], **kw: Any) -> Evidence:
    kw.setdefault("zones", (ZONE,))
    return _evidence(failure, pga=True, records=records, **kw)


DNS_CASES: list[tuple[str, Evidence, list[str]]] = [
    ("zone with no record for the host", _dns(NX, SOA), ["dns_record"]),
    ("zone with the apex only", _dns(NX, (*SOA, APEX)), ["dns_record"]),
    ("zone whole", _dns(NX, (*SOA, APEX, WILDCARD)), []),
    ("the host's own record", _dns(NX, (DnsRecord(HOST + ".", "A", APEX.rrdatas),)), []),
    (
        "a CNAME to restricted.googleapis.com",
        _dns(NX, (DnsRecord("*.pkg.dev.", "CNAME", ("restricted.googleapis.com.",)),)),
        [],
    ),
    # The verdict follows the zone, not the text: a lookup that timed out is not NXDOMAIN.
    ("no record, lookup timed out", _dns(TIMED_OUT, SOA), []),
    # A zone the nodes' network does not see answers nothing for them.
    (
        "zone on another network",
        _dns(NX, SOA, zones=(DnsZone("registry", "pkg.dev.", ("projects/x/global/networks/y",)),)),
        [],
    ),
    (
        "a forwarding zone",
        _dns(NX, SOA, zones=(DnsZone("registry", "pkg.dev.", (NET,), delegated=True),)),
        [],
    ),
    (
        "the most specific zone wins",
        _dns(NX, SOA, zones=(ZONE, DnsZone("ar", HOST + ".", (NET,)))),
        ["dns_record"],
    ),
    (
        "public addresses outside the VIPs",
        _dns(NX, (DnsRecord("pkg.dev.", "A", ("142.250.1.1",)), WILDCARD)),
        ["dns_address"],
    ),
    (
        "restricted and private mixed",
        _dns(NX, (DnsRecord("pkg.dev.", "A", ("199.36.153.4", "199.36.153.8")), WILDCARD)),
        ["dns_address"],
    ),
    # An internal address may be a Private Service Connect endpoint: not judged.
    ("an internal address", _dns(NX, (DnsRecord("pkg.dev.", "A", ("10.0.0.9",)), WILDCARD)), []),
    # The zone sends the host to the restricted VIP: its route and Private Google Access.
    ("VIP by DNS, no route", _dns(TIMED_OUT, (APEX, WILDCARD), routes=()), ["vip_route"]),
    (
        "VIP by DNS, PGA off",
        _evidence(TIMED_OUT, pga=False, zones=(ZONE,), records=(APEX, WILDCARD)),
        ["private_google_access"],
    ),
    # Refused reads: that piece is not judged.
    ("zones unread", _dns(NX, SOA, zones=None, unread=("zones",)), []),
    ("records unread", _dns(NX, None, unread=("records",)), []),
]


@pytest.mark.parametrize(("name", "evidence", "kinds"), DNS_CASES, ids=[c[0] for c in DNS_CASES])
def test_the_dns_piece(name: str, evidence: Evidence, kinds: list[str]) -> None:
    assert [gap.kind for gap in gaps(evidence)] == kinds


def test_a_missing_record_is_named_with_its_exact_fix() -> None:
    offline = Diagnosis(Cause.NETWORK, ("the node could not resolve the registry",))
    found = judge(offline, _dns(NX, SOA))
    assert found is not None
    assert found.decisive[0].startswith(
        f"Cloud DNS private zone registry (pkg.dev., project host-net) answers for {HOST} on "
        "network shared and holds no record for it"
    )
    draft = ticket_draft(Context(cause=Cause.NETWORK, network_gaps=gaps(_dns(NX, SOA))))
    assert draft["commands"] == [
        "gcloud dns record-sets create pkg.dev. --project=host-net --zone=registry --type=A "
        "--ttl=300 --rrdatas=199.36.153.8,199.36.153.9,199.36.153.10,199.36.153.11",
        "gcloud dns record-sets create '*.pkg.dev.' --project=host-net --zone=registry "
        "--type=CNAME --ttl=300 --rrdatas=pkg.dev.",
    ]
    assert 'resource "google_dns_record_set"' in draft["terraform"]
    assert 'rrdatas      = ["pkg.dev."]' in draft["terraform"]
    # A zone that names the restricted VIP elsewhere gets the restricted VIP.
    wildcard_only = gaps(_dns(NX, (*SOA, DnsRecord("x.pkg.dev.", "A", APEX.rrdatas))))
    assert wildcard_only[0].records[0] == ("pkg.dev.", "A", APEX.rrdatas)


def test_a_record_answering_wrong_addresses_is_updated() -> None:
    evidence = _dns(NX, (DnsRecord("pkg.dev.", "A", ("142.250.1.1",)), WILDCARD))
    draft = ticket_draft(Context(cause=Cause.NETWORK, network_gaps=gaps(evidence)))
    assert draft["commands"] == [
        "gcloud dns record-sets update pkg.dev. --project=host-net --zone=registry --type=A "
        "--ttl=300 --rrdatas=199.36.153.8,199.36.153.9,199.36.153.10,199.36.153.11"
    ]


def test_a_refused_zone_read_is_cannot_tell() -> None:
    offline = Diagnosis(Cause.NETWORK, ())
    unread = "the Cloud DNS zones of host-net: 403 (needs dns.managedZones.list)"
    found = judge(offline, _dns(NX, SOA, zones=None, unread=(unread,)))
    assert found is not None
    assert found.decisive == (f"pullfix cannot tell, it may not read {unread}",)
