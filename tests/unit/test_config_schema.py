"""`pullfix config schema` held to the loader: what the loader accepts the schema accepts, and
what the loader refuses the schema refuses, wherever JSON Schema can say it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from pullfix.core.config import ConfigError, config_from_dict
from pullfix.core.configschema import config_schema
from pullfix.settings import load_config
from tests.unit.test_config import BAD

REPO = Path(__file__).resolve().parents[2]
PULLFIX = shutil.which("pullfix") or str(Path(sys.executable).parent / "pullfix")
# Every config file the repository ships as valid.
VALID_FILES = [
    REPO / "examples" / "config.yaml",
    *sorted((REPO / "tests" / "data").glob("*config*.yaml")),
]


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = config_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


VALID = [
    None,  # an empty file
    {},
    {"notify": None, "auto_grant": None},
    {"dedupe_window": 90 * 60, "followup_grace": "0s", "abandon_after": " 1d2h ", "lease": "1h"},
    {"ledger": {"firestore": None}},
    {"ledger": {"firestore": {"database": "pullfix", "collection": "x", "project": "p-1"}}},
    {"ledger": {"firestore": {"project": "example.com:shop"}}},
    {"auto_grant": {"repositories": [], "level": "project", "max_per_hour": 0}},
    {"auto_grant": {"beside_conditions": True, "cluster_projects": ["shop-*"]}},
    {"verify_per_run": 10_000, "api_timeout": 60},
    {
        "notify": {
            "routes": [
                {"chat": "slack", "slack_token_env": "T", "slack_channel": "C123"},
                {"chat": "google", "google_chat_space": "spaces/AAAAMpdlehY", "cause": "role"},
                {"chat": "webhook", "webhook_url_env": "W", "cause": "role", "cluster": "c*"},
                {
                    "chat": "google",
                    "webhook_url_env": "G",
                    "tickets": "github",
                    "github_repo": "o/r",
                    "github_token_env": "GT",
                },
            ]
        }
    },
]


@pytest.mark.parametrize("path", VALID_FILES, ids=lambda p: p.name)
def test_every_shipped_config_validates(path: Path, validator: Draft202012Validator) -> None:
    load_config(path)  # valid for the loader
    errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
    assert errors == []


@pytest.mark.parametrize("data", VALID)
def test_what_the_loader_accepts_the_schema_accepts(
    data: Any, validator: Draft202012Validator
) -> None:
    config_from_dict(data if data is not None else {})
    assert [e.message for e in validator.iter_errors(data)] == []


MORE_BAD = [
    {"dedupe_window": 30},  # seconds, below 1m
    {"lease": 3601},
    {"api_timeout": "soon"},
    {"verify_per_run": 0},
    {"auto_grant": {"max_per_hour": True}},
    {"auto_grant": {"beside_conditions": "no"}},
    {"auto_grant": {"cluster_projects": [""]}},
    {"notify": False},
    {"notify": {"routes": None}},
    {"ledger": {"firestore": {}, "redis": {}}},
    {"ledger": {"firestore": {"database": "01234567-89ab-cdef-0123-456789abcdef"}}},
    {"ledger": {"firestore": {"collection": "."}}},
    {"notify": {"routes": [{"webhook_url_env": "W"}]}},  # no chat
    {"notify": {"routes": [{"chat": "slack", "webhook_url_env": ""}]}},
    {"notify": {"routes": [{"chat": "slack", "slack_token_env": "T"}]}},  # no channel
    {"notify": {"routes": [{"chat": "google", "slack_token_env": "T", "slack_channel": "C"}]}},
    {"notify": {"routes": [{"chat": "slack", "webhook_url_env": "W", "tickets": "jira"}]}},
    {"notify": {"routes": [{"chat": "slack", "webhook_url_env": "W", "tickets": "github"}]}},
    # A Chat app's space: its resource name, with chat: google, and no webhook beside it.
    {"notify": {"routes": [{"chat": "slack", "google_chat_space": "spaces/AAAA"}]}},
    {"notify": {"routes": [{"chat": "google", "google_chat_space": "AAAA"}]}},
    {"notify": {"routes": [{"chat": "google", "google_chat_space": "spaces/AAAA/messages"}]}},
    {
        "notify": {
            "routes": [
                {
                    "chat": "google",
                    "google_chat_space": "https://chat.googleapis.com/v1/spaces/AAAA/messages",
                }
            ]
        }
    },
    {
        "notify": {
            "routes": [{"chat": "google", "google_chat_space": "spaces/A", "webhook_url_env": "W"}]
        }
    },
]
# What the loader refuses and JSON Schema cannot state: a duration's bounds when it is text,
# a collection id's length in bytes and its invisible characters.
BEYOND_THE_SCHEMA = [
    {"dedupe_window": "100000000d"},
    {"api_timeout": "2m"},
    {"followup_grace": "1h1s"},
    {"ledger": {"firestore": {"collection": "é" * 1000}}},
    {"ledger": {"firestore": {"collection": "a\u00adb"}}},
]


@pytest.mark.parametrize("data", [data for data, _ in BAD] + MORE_BAD)
def test_what_the_loader_refuses_the_schema_refuses(
    data: dict[str, Any], validator: Draft202012Validator
) -> None:
    with pytest.raises(ConfigError):
        config_from_dict(data)
    assert not validator.is_valid(data), data


@pytest.mark.parametrize("data", BEYOND_THE_SCHEMA)
def test_what_only_the_loader_can_refuse(
    data: dict[str, Any], validator: Draft202012Validator
) -> None:
    # Should the schema learn to refuse one of these, move it to MORE_BAD.
    with pytest.raises(ConfigError):
        config_from_dict(data)
    assert validator.is_valid(data)


def test_config_schema_prints_the_schema() -> None:
    done = subprocess.run(
        [PULLFIX, "config", "schema"], capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    schema = json.loads(done.stdout)
    assert schema == config_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["dedupe_window"]["default"] == "1h"
    assert schema["properties"]["auto_grant"]["properties"]["max_per_hour"]["type"] == "integer"
