"""The config file: DESIGN.md's schema, safe defaults, and errors that name the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pullfix.core.config import (
    Config,
    ConfigError,
    FirestoreLedgerConfig,
    config_from_dict,
    load_config,
    parse_duration,
)
from tests.conftest import REPO


def test_design_example() -> None:
    config = load_config(REPO / "tests" / "data" / "design_config.yaml")
    assert config.auto_grant.allows_repository("projects/shop-prod/locations/us/repositories/x")
    assert not config.auto_grant.allows_repository("projects/other/locations/us/repositories/x")
    assert config.dedupe_window == 3600
    assert [r.chat for r in config.routes] == ["google", "slack"]
    assert config.routes[0].namespace == "payments-*"


def test_defaults_never_grant() -> None:
    config = load_config(None)
    assert config == Config()
    assert not config.auto_grant.allows_repository("projects/p/locations/l/repositories/r")
    assert (config.escalation_grace, config.max_event_age, config.ledger) == (600, 86400, "memory")


def test_firestore_ledger() -> None:
    config = config_from_dict({"ledger": {"firestore": {"collection": "x"}}})
    assert config.ledger == FirestoreLedgerConfig(collection="x")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("10m", 600), ("1h", 3600), ("1d2h", 93600), (45, 45), ("1h30m", 5400)],
)
def test_durations(text: Any, seconds: int) -> None:
    assert parse_duration(text, "x") == seconds


BAD = [
    ({"dry_run": "yes"}, "dry_run: expected true or false"),
    ({"dryrun": True}, "config: unknown field 'dryrun'"),
    ({"auto_grant": {"repositories": "projects/*"}}, "auto_grant.repositories: expected a list"),
    ({"auto_grant": {"repositories": ["shop-prod/*"]}}, "must look like projects/P/locations/L"),
    ({"auto_grant": {"level": "org"}}, "auto_grant.level: expected repository or project"),
    ({"auto_grant": {"max_per_hour": -1}}, "auto_grant.max_per_hour"),
    ({"auto_grant": {"roles": ["roles/owner"]}}, "auto_grant: unknown field 'roles'"),
    ({"dedupe_window": "an hour"}, "dedupe_window: expected a duration"),
    ({"ledger": "redis"}, "ledger: expected memory or"),
    ({"ledger": {"firestore": {"database": 3}}}, "ledger.firestore.database"),
    ({"ledger": {"firestore": {"database": "Prod"}}}, "ledger.firestore.database"),
    ({"ledger": {"firestore": {"collection": "a/b"}}}, "ledger.firestore.collection"),
    ({"ledger": {"firestore": {"collection": "__x__"}}}, "ledger.firestore.collection"),
    ({"ledger": {"firestore": {"collection": ".."}}}, "ledger.firestore.collection"),
    ({"ledger": {"firestore": {"project": "shop prod"}}}, "ledger.firestore.project"),
    ({"ledger": {"firestore": {"project": "projects/shop"}}}, "ledger.firestore.project"),
    ({"notify": {"routes": [{"chat": "teams", "webhook_url_env": "X"}]}}, "notify.routes[0].chat"),
    ({"notify": {"routes": [{"chat": "slack"}]}}, "notify.routes[0].webhook_url_env: required"),
    (
        {"notify": {"routes": [{"chat": "slack", "webhook_url": "https://hooks.slack.com/x"}]}},
        "notify.routes[0]: unknown field 'webhook_url'",
    ),
    (
        {"notify": {"routes": [{"chat": "slack", "webhook_url_env": "S", "cause": "oops"}]}},
        "notify.routes[0].cause: 'oops' is not a cause",
    ),
]


@pytest.mark.parametrize(("data", "message"), BAD)
def test_bad_configs_name_the_field(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict(data)
    assert message in str(info.value)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "absent.yaml")
    (tmp_path / "bad.yaml").write_text("auto_grant: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml")


@pytest.mark.parametrize(
    "spec",
    [
        {"database": "(default)", "collection": "pullfix-incidents", "project": "shop-prod"},
        {"database": "pullfix", "collection": "ledger_v2", "project": "example.com:shop-prod"},
    ],
)
def test_firestore_ids_firestore_accepts_pass(spec: dict[str, str]) -> None:
    assert config_from_dict({"ledger": {"firestore": spec}}).ledger == FirestoreLedgerConfig(**spec)
