"""The network check over the strict sandbox: the same real text, the path missing a piece or
whole, and the verdict follows what GKE and Compute say, never the text.

`remediate`'s engine (the Google adapter over the sandbox's wire protocols, the memory ledger)
handles each failure; the sandbox checks every answer against Compute's and GKE's discovery
documents.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from pullfix.core.config import config_from_dict
from pullfix.core.intake import PullFailure, parse_event
from pullfix.dev.sandbox import Sandbox
from pullfix.dev.sandbox.world import world_from_dict
from pullfix.engine.ledger import MemoryLedger
from pullfix.engine.remediate import Remediator
from pullfix.gcp.adapter import GoogleAdapter
from pullfix.gcp.clients import GoogleClients
from pullfix.gcp.endpoints import sandbox_endpoint
from tests.conftest import REPO
from tests.integration.pipeline import CONFIG, LOCATION, PROD, event, world_dict

pytestmark = pytest.mark.integration

TEXTS = {
    t["name"]: t
    for t in json.loads((REPO / "tests/data/network/real_texts.json").read_text())["texts"]
}
# The shape of the Artifact Registry text above, where the registry's name resolved to
# private.googleapis.com (a constructed text: no public thread quotes one).
VIP_TEXT = TEXTS["artifact_registry_private_cluster"]["message"].replace(
    "173.194.205.82", "199.36.153.9"
)


class Outbox:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def publish(self, outcome: dict[str, Any]) -> None:
        self.published.append(outcome)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(world_from_dict(world_dict(None)), strict=True) as running:
        yield running


@pytest.fixture(scope="module")
def clients(sandbox: Sandbox) -> Iterator[GoogleClients]:
    made = GoogleClients(sandbox_endpoint(sandbox.endpoint))
    yield made
    made.close()


def world(
    *,
    private: bool = True,
    pga: bool = False,
    nat: str | None = None,
    firewalls: dict[str, Any] | None = None,
    routes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The pipeline's world, its cluster on subnetwork `nodes`; `nat`: None (no router), "" (a
    router without NAT), or the sourceSubnetworkIpRangesToNat of its one gateway."""
    made = copy.deepcopy(world_dict(None))
    prod = made["projects"][PROD]
    prod["clusters"]["c1"].update({"private_nodes": private, "subnetwork": "nodes"})
    prod["subnetworks"] = {"nodes": {"region": LOCATION, "private_ip_google_access": pga}}
    if nat is not None:
        nats = []
        if nat:
            nats.append(
                {
                    "name": "egress",
                    "source_subnetwork_ip_ranges_to_nat": nat,
                    "subnetworks": ["nodes"] if nat == "LIST_OF_SUBNETWORKS" else [],
                }
            )
        prod["routers"] = {"edge": {"region": LOCATION, "network": "default", "nats": nats}}
    prod["firewalls"] = firewalls or {}
    prod["routes"] = routes or {
        "default-route": {"dest_range": "0.0.0.0/0", "next_hop_gateway": "default-internet-gateway"}
    }
    return made


def remediate(
    sandbox: Sandbox, clients: GoogleClients, spec: dict[str, Any], text: str, image: str
) -> dict[str, Any]:
    sandbox.state.world = world_from_dict(spec)
    outbox = Outbox()
    engine = Remediator(
        config_from_dict(CONFIG),
        GoogleAdapter(clients, timeout=5, cache_ttl=0.0),
        MemoryLedger(),
        outbox,  # type: ignore[arg-type]
    )
    entry = event("default-pool", image, text)
    failure = parse_event(entry)
    assert isinstance(failure, PullFailure)
    engine.handle(failure, datetime.now(UTC))
    (outcome,) = outbox.published
    return outcome


AR = TEXTS["artifact_registry_private_cluster"]
HUB = TEXTS["docker_hub_timeout"]
LOOKUP = TEXTS["artifact_registry_lookup_timeout"]
PGA_FIX = "--enable-private-ip-google-access"
NAT_FIX = "gcloud compute routers nats create"


def _text(outcome: dict[str, Any]) -> str:
    return json.dumps(outcome["reasons"]) + json.dumps(outcome["ticket"])


