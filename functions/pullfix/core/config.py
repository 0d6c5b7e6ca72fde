"""The service's settings (DESIGN.md, "Config file"), loaded from PULLFIX_CONFIG.

Every field is validated and a bad one is named. Defaults are the safe ones: with no file,
pullfix never grants (the repository allow-list is empty) and only files tickets.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pullfix.core.causes import Cause
from pullfix.core.schema import load_yaml, mapping
from pullfix.errors import PullfixError

__all__ = [
    "CONFIG_KEYS",
    "DURATION_BOUNDS",
    "AutoGrant",
    "Config",
    "ConfigError",
    "FirestoreLedgerConfig",
    "Route",
    "check_config",
    "config_from_env",
    "format_duration",
    "lease_warning",
    "load_config",
    "parse_duration",
    "topic_name",
]

CONFIG_VARIABLE = "PULLFIX_CONFIG"
OUTCOMES_VARIABLE = "PULLFIX_OUTCOMES_TOPIC"
# Secret Manager's limit for a secret's payload, where Terraform stores the config: "Must be
# no larger than 64KiB" (https://cloud.google.com/secret-manager/docs/reference/rest/v1/SecretPayload).
MAX_CONFIG_BYTES = 64 * 1024
# The top-level keys of the config file.
CONFIG_KEYS = (
    "dry_run",
    "auto_grant",
    "dedupe_window",
    "ledger",
    "notify",
    "escalation_grace",
    "followup_grace",
    "abandon_after",
    "verify_per_run",
    "max_event_age",
    "api_timeout",
    "lease",
)
# ASCII digits only (`\d` would take Arabic-Indic digits), and few enough for int().
_DURATION_RE = re.compile(
    r"(?:([0-9]{1,9})d)?(?:([0-9]{1,9})h)?(?:([0-9]{1,9})m)?(?:([0-9]{1,12})s)?"
)
MINUTE, HOUR, DAY = 60, 3600, 86400
# No duration pullfix reads (a setting or a flag) is longer than a century: beyond that,
# datetime arithmetic on it overflows (`100000000d` would raise OverflowError on every event).
MAX_DURATION = 36500 * DAY
# The bounds of each duration setting, in seconds (docs/config.md explains each).
DURATION_BOUNDS: dict[str, tuple[int, int]] = {
    # Below a minute a retrying pod is a new incident each time; beyond 30 days a
    # recurrence months later is suppressed as a repeat.
    "dedupe_window": (MINUTE, 30 * DAY),
    # IAM takes minutes to propagate: a shorter grace escalates grants that work.
    "escalation_grace": (MINUTE, DAY),
    # kubelet's image back-off tops out at 5 minutes; 0 tickets at once.
    "followup_grace": (0, HOUR),
    # 36500d (a century) is in effect "never" (the demo and replays of old events use it).
    "abandon_after": (MINUTE, MAX_DURATION),
    "max_event_age": (MINUTE, MAX_DURATION),
    # One Google call may not outlast notify, whose timeout is 60 s.
    "api_timeout": (1, 60),
    # A lease shorter than remediate's timeout is a warning (see lease_warning); beyond an
    # hour a crashed worker holds its incident too long.
    "lease": (1, HOUR),
}
# The functions' timeouts as Terraform deploys them (terraform/functions.tf): a lease must
# outlast the longest invocation that holds one (remediate's; notify's is 60 s).
FUNCTION_TIMEOUT = 120
_CHATS = ("google", "slack", "webhook")


class ConfigError(PullfixError, ValueError):
    """A config file that does not follow the schema; the message names the field."""


@dataclass(frozen=True)
class AutoGrant:
    """Where pullfix may grant `roles/artifactregistry.reader`, and how often."""

    repositories: tuple[str, ...] = ()
    cluster_projects: tuple[str, ...] = ("*",)
    level: str = "repository"
    max_per_hour: int = 20
    # Whether a grant may go beside a conditional binding the account already has.
    beside_conditions: bool = False

    def allows_repository(self, resource: str) -> bool:
        """Whether `resource` fits a glob of `repositories`; each `*`, `?` or `[…]` matches
        within one path segment (`projects/*/…` never spans a `/`)."""
        return any(_segments_match(resource, glob) for glob in self.repositories)

    def allows_project_grant(self, project: str) -> bool:
        """A project-level grant reaches every repository of the project: only a glob that
        names the project with every location and repository allows it."""
        return any(
            _segments_match(f"projects/{project}", "/".join(glob.split("/")[:2]))
            and glob.split("/")[2:] == ["locations", "*", "repositories", "*"]
            for glob in self.repositories
        )

    def allows_cluster_project(self, project: str) -> bool:
        return any(fnmatch.fnmatchcase(project, glob) for glob in self.cluster_projects)


def _segments_match(name: str, glob: str) -> bool:
    names, globs = name.split("/"), glob.split("/")
    return len(names) == len(globs) and all(
        fnmatch.fnmatchcase(n, g) for n, g in zip(names, globs, strict=True)
    )


@dataclass(frozen=True)
class FirestoreLedgerConfig:
    database: str = "(default)"
    collection: str = "pullfix-incidents"
    project: str | None = None


@dataclass(frozen=True)
class Route:
    """A notification route: the first whose filters all match an outcome wins."""

    chat: str
    webhook_url_env: str | None = None
    namespace: str | None = None
    cluster: str | None = None
    cause: str | None = None
    repository_project: str | None = None
    tickets: str | None = None  # "github" to file tickets as GitHub issues
    github_repo: str | None = None
    github_token_env: str | None = None
    # Slack through the Web API (chat.postMessage, with a bot token) instead of an incoming
    # webhook: it answers with the message's ts, so an incident's later messages thread.
    slack_token_env: str | None = None
    slack_channel: str | None = None


@dataclass(frozen=True)
class Config:
    dry_run: bool = False
    auto_grant: AutoGrant = field(default_factory=AutoGrant)
    dedupe_window: int = 3600
    escalation_grace: int = 600
    # How long a follow-up that gives no reason (`Back-off pulling image`) waits for the
    # event that does before a grant-fixable incident is ticketed on it.
    followup_grace: int = 60
    # Verification: an incident with neither a failure nor a successful pull for this long
    # is closed as abandoned; at most this many incidents are checked per run.
    abandon_after: int = 86400
    verify_per_run: int = 200
    max_event_age: int = 86400
    api_timeout: int = 10
    lease: int = 150
    ledger: str | FirestoreLedgerConfig = "memory"
    routes: tuple[Route, ...] = ()


def parse_duration(value: object, where: str, bounds: tuple[int, int] = (0, MAX_DURATION)) -> int:
    """Seconds from `90s`, `10m`, `1h`, `1d2h` or a number of seconds, within `bounds`."""
    seconds = None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        seconds = value
    elif isinstance(value, str):
        match = _DURATION_RE.fullmatch(value.strip())
        if match and any(match.groups()):
            d, h, m, s = (int(g or 0) for g in match.groups())
            seconds = ((d * 24 + h) * 60 + m) * 60 + s
    if seconds is None:
        raise ConfigError(
            f"{where}: expected a duration like 90s, 10m, 1h or 1d, got {value!r:.60}"
        )
    low, high = bounds
    if not low <= seconds <= high:
        raise ConfigError(
            f"{where}: expected {format_duration(low)} to {format_duration(high)}, "
            f"got {value!r:.60}"
        )
    return seconds


def format_duration(seconds: int) -> str:
    """`1d2h`, `90s`→`1m30s`, `0s`: the shortest spelling parse_duration reads back."""
    parts: list[str] = []
    for unit, size in (("d", DAY), ("h", HOUR), ("m", MINUTE), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)


def _duration(root: Mapping[str, Any], key: str, default: str) -> int:
    return parse_duration(root.get(key, default), key, DURATION_BOUNDS[key])


def lease_warning(config: Config) -> str | None:
    """Why `lease` is unsafe, if it is: shorter than remediate's timeout, a live worker's
    incident may be taken over by a redelivery, and both act on it."""
    if config.lease > FUNCTION_TIMEOUT:
        return None
    return (
        f"lease: {format_duration(config.lease)} is not longer than the remediate function's "
        f"{FUNCTION_TIMEOUT}s timeout: a redelivery may take over an incident whose worker "
        "is still running, and both act on it"
    )


def load_config(path: str | Path | None) -> Config:
    """Read and validate a config file; None gives the defaults."""
    if path is None:
        return Config()
    data = load_yaml(path, "config file", ConfigError, max_bytes=MAX_CONFIG_BYTES, strict=True)
    return config_from_dict(data if data is not None else {})


def config_from_env() -> Config:
    """The config named by PULLFIX_CONFIG, or the defaults."""
    return load_config(os.environ.get(CONFIG_VARIABLE) or None)


def config_from_dict(data: object) -> Config:
    root = _mapping(data, "config", CONFIG_KEYS)
    dry_run = root.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise ConfigError(f"dry_run: expected true or false, got {dry_run!r}")
    return Config(
        dry_run=dry_run,
        auto_grant=_auto_grant(_empty_if_none(root.get("auto_grant"))),
        dedupe_window=_duration(root, "dedupe_window", "1h"),
        escalation_grace=_duration(root, "escalation_grace", "10m"),
        followup_grace=_duration(root, "followup_grace", "60s"),
        abandon_after=_duration(root, "abandon_after", "1d"),
        verify_per_run=_verify_per_run(root.get("verify_per_run", 200)),
        max_event_age=_duration(root, "max_event_age", "1d"),
        api_timeout=_duration(root, "api_timeout", "10s"),
        lease=_duration(root, "lease", "150s"),
        ledger=_ledger(root.get("ledger", "memory")),
        routes=_routes(_empty_if_none(root.get("notify"))),
    )


def _empty_if_none(value: object) -> object:
    """A section left empty (`notify:`) is the defaults; `notify: false` or `[]` is an error,
    not the defaults."""
    return {} if value is None else value


def _auto_grant(value: object) -> AutoGrant:
    data = _mapping(
        value,
        "auto_grant",
        ("repositories", "cluster_projects", "level", "max_per_hour", "beside_conditions"),
    )
    repositories = _globs(data.get("repositories", []), "auto_grant.repositories")
    for glob in repositories:
        if not glob.startswith("projects/"):
            raise ConfigError(
                f"auto_grant.repositories: {glob!r} must look like "
                "projects/P/locations/L/repositories/R (globs allowed)"
            )
    level = data.get("level", "repository")
    if level not in ("repository", "project"):
        raise ConfigError(f"auto_grant.level: expected repository or project, got {level!r}")
    cap = data.get("max_per_hour", 20)
    if not isinstance(cap, int) or isinstance(cap, bool) or not 0 <= cap <= 10_000:
        raise ConfigError(f"auto_grant.max_per_hour: expected 0-10000, got {cap!r}")
    beside = data.get("beside_conditions", False)
    if not isinstance(beside, bool):
        raise ConfigError(f"auto_grant.beside_conditions: expected true or false, got {beside!r}")
    return AutoGrant(
        beside_conditions=beside,
        repositories=tuple(repositories),
        cluster_projects=tuple(
            _globs(data.get("cluster_projects", ["*"]), "auto_grant.cluster_projects")
        ),
        level=level,
        max_per_hour=cap,
    )


# What Firestore accepts as ids: a database is "(default)" or 4-63 of [a-z0-9-], a letter
# first and no hyphen last, not UUID-like (CreateDatabaseRequest.database_id); a collection
# id has no "/", is not "." or "..", does not match __.*__ and is at most 1,500 bytes
# (https://cloud.google.com/firestore/quotas, "Collections, documents, and fields"); the
# ledger adds "-open" to it for open incidents. A project id is lowercase letters, digits
# and hyphens, a letter first (or a legacy domain-scoped "example.com:name"); its length is
# Google's to check (sandbox worlds use short ones).
_DATABASE_ID = re.compile(r"\(default\)|[a-z][a-z0-9-]{2,61}[a-z0-9]")
_UUID_LIKE = re.compile(r"[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}")
_PROJECT_ID = re.compile(r"(?:[a-z0-9.-]+:)?[a-z][a-z0-9-]*")
_FIRESTORE_IDS: dict[str, tuple[Callable[[str], bool], str]] = {
    "database": (
        lambda v: bool(_DATABASE_ID.fullmatch(v)) and not _UUID_LIKE.fullmatch(v),
        'expected "(default)" or 4-63 lowercase letters, digits and hyphens',
    ),
    "collection": (
        lambda v: (
            "/" not in v
            and v not in (".", "..")
            and not re.fullmatch(r"__.*__", v)
            and len(v.encode()) <= 1500 - len("-open")
            and v.isprintable()
        ),
        "expected a Firestore collection id (no '/', not '.' or '..', not __name__)",
    ),
    "project": (lambda v: bool(_PROJECT_ID.fullmatch(v)), "expected a project id"),
}


# A Pub/Sub topic id "must start with a letter, and contain only letters ([A-Za-z]), numbers
# ([0-9]), dashes (-), underscores (_), periods (.), tildes (~), plus (+) or percent signs
# (%). It must be between 3 and 255 characters in length, and it must not start with
# "goog"" (https://cloud.google.com/pubsub/docs/create-topic#resource_names, and the Topic
# resource's `name` in the Pub/Sub API reference).
_TOPIC_ID = re.compile(r"[A-Za-z][A-Za-z0-9._~+%-]{2,254}")
_TOPIC_NAME = re.compile(r"projects/([^/]+)/topics/([^/]+)")


def topic_name(value: str, where: str) -> str:
    """`value` if it is a topic Pub/Sub accepts, `projects/P/topics/T`; else ConfigError."""
    match = _TOPIC_NAME.fullmatch(value)
    if match is None:
        raise ConfigError(f"{where} must look like projects/P/topics/T, got {value!r:.300}")
    project, topic = match.groups()
    if not _PROJECT_ID.fullmatch(project):
        raise ConfigError(f"{where}: {project!r:.100} is not a project id")
    if not _TOPIC_ID.fullmatch(topic) or topic.lower().startswith("goog"):
        raise ConfigError(
            f"{where}: Pub/Sub would refuse the topic id {topic!r:.300}: 3-255 letters, digits "
            "and - _ . ~ + %, a letter first, not starting with goog"
        )
    return value


def _ledger(value: object) -> str | FirestoreLedgerConfig:
    if value == "memory":
        return "memory"
    if isinstance(value, dict) and set(value) == {"firestore"}:
        spec = _mapping(
            _empty_if_none(value["firestore"]),
            "ledger.firestore",
            ("database", "collection", "project"),
        )
        for key in spec:
            if not isinstance(spec[key], str) or not spec[key]:
                raise ConfigError(f"ledger.firestore.{key}: expected a non-empty string")
            rule, text = _FIRESTORE_IDS[key]
            if not rule(spec[key]):
                raise ConfigError(f"ledger.firestore.{key}: {text}, got {spec[key]!r}")
        return FirestoreLedgerConfig(**spec)
    raise ConfigError(f"ledger: expected memory or {{firestore: {{...}}}}, got {value!r}")


def _verify_per_run(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000:
        raise ConfigError(f"verify_per_run: expected 1-10000 incidents, got {value!r}")
    return value


def _routes(value: object) -> tuple[Route, ...]:
    data = _mapping(value, "notify", ("routes",))
    routes = data.get("routes", [])
    if not isinstance(routes, list):
        raise ConfigError("notify.routes: expected a list of routes")
    out = []
    for index, item in enumerate(routes):
        where = f"notify.routes[{index}]"
        spec = _mapping(item, where, tuple(Route.__dataclass_fields__))
        for key, val in spec.items():
            if not isinstance(val, str) or not val:
                raise ConfigError(f"{where}.{key}: expected a non-empty string, got {val!r}")
        if spec.get("chat") not in _CHATS:
            raise ConfigError(
                f"{where}.chat: expected one of {', '.join(_CHATS)}, got {spec.get('chat')!r}"
            )
        if "slack_token_env" in spec or "slack_channel" in spec:
            if spec["chat"] != "slack" or not (
                spec.get("slack_token_env") and spec.get("slack_channel")
            ):
                raise ConfigError(
                    f"{where}: slack_token_env and slack_channel go together, with chat: slack"
                )
        elif "webhook_url_env" not in spec:
            raise ConfigError(f"{where}.webhook_url_env: required (the variable holding the URL)")
        if "cause" in spec and spec["cause"] not in {c.value for c in Cause}:
            raise ConfigError(f"{where}.cause: {spec['cause']!r} is not a cause")
        if spec.get("tickets") not in (None, "github"):
            raise ConfigError(f"{where}.tickets: expected github, got {spec['tickets']!r}")
        if spec.get("tickets") == "github" and not (
            spec.get("github_repo") and spec.get("github_token_env")
        ):
            raise ConfigError(f"{where}: tickets: github needs github_repo and github_token_env")
        out.append(Route(**spec))
    return tuple(out)


def _globs(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: expected a list of glob strings, got {value!r}")
    return list(value)


def _mapping(value: object, where: str, allowed: tuple[str, ...] | None) -> dict[str, Any]:
    return mapping(value, where, allowed, ConfigError)


def check_config(config: Config, environ: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """What a loaded config still gets wrong against `environ`: (problems, warnings).

    Problems: a route's variables unset or malformed (named, never their values), and
    PULLFIX_OUTCOMES_TOPIC when it is set but Pub/Sub would refuse it. Warnings:
    allow-list globs wider than they look, a lease shorter than the function's timeout.
    """
    from pullfix.core.secrets import github_token, slack_token, webhook_url

    problems: list[str] = []
    for index, route in enumerate(config.routes):
        checks: list[tuple[Callable[[Mapping[str, str], str | None, str], str], str | None]]
        checks = (
            [(slack_token, route.slack_token_env)]
            if route.slack_token_env
            else [(webhook_url, route.webhook_url_env)]
        )
        if route.tickets == "github":
            checks.append((github_token, route.github_token_env))
        for check, name in checks:
            try:
                check(environ, name, f"notify.routes[{index}]")
            except ConfigError as exc:
                problems.append(str(exc))
    topic = environ.get(OUTCOMES_VARIABLE)
    if topic:
        try:
            topic_name(topic, OUTCOMES_VARIABLE)
        except ConfigError as exc:
            problems.append(str(exc))
    warnings = []
    for glob in config.auto_grant.repositories:
        if glob.count("/") != 5:
            warnings.append(
                f"auto_grant.repositories: {glob!r} matches no repository: globs match one "
                "segment at a time, and a repository is projects/P/locations/L/repositories/R"
            )
        project = glob.split("/")[1] if glob.count("/") >= 1 else ""
        if any(c in project for c in "*?["):
            warnings.append(
                f"auto_grant.repositories: {glob!r} has a wildcard in the project: it matches "
                "every project whose id fits it (projects/shop-* matches shop-evil too)"
            )
    lease = lease_warning(config)
    if lease is not None:
        warnings.append(lease)
    if "*" in config.auto_grant.cluster_projects and config.auto_grant.repositories:
        warnings.append(
            "auto_grant.cluster_projects: '*' lets the node account of any cluster project "
            "receive a grant on the allow-listed repositories"
        )
    return problems, warnings
