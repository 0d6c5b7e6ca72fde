"""World files: the schema docs/world.md documents, loaded with errors that name the field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from pullfix.dev.sandbox.world import WorldError, load_world, world_from_dict
from tests.conftest import REPO

SAMPLE = REPO / "functions" / "pullfix" / "dev" / "samples" / "world.yaml"
TEST_WORLD = REPO / "tests" / "data" / "world.yaml"


def base() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(TEST_WORLD.read_text())
    return data


def test_design_example_loads() -> None:
    world = load_world(REPO / "tests" / "data" / "design_world.yaml")
    project = world.projects["shop-prod"]
    assert project.service_account("111111111111-compute@developer.gserviceaccount.com")
    assert project.repositories["images"].policy.has_conditions
    assert project.topics["pull-outcomes"].push_endpoint == "http://127.0.0.1:8082/"
    # Written back, it is the same document (defaults made explicit).
    again = world_from_dict(world.to_dict())
    assert again.to_dict() == world.to_dict()
    assert world.to_dict()["projects"]["shop-prod"]["iam"] == {
        "roles/editor": ["user:owner@example.com"]
    }


@pytest.mark.parametrize("path", [SAMPLE, TEST_WORLD])
def test_bundled_worlds_round_trip(path: Path) -> None:
    world = load_world(path)
    assert world_from_dict(world.to_dict()).to_dict() == world.to_dict()


def _set(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(data)
    *parents, last = dotted.split("|")
    node = data
    for key in parents:
        node = node[key]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return data


P = "projects|shop-prod"
POOL = f"{P}|clusters|checkout|node_pools|default-pool"
BAD = [
    (f"{P}|numbr", 1, "projects.shop-prod: unknown field 'numbr'"),
    (f"{P}|number", "eleven", "projects.shop-prod.number: expected a positive project number"),
    (f"{P}|number", 222222222222, "222222222222 is also shop-prod's number"),
    (f"{P}|iam", "roles/editor", "projects.shop-prod.iam: expected role -> members"),
    (f"{P}|iam|roles/editor", ["bob"], "'bob' is not an IAM principal"),
    (f"{P}|iam|roles/editor", [], "a binding needs at least one member"),
    (
        f"{P}|clusters|checkout|version",
        "1.29",
        "projects.shop-prod.clusters.checkout.version: not a GKE version",
    ),
    (f"{P}|clusters|checkout|location", "US", "clusters.checkout.location: expected a location"),
    (f"{P}|clusters|checkout|node_pools", {}, "a cluster needs at least one node pool"),
    (f"{POOL}|oauth_scopes", "storage-ro", "default-pool.oauth_scopes: expected a list of strings"),
    (
        f"{POOL}|service_account",
        "nodes",
        "default-pool.service_account: expected 'default' or an email",
    ),
    (f"{POOL}|nodes", ["Node_1"], "'Node_1' is not a node (instance) name"),
    (
        f"{P}|topics|pull-outcomes",
        {"push_endpoint": "ftp://x"},
        "push_endpoint: expected an http(s) URL",
    ),
    (f"{P}|repositories|apps|tags", ["web"], "'web' is not IMAGE:TAG"),
    (
        f"{P}|repositories|apps|iam",
        [{"role": "reader", "members": ["user:a@b.c"]}],
        "apps.iam[0].role: 'reader' is not an IAM role name",
    ),
    (
        f"{P}|repositories|apps|iam",
        [{"role": "roles/x", "members": ["user:a@b.c"], "condition": {"title": "t"}}],
        "a condition needs a CEL expression",
    ),
    (
        f"{P}|service_accounts|retired-nodes@shop-prod.iam.gserviceaccount.com",
        {"disabled": "yes"},
        "disabled: expected true or false",
    ),
    ("chat_spaces", {"spaces/AAAA": {}}, "a space is named by its id"),
    ("chat_spaces", {"AAAA": {"app_member": "yes"}}, "app_member: expected true or false"),
    ("chat_spaces", {"AAAA": {"messages": ["hi"]}}, "expected a list of Message objects"),
]


def test_chat_spaces_round_trip_with_what_was_posted() -> None:
    posted = {"name": "spaces/AAAA/messages/x.x", "text": "hi", "thread": {"name": "t"}}
    data = {
        **base(),
        "chat_spaces": {"AAAA": {"messages": [posted]}, "BBBB": {"app_member": False}},
    }
    world = world_from_dict(data)
    assert world.chat_spaces["AAAA"].app_member and not world.chat_spaces["BBBB"].app_member
    again = world_from_dict(world.to_dict()).to_dict()
    assert again["chat_spaces"] == {
        "AAAA": {"app_member": True, "messages": [posted]},
        "BBBB": {"app_member": False},
    }


@pytest.mark.parametrize(("field", "value", "message"), BAD)
def test_bad_worlds_name_the_field(field: str, value: Any, message: str) -> None:
    with pytest.raises(WorldError) as info:
        world_from_dict(_set(base(), field, value))
    assert message in str(info.value)


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(WorldError, match="cannot read world file"):
        load_world(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("projects: [unclosed\n")
    with pytest.raises(WorldError, match="not valid YAML"):
        load_world(bad)
    bad.write_text("- a list\n")
    with pytest.raises(WorldError, match="expected a mapping"):
        load_world(bad)