@pytest.mark.parametrize(
    ("name", "spec", "text", "missing", "fix"),
    [
        # Google's registry from private nodes: Private Google Access, or a NAT serving the subnet.
        ("ar-no-pga-no-nat", {"pga": False}, AR, "Private Google Access off", PGA_FIX),
        ("ar-pga", {"pga": True}, AR, None, None),
        ("ar-nat-all", {"nat": "ALL_SUBNETWORKS_ALL_IP_RANGES"}, AR, None, None),
        ("ar-router-no-nat", {"nat": ""}, AR, "Private Google Access off", PGA_FIX),
        ("ar-public-nodes", {"private": False}, AR, None, None),
        ("lookup-no-pga", {"pga": False}, LOOKUP, "Private Google Access off", PGA_FIX),
        ("lookup-pga", {"pga": True}, LOOKUP, None, None),
        # Outside Google: only Cloud NAT; Private Google Access does not help.
        ("hub-no-nat", {"pga": True}, HUB, "no Cloud NAT gateway serves", NAT_FIX),
        ("hub-nat-listed", {"nat": "LIST_OF_SUBNETWORKS"}, HUB, None, None),
        ("hub-public-nodes", {"private": False}, HUB, None, None),
    ],
)
def test_the_missing_piece_follows_the_path_not_the_text(
    sandbox: Sandbox,
    clients: GoogleClients,
    name: str,
    spec: dict[str, Any],
    text: dict[str, Any],
    missing: str | None,
    fix: str | None,
) -> None:
    outcome = remediate(sandbox, clients, world(**spec), text["message"], text["image"])
    assert outcome["cause"] == "network"
    assert outcome["action"] == "ticket" and outcome["grant"] is None
    said = _text(outcome)
    if missing is None:
        assert "look at DNS, a proxy, or the registry" in outcome["reasons"][0]
        assert PGA_FIX not in said and NAT_FIX not in said
    else:
        assert missing in outcome["reasons"][0]
        assert fix in said


DENY_443 = {
    "block-egress": {
        "direction": "EGRESS",
        "action": "deny",
        "rules": ["tcp:443"],
        "priority": 1000,
    }
}


def test_an_egress_deny_is_named_until_a_higher_priority_allow_lets_443_out(
    sandbox: Sandbox, clients: GoogleClients
) -> None:
    outcome = remediate(
        sandbox, clients, world(private=False, firewalls=DENY_443), AR["message"], AR["image"]
    )
    assert (
        "firewall rule block-egress (priority 1000) denies egress tcp:443" in outcome["reasons"][0]
    )
    assert "--direction=EGRESS --action=ALLOW --rules=tcp:443" in _text(outcome)
    allowed = {
        **DENY_443,
        "allow-registry": {
            "direction": "EGRESS",
            "action": "allow",
            "rules": ["tcp:443"],
            "priority": 900,
        },
    }
    outcome = remediate(
        sandbox, clients, world(private=False, firewalls=allowed), AR["message"], AR["image"]
    )
    assert "block-egress" not in _text(outcome)
    # A deny that only tagged instances meet is not every node's.
    tagged = {"block-egress": {**DENY_443["block-egress"], "target_tags": ["bastion"]}}
    outcome = remediate(
        sandbox, clients, world(private=False, firewalls=tagged), AR["message"], AR["image"]
    )
    assert "block-egress" not in _text(outcome)


def test_a_private_googleapis_address_needs_its_route(
    sandbox: Sandbox, clients: GoogleClients
) -> None:
    # The default route is gone and the VIP range goes to an appliance: no path.
    appliance = {"to-appliance": {"dest_range": "199.36.153.8/30", "next_hop_ip": "10.0.0.5"}}
    outcome = remediate(sandbox, clients, world(pga=True, routes=appliance), VIP_TEXT, AR["image"])
    assert "no route for 199.36.153.8/30 to the default internet gateway" in outcome["reasons"][0]
    assert (
        "--destination-range=199.36.153.8/30 --next-hop-gateway=default-internet-gateway"
        in _text(outcome)
    )
    route = {
        "private-googleapis": {
            "dest_range": "199.36.153.8/30",
            "next_hop_gateway": "default-internet-gateway",
        }
    }
    outcome = remediate(sandbox, clients, world(pga=True, routes=route), VIP_TEXT, AR["image"])
    assert "look at DNS" in outcome["reasons"][0]
    # Cloud NAT does not reach the VIPs: Private Google Access does.
    outcome = remediate(
        sandbox, clients, world(nat="ALL_SUBNETWORKS_ALL_IP_RANGES"), VIP_TEXT, AR["image"]
    )
    assert "private.googleapis.com is reached through it only" in outcome["reasons"][0]


