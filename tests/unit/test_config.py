"""The config file: DESIGN.md's schema, safe defaults, and errors that name the field."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pullfix.core.causes import Cause
from pullfix.core.config import (
    Config,
    ConfigError,
    FirestoreLedgerConfig,
    check_config,
    config_from_dict,
    config_from_yaml,
    lease_warning,
    parse_duration,
    topic_name,
)
from pullfix.settings import config_from_env, load_config
from tests.conftest import REPO
from tests.unit.test_render import outcome as render_outcome


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


def test_the_functions_read_the_file_pullfix_config_names(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("dry_run: true\n")
    assert config_from_env({"PULLFIX_CONFIG": str(path)}).dry_run is True
    assert config_from_env({"PULLFIX_CONFIG": ""}) == Config()  # set but empty: the defaults
    assert config_from_env({}) == Config()
    with pytest.raises(ConfigError, match="cannot read config file"):
        config_from_env({"PULLFIX_CONFIG": str(tmp_path / "absent.yaml")})


def test_the_file_s_bytes_alone_make_a_config() -> None:
    assert config_from_yaml(b"dry_run: true\n", "inline").dry_run is True
    assert config_from_yaml(b"", "inline") == Config()
    with pytest.raises(ConfigError, match="config file inline is not valid YAML"):
        config_from_yaml(b"auto_grant: [\n", "inline")


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
    (
        {"notify": {"routes": [{"chat": "google", "google_chat_space": "AAAAMpdlehY"}]}},
        "notify.routes[0].google_chat_space: expected a space's resource name, spaces/ID",
    ),
    (
        {"notify": {"routes": [{"chat": "slack", "google_chat_space": "spaces/AAAA"}]}},
        "notify.routes[0]: google_chat_space goes with chat: google",
    ),
    (
        {
            "notify": {
                "routes": [
                    {"chat": "google", "google_chat_space": "spaces/AAAA", "webhook_url_env": "W"}
                ]
            }
        },
        "instead of webhook_url_env",
    ),
]


def test_a_chat_app_route_needs_no_variable_and_webhook_approvals_are_warned_about() -> None:
    app = {"chat": "google", "google_chat_space": "spaces/AAAAMpdlehY"}
    asks = {"approval": "required", "approvers": ["alice@example.com"]}
    config = config_from_dict({"auto_grant": asks, "notify": {"routes": [app]}})
    assert config.routes[0].google_chat_space == "spaces/AAAAMpdlehY"
    assert check_config(config, {}) == ([], [])  # the function's own credentials post
    hook = config_from_dict(
        {"auto_grant": asks, "notify": {"routes": [{"chat": "google", "webhook_url_env": "H"}]}}
    )
    _, warnings = check_config(hook, None)
    assert any("incoming webhook cannot be clicked" in w for w in warnings)


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


# Hostile files: each is refused with a ConfigError that names the file and, where there is
# one, the line; none ends in a traceback (RecursionError, UnicodeDecodeError, ValueError).
HOSTILE = [
    (
        "dup.yaml",
        b"dry_run: true\nauto_grant: {}\ndry_run: false\n",
        "dry_run is set twice, on line 1 and line 3",
    ),
    (
        "nested-dup.yaml",
        b"notify:\n  routes:\n    - chat: slack\n      webhook_url_env: A\n      chat: google\n",
        "notify.routes[0].chat is set twice, on line 3 and line 5",
    ),
    (
        "spelled-dup.yaml",
        b"ledger:\n  firestore: {project: a, 'project': b}\n",
        "ledger.firestore.project is set twice on line 2",
    ),
    ("not-utf8.yaml", b"dry_run: true\nlease: '\xff'\n", "is not UTF-8: line 2 has the byte 0xff"),
    ("utf16.yaml", "dry_run: true\n".encode("utf-16"), "is UTF-16"),
    ("late-bom.yaml", b"dry_run: true\n\xef\xbb\xbflease: 150s\n", "line 2 has a byte order mark"),
    ("nel.yaml", "dry_run: true\u2028dry_run: false\n".encode(), "line 1 has U+2028"),
    ("deep-flow.yaml", b"dry_run: " + b"[" * 50_000 + b"\n", "nested deeper than 32 levels"),
    (
        "deep-block.yaml",
        "".join(f"{' ' * i}k:\n" for i in range(200)).encode(),
        "line 32, column 32: nested deeper than 32 levels",
    ),
    ("huge.yaml", b"# " + b"x" * 70_000 + b"\n", "larger than 65536 bytes"),
    (
        "laughs.yaml",
        b"a: &a [x, x]\nb: &b [*a, *a, *a]\nnotify: {routes: *b}\n",
        "line 2, column 8: aliases (*name) are not allowed",
    ),
    ("merge.yaml", b"auto_grant: {<<: {level: project}, level: repository}\n", "merge keys"),
    ("list.yaml", b"- dry_run\n", "config: expected a mapping, got list"),
    ("scalar.yaml", b"dry_run\n", "config: expected a mapping, got str"),
    ("int-key.yaml", b"1: x\n", "line 1: the key 1 is not a string"),
    ("null-key.yaml", b"auto_grant: {~: x}\n", "auto_grant: the key None is not a string"),
    ("seq-key.yaml", b"? [a, b]\n: x\n", "the key ['a', 'b'] is not a string"),
    (
        "bad-date.yaml",
        b"dedupe_window: 2026-13-45\n",
        "line 1, column 16: cannot read '2026-13-45'",
    ),
    ("long-int.yaml", b"lease: " + b"9" * 5000 + b"\n", "line 1, column 8: cannot read '9999"),
    ("nul.yaml", b"dry_run: true\n\x00\n", "line 2 has the control character U+0000"),
    (
        "bidi.yaml",
        'notify: {routes: [{chat: slack, webhook_url_env: A, namespace: "a\u202e*"}]}\n'.encode(),
        "notify.routes[0].namespace has an invisible or control character (U+202E)",
    ),
    (
        "nbsp.yaml",
        "dry_run:\u00a0true\n".encode(),
        "line 1: the file has an invisible or control character (U+00A0)",
    ),
    ("tag.yaml", b"dry_run: !!python/object/apply:os.system [id]\n", "not valid YAML: line 1"),
    ("two-docs.yaml", b"dry_run: true\n---\ndry_run: false\n", "expected a single document"),
]


@pytest.mark.parametrize(("name", "content", "message"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_config_files_are_config_errors(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / name)
    assert message in str(info.value)
    assert info.value.__cause__ is None or isinstance(info.value.__cause__, OSError)


def test_a_leading_utf8_byte_order_mark_is_allowed(tmp_path: Path) -> None:
    # YAML allows a BOM at the start of a stream, and Windows editors write one.
    (tmp_path / "bom.yaml").write_bytes(b"\xef\xbb\xbfdry_run: true\n")
    assert load_config(tmp_path / "bom.yaml").dry_run is True


def test_anchors_without_aliases_and_repeated_keys_in_different_mappings_are_fine(
    tmp_path: Path,
) -> None:
    (tmp_path / "ok.yaml").write_text(
        "notify:\n  routes:\n    - &first {chat: slack, webhook_url_env: A}\n"
        "    - {chat: google, webhook_url_env: B}\n"
    )
    assert [r.chat for r in load_config(tmp_path / "ok.yaml").routes] == ["slack", "google"]


# Every duration setting has bounds; beyond them, datetime arithmetic overflowed on every
# event (`dedupe_window: 100000000d`) or the setting made no sense (`api_timeout: 1h`).
DURATIONS = [
    ("dedupe_window", "59s", "dedupe_window: expected 1m to 30d"),
    ("dedupe_window", "100000000d", "dedupe_window: expected 1m to 30d, got '100000000d'"),
    ("dedupe_window", 10**30, "dedupe_window: expected 1m to 30d"),
    ("escalation_grace", "2d", "escalation_grace: expected 1m to 1d"),
    ("escalation_grace", "0s", "escalation_grace: expected 1m to 1d"),
    ("followup_grace", "2h", "followup_grace: expected 0s to 1h"),
    ("abandon_after", "30s", "abandon_after: expected 1m to 36500d"),
    ("abandon_after", "36501d", "abandon_after: expected 1m to 36500d"),
    ("max_event_age", "999999999d", "max_event_age: expected 1m to 36500d"),
    ("api_timeout", "0s", "api_timeout: expected 1s to 1m"),
    ("api_timeout", "2m", "api_timeout: expected 1s to 1m"),
    ("lease", "0s", "lease: expected 1s to 1h"),
    ("lease", "2h", "lease: expected 1s to 1h"),
    ("lease", "9" * 5000 + "s", "lease: expected a duration"),
    ("dedupe_window", "\u0661\u0660m", "dedupe_window: expected a duration"),  # Arabic digits
]


@pytest.mark.parametrize(("key", "value", "message"), DURATIONS)
def test_durations_out_of_bounds_are_refused(key: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({key: value})
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("key", "value", "seconds"),
    [
        ("dedupe_window", "30d", 30 * 86400),
        ("followup_grace", "0s", 0),
        ("abandon_after", "36500d", 36500 * 86400),  # the demo's "never"
        ("max_event_age", "3650d", 3650 * 86400),
        ("api_timeout", "60s", 60),
        ("lease", "2s", 2),  # allowed (tests crash workers), but warned about
    ],
)
def test_durations_at_their_bounds_pass(key: str, value: str, seconds: int) -> None:
    assert getattr(config_from_dict({key: value}), key) == seconds


def test_a_lease_not_longer_than_the_function_timeout_is_warned_about() -> None:
    assert lease_warning(config_from_dict({})) is None
    warning = lease_warning(config_from_dict({"lease": "2m"}))
    assert warning is not None and "lease: 2m is not longer than" in warning
    _, warnings = check_config(config_from_dict({"lease": "60s"}), {})
    assert any(w.startswith("lease: 1m is not longer than") for w in warnings)


@pytest.mark.parametrize(
    "topic",
    [
        "projects/shop-prod/topics/pull-outcomes",
        "projects/example.com:shop/topics/a.b~c+d%2e_E",
        "projects/p1/topics/" + "t" * 255,
    ],
)
def test_topics_pubsub_accepts_pass(topic: str) -> None:
    assert topic_name(topic, "T") == topic


@pytest.mark.parametrize(
    ("topic", "message"),
    [
        ("projects/p1/topics/bad name", "Pub/Sub would refuse the topic id 'bad name'"),
        ("projects/p1/topics/goog-x", "Pub/Sub would refuse the topic id 'goog-x'"),
        ("projects/p1/topics/GOOGx", "Pub/Sub would refuse the topic id 'GOOGx'"),
        ("projects/p1/topics/ab", "Pub/Sub would refuse the topic id 'ab'"),
        ("projects/p1/topics/1abc", "Pub/Sub would refuse"),
        ("projects/p1/topics/" + "t" * 256, "Pub/Sub would refuse"),
        ("projects/p1/topics/caf\u00e9", "Pub/Sub would refuse"),
        ("projects/p1/topics/ok-topic\n", "Pub/Sub would refuse"),
        ("projects/Shop Prod/topics/outcomes", "'Shop Prod' is not a project id"),
        ("bad name", "must look like projects/P/topics/T"),
    ],
)
def test_topics_pubsub_would_refuse_are_config_errors(topic: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        topic_name(topic, "PULLFIX_OUTCOMES_TOPIC")
    assert message in str(info.value)


class _Tick:
    """A CloudEvent as far as the functions read one."""

    def __init__(self, data: Any = None) -> None:
        self.data = data or {"message": {"data": "", "messageId": "tick-1"}}

    def get_attributes(self) -> dict[str, str]:
        return {"id": "tick-1", "source": "//pubsub.googleapis.com/projects/p1/topics/verify"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PULLFIX_OUTCOMES_TOPIC": "projects/p1/topics/goog-x"}, "topic id 'goog-x'"),
        ({"PULLFIX_OUTCOMES_TOPIC": "bad name"}, "must look like projects/P/topics/T"),
        ({"PULLFIX_GCP_ENDPOINT": "http://127.0.0.1:99999"}, "PULLFIX_GCP_ENDPOINT must look"),
        ({"PULLFIX_CONFIG": "deep"}, "nested deeper than 32 levels"),
        ({"PULLFIX_CONFIG": "latin1"}, "is not UTF-8: line 1 has the byte 0xe9"),
        ({"PULLFIX_CONFIG": "huge"}, "dedupe_window: expected 1m to 30d"),
    ],
)
def test_every_invalid_environment_reaches_the_functions_as_config_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    message: str,
) -> None:
    from pullfix.engine import runtime as runtime_module
    from pullfix.entrypoints import handle_outcome, handle_verification

    files = {
        "deep": b"dry_run: " + b"[" * 50_000,
        "latin1": "namespace: caf\u00e9\n".encode("latin-1"),
        "huge": b"dedupe_window: 100000000d\n",
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    for variable in ("PULLFIX_CONFIG", "PULLFIX_OUTCOMES_TOPIC", "PULLFIX_GCP_ENDPOINT"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in env.items():
        monkeypatch.setenv(variable, str(tmp_path / value) if value in files else value)
    monkeypatch.setattr(runtime_module, "_runtime", None)
    monkeypatch.setattr(runtime_module, "_notifier", None)
    with pytest.raises(ConfigError) as info:
        handle_verification(_Tick())
    assert message in str(info.value)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["severity"], e["message"]) for e in lines] == [
        ("CRITICAL", f"pullfix verify: invalid configuration: {info.value}")
    ]
    if "PULLFIX_GCP_ENDPOINT" in env:
        return  # notify builds its clients lazily (no Firestore ledger here)
    outcome = {
        "message": {
            "data": base64.b64encode(json.dumps(render_outcome(Cause.NETWORK)).encode()).decode()
        }
    }
    with pytest.raises(ConfigError):
        handle_outcome(_Tick(outcome))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[-1]["severity"] == "CRITICAL"
    assert lines[-1]["message"].startswith("notify: invalid configuration: ")


HOOK = "https://chat.googleapis.com/v1/spaces/AAA/messages?key=KEY123&token=TOKEN456"
BAD_URLS = [
    (HOOK.replace("&token", "\u00a0&token"), "contains white space or control characters (U+00A0)"),
    (HOOK + "\u2028", "contains white space or control characters (U+2028)"),
    ("\u3000" + HOOK, "contains white space or control characters (U+3000)"),
    (HOOK + "\u200b", "contains white space or control characters (U+200B)"),
    (HOOK.replace("https://", "https://ops:KEY123@"), "must not carry a user name or password"),
    (HOOK.replace("https://", "https://@"), "must not carry a user name or password"),
    ("https://evil.example\\@chat.googleapis.com/KEY123", "must not carry a user name"),
    (HOOK.replace(".com/", ".com:99999/"), "has an impossible port (expected 1-65535)"),
    (HOOK.replace(".com/", ".com:0/"), "has an impossible port"),
    (HOOK.replace(".com/", ".com:http/"), "has an impossible port"),
    ("http://127.0.0.1:65536/hook", "has an impossible port"),
    (HOOK.replace("chat.", "ch\u00e4t."), "not ASCII"),
    ("https://chat.googleapis.com\\.evil.example/KEY123", "has no valid host name"),
    ("https://" + "a" * 64 + ".example/KEY123", "has no valid host name"),
]


@pytest.mark.parametrize(("url", "problem"), BAD_URLS)
def test_webhook_urls_that_cannot_be_right_are_config_errors(url: str, problem: str) -> None:
    from pullfix.core.secrets import webhook_url
    from pullfix.engine.ledger import MemoryLedger
    from pullfix.gcp.transport import MockTransport, Response
    from pullfix.notify.delivery import Notifier

    config = config_from_dict({"notify": {"routes": [{"chat": "google", "webhook_url_env": "H"}]}})
    nothing_sent = MockTransport(lambda request: Response(500))
    # `config validate`:
    problems, _ = check_config(config, {"H": url})
    assert len(problems) == 1 and problems[0].startswith("notify.routes[0]: the URL in $H ")
    assert problem in problems[0] and "KEY123" not in problems[0]
    # ... and the notify function, before it sends anything:
    with pytest.raises(ConfigError) as info:
        Notifier(config, MemoryLedger(), environ={"H": url}, http=nothing_sent).handle(
            render_outcome(Cause.NETWORK), datetime.now(UTC), "m-1"
        )
    assert nothing_sent.requests == []
    assert problem in str(info.value) and "$H" in str(info.value)
    assert "KEY123" not in str(info.value)
    with pytest.raises(ConfigError):
        webhook_url({"H": url}, "H", "x")


@pytest.mark.parametrize(
    "url",
    [
        HOOK,
        HOOK + "\n",  # stored with echo
        " \t" + HOOK + "\r\n",
        "https://hooks.slack.com:443/services/T0/B0/XYZ",
        "https://hooks.slack.com./services/T0/B0/XYZ",
        "https://x_y.example.com/hook",
        "https://192.0.2.7/hook",
        "http://127.0.0.1:8080/hook",
        "http://[::1]:8080/hook",
    ],
)
def test_webhook_urls_as_services_issue_them_pass(url: str) -> None:
    from pullfix.core.secrets import webhook_url

    assert webhook_url({"H": url}, "H", "x") == url.strip()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"auto_grant": []}, "auto_grant: expected a mapping, got list"),
        ({"auto_grant": False}, "auto_grant: expected a mapping, got bool"),
        ({"notify": ""}, "notify: expected a mapping, got str"),
        ({"notify": 0}, "notify: expected a mapping, got int"),
        ({"ledger": {"firestore": []}}, "ledger.firestore: expected a mapping, got list"),
    ],
)
def test_a_section_of_the_wrong_type_is_no_empty_section(
    data: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_dict(data)
    section = next(iter(data))
    empty: dict[str, Any] = (
        {"ledger": {"firestore": None}} if section == "ledger" else {section: None}
    )
    assert config_from_dict(empty) is not None  # left empty: the defaults


def test_the_functions_warn_once_about_a_lease_their_timeout_can_outlast(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pullfix.engine import runtime as runtime_module

    (tmp_path / "config.yaml").write_text("lease: 60s\n")
    for variable in ("PULLFIX_OUTCOMES_TOPIC", "PULLFIX_GCP_ENDPOINT"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("PULLFIX_CONFIG", str(tmp_path / "config.yaml"))
    monkeypatch.setattr(runtime_module, "_runtime", None)
    assert runtime_module.runtime() is runtime_module.runtime()
    (line,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert line["severity"] == "WARNING"
    assert line["message"].startswith("pullfix: configuration: lease: 1m is not longer than")


def test_config_validate_checks_the_outcomes_topic_when_it_is_set() -> None:
    config = config_from_dict({})
    assert check_config(config, {}) == ([], [])
    topic = {"PULLFIX_OUTCOMES_TOPIC": "projects/shop-prod/topics/pull-outcomes"}
    assert check_config(config, topic) == ([], [])
    problems, _ = check_config(config, {"PULLFIX_OUTCOMES_TOPIC": "projects/p/topics/goog-x"})
    assert problems == [
        "PULLFIX_OUTCOMES_TOPIC: Pub/Sub would refuse the topic id 'goog-x': 3-255 letters, "
        "digits and - _ . ~ + %, a letter first, not starting with goog"
    ]


def test_the_key_table_is_the_loaders_defaults_and_fields() -> None:
    from dataclasses import fields

    from pullfix.core.config import (
        AUTO_GRANT_KEYS,
        CONFIG_FIELDS,
        FIRESTORE_KEYS,
        ROUTE_KEYS,
        AutoGrant,
        Route,
    )

    # An empty file is the table's defaults, and those are the dataclasses' own.
    assert config_from_dict({}) == Config()
    defaults = {
        name: key.default
        for name, key in CONFIG_FIELDS.items()
        if key.kind not in ("section", "ledger")
    }
    assert config_from_dict(defaults) == Config()
    assert (
        config_from_dict(
            {"auto_grant": {n: _yaml_value(k.default) for n, k in AUTO_GRANT_KEYS.items()}}
        )
        == Config()
    )
    assert tuple(ROUTE_KEYS) == tuple(f.name for f in fields(Route))
    assert set(AUTO_GRANT_KEYS) == {f.name for f in fields(AutoGrant)}
    assert set(FIRESTORE_KEYS) == {f.name for f in fields(FirestoreLedgerConfig)}


def _yaml_value(value: object) -> object:
    """A table default as YAML would give it: a list, not a tuple."""
    return list(value) if isinstance(value, tuple) else value


APPS = "projects/shop/locations/us/repositories/apps"


def test_approval_routes_grants_to_approvers() -> None:
    assert not Config().auto_grant.needs_approval(APPS)
    every = config_from_dict(
        {"auto_grant": {"approval": "required", "approvers": ["Alice@Example.com"]}}
    ).auto_grant
    assert every.needs_approval(APPS) and every.approval_expires_after == 3600
    assert every.is_approver("alice@example.com")
    assert not every.is_approver("slack:ALICE") and not every.is_approver("mallory@example.com")
    some = config_from_dict(
        {
            "auto_grant": {
                "approval_repositories": ["projects/shop/locations/*/repositories/apps"],
                "approvers": ["slack:U0123"],
                "approval_expires_after": "30m",
            }
        }
    ).auto_grant
    assert some.needs_approval(APPS) and some.approval_expires_after == 1800
    assert not some.needs_approval("projects/shop/locations/us/repositories/other")
    assert some.is_approver("slack:U0123") and not some.is_approver("slack:u0123")
    groups = config_from_dict(
        {"auto_grant": {"approval": "required", "approvers": ["group:SRE@example.com"]}}
    ).auto_grant
    assert groups.approver_groups == ("SRE@example.com",)
    assert not groups.is_approver("group:sre@example.com")  # only its members, at the click


@pytest.mark.parametrize(
    ("auto_grant", "message"),
    [
        ({"approval": "yes"}, "auto_grant.approval: expected none or required, got 'yes'"),
        ({"approval": "required"}, "auto_grant.approvers: required when grants wait"),
        ({"approval_repositories": ["projects/p/locations/*/repositories/*"]}, "required when"),
        ({"approval_repositories": ["apps"]}, "must look like projects/P/locations/L"),
        ({"approvers": ["alice"]}, "'alice' is neither an email, slack:USER_ID"),
        ({"approvers": ["slack:<@U1>"]}, "is neither an email, slack:USER_ID"),
        ({"approvers": ["group:ops"]}, "is neither an email, slack:USER_ID nor group:EMAIL"),
        ({"approval_expires_after": "8d"}, "auto_grant.approval_expires_after: expected 1s to 7d"),
    ],
)
def test_bad_approval_settings_name_the_field(auto_grant: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        config_from_dict({"auto_grant": auto_grant})