def test_a_refused_read_is_cannot_tell(sandbox: Sandbox, clients: GoogleClients) -> None:
    sandbox.add_fault(method="compute.routers.list", status=403, count=None)
    try:
        outcome = remediate(sandbox, clients, world(), HUB["message"], HUB["image"])
    finally:
        sandbox.state.clear_faults()
    assert outcome["cause"] == "network"
    assert outcome["reasons"][0].startswith(
        "pullfix cannot tell, it may not read the Cloud Routers"
    )
    assert NAT_FIX not in _text(outcome)


# -- DNS for the VIPs -----------------------------------------------------------------------

HOST = "us-central1-docker.pkg.dev"
# The lookup text above, where Cloud DNS answered that the name does not exist (constructed:
# the thread quotes a timeout; Go's resolver says `no such host` for NXDOMAIN).
NO_SUCH_HOST = LOOKUP["message"].replace(
    f"lookup {HOST}: i/o timeout", f"lookup {HOST} on 169.254.169.254:53: no such host"
)
VIPS = ["199.36.153.4", "199.36.153.5", "199.36.153.6", "199.36.153.7"]
APEX = {"name": "pkg.dev.", "type": "A", "rrdatas": VIPS}
WILDCARD = {"name": "*.pkg.dev.", "type": "CNAME", "rrdatas": ["pkg.dev."]}
RESTRICTED_ROUTE = {
    "restricted-googleapis": {
        "dest_range": "199.36.153.4/30",
        "next_hop_gateway": "default-internet-gateway",
    }
}
RECORD_FIX = "gcloud dns record-sets create '*.pkg.dev.' --project=prod-shop --zone=registry"


def dns_world(records: list[dict[str, Any]], *, networks: Any = ("default",), **kw: Any) -> Any:
    """Private nodes with Private Google Access, the restricted VIP's route, and a private
    zone `pkg.dev.` with `records`, bound to `networks`; two more zones, so that the zones'
    list comes in pages."""
    made = world(pga=True, routes=RESTRICTED_ROUTE, **kw)
    made["projects"][PROD]["dns_zones"] = {
        "googleapis": {
            "dns_name": "googleapis.com.",
            "networks": ["default"],
            "records": [{"name": "*.googleapis.com.", "type": "CNAME", "rrdatas": ["x.y."]}],
        },
        "corp": {"dns_name": "corp.example.com.", "networks": ["default"]},
        "registry": {"dns_name": "pkg.dev.", "networks": list(networks), "records": records},
    }
    return made


@pytest.mark.parametrize(
    ("records", "networks", "missing"),
    [
        ([APEX], ["default"], "holds no record for it"),  # no wildcard: the host has no name
        ([APEX, WILDCARD], ["default"], None),
        # A zone the nodes' network does not see answers nothing for them.
        ([APEX], ["other"], None),
    ],
)
def test_a_missing_record_follows_the_zone_not_the_text(
    sandbox: Sandbox,
    clients: GoogleClients,
    records: list[dict[str, Any]],
    networks: list[str],
    missing: str | None,
) -> None:
    outcome = remediate(
        sandbox, clients, dns_world(records, networks=networks), NO_SUCH_HOST, LOOKUP["image"]
    )
    assert outcome["cause"] == "network" and outcome["grant"] is None
    if missing is None:
        assert "look at DNS" in outcome["reasons"][0]
        assert "record-sets" not in _text(outcome)
    else:
        assert outcome["reasons"][0].startswith(
            f"Cloud DNS private zone registry (pkg.dev., project prod-shop) answers for {HOST}"
        )
        assert missing in outcome["reasons"][0]
        assert RECORD_FIX in _text(outcome)
        assert "google_dns_record_set" in outcome["ticket"]["terraform"]


def test_a_zone_answering_a_vip_needs_that_vips_route(
    sandbox: Sandbox, clients: GoogleClients
) -> None:
    appliance = {"to-appliance": {"dest_range": "199.36.153.4/30", "next_hop_ip": "10.0.0.5"}}
    spec = dns_world([APEX, WILDCARD])
    spec["projects"][PROD]["routes"] = appliance
    outcome = remediate(sandbox, clients, spec, LOOKUP["message"], LOOKUP["image"])
    assert "no route for 199.36.153.4/30 to the default internet gateway" in outcome["reasons"][0]


def test_a_refused_zone_read_is_cannot_tell(sandbox: Sandbox, clients: GoogleClients) -> None:
    sandbox.add_fault(method="dns.managedZones.list", status=403, count=None)
    try:
        outcome = remediate(sandbox, clients, dns_world([APEX]), NO_SUCH_HOST, LOOKUP["image"])
    finally:
        sandbox.state.clear_faults()
    assert outcome["reasons"][0].startswith(
        "pullfix cannot tell, it may not read the Cloud DNS zones of prod-shop"
    )
    assert "dns.managedZones.list" in outcome["reasons"][0]
    assert "record-sets" not in _text(outcome)


def test_a_shared_vpc_zone_is_read_in_the_host_project(
    sandbox: Sandbox, clients: GoogleClients
) -> None:
    """The nodes' network is the host project's: its zones are the ones that answer, bound to
    the host's network by URL; a zone of the cluster's own project is not the nodes'."""
    spec = copy.deepcopy(world_dict(None))
    prod = spec["projects"][PROD]
    prod["clusters"]["c1"].update(
        {"private_nodes": True, "subnetwork": "nodes", "network": "shared"}
    )
    prod["clusters"]["c1"]["network_project"] = "net-host"
    prod["dns_zones"] = {"registry": {"dns_name": "pkg.dev.", "networks": ["default"]}}
    spec["projects"]["net-host"] = {
        "number": 300000000003,
        "subnetworks": {
            "nodes": {"region": LOCATION, "network": "shared", "private_ip_google_access": True}
        },
        "routes": {
            "restricted-googleapis": {
                **RESTRICTED_ROUTE["restricted-googleapis"],
                "network": "shared",
            }
        },
        "dns_zones": {
            "pkg": {
                "dns_name": "pkg.dev.",
                "networks": ["projects/net-host/global/networks/shared"],
                "records": [APEX],
            }
        },
    }
    outcome = remediate(sandbox, clients, spec, NO_SUCH_HOST, LOOKUP["image"])
    assert outcome["reasons"][0].startswith(
        f"Cloud DNS private zone pkg (pkg.dev., project net-host) answers for {HOST} on "
        "network shared"
    )
    assert "--project=net-host --zone=pkg" in _text(outcome)
    spec["projects"]["net-host"]["dns_zones"]["pkg"]["records"] = [APEX, WILDCARD]
    outcome = remediate(sandbox, clients, spec, NO_SUCH_HOST, LOOKUP["image"])
    assert "look at DNS" in outcome["reasons"][0]


def test_the_strict_sandbox_answers_cloud_dns_as_google_does(
    sandbox: Sandbox, clients: GoogleClients
) -> None:
    """managedZones.list and resourceRecordSets.list in pages (each checked against Cloud
    DNS's discovery schema), SOA and NS at the apex, networks as Compute URLs."""
    sandbox.state.world = world_from_dict(dns_world([APEX, WILDCARD]))
    adapter = GoogleAdapter(clients, cache_ttl=0.0)
    zones = adapter.dns_zones(PROD)
    assert [z.name for z in zones] == ["googleapis", "corp", "registry"]
    assert zones[2].networks == (f"projects/{PROD}/global/networks/default",)
    records = adapter.dns_records(PROD, "registry")
    assert [(r.name, r.type) for r in records] == [
        ("pkg.dev.", "NS"),
        ("pkg.dev.", "SOA"),
        ("pkg.dev.", "A"),
        ("*.pkg.dev.", "CNAME"),
    ]
    assert adapter.dns_records(PROD, "gone") == ()
