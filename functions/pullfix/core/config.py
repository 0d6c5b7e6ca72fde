"""The service's settings (DESIGN.md, "Config file"), built from the file's bytes or its data.

Reading the file that PULLFIX_CONFIG names is `pullfix.settings`'s; this module does no I/O.

Every field is validated and a bad one is named. Defaults are the safe ones: with no file,
pullfix never grants (the repository allow-list is empty) and only files tickets.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pullfix.core.causes import Cause
from pullfix.core.schema import mapping, parse_yaml
from pullfix.errors import ConfigError

__all__ = [
    "AUTO_GRANT_KEYS",
    "CONFIG_FIELDS",
    "CONFIG_KEYS",
    "DURATION_BOUNDS",
    "FIRESTORE_KEYS",
    "ROUTE_KEYS",
    "AutoGrant",
    "Config",
    "ConfigError",
    "FirestoreLedgerConfig",
    "Key",
    "Route",
    "check_config",
    "config_from_dict",
    "config_from_yaml",
    "format_duration",
    "lease_warning",
    "parse_duration",
    "topic_name",
]

CONFIG_VARIABLE = "PULLFIX_CONFIG"
OUTCOMES_VARIABLE = "PULLFIX_OUTCOMES_TOPIC"
# Secret Manager's limit for a secret's payload, where Terraform stores the config: "Must be
# no larger than 64KiB" (https://cloud.google.com/secret-manager/docs/reference/rest/v1/SecretPayload).
MAX_CONFIG_BYTES = 64 * 1024
# ASCII digits only (`\d` would take Arabic-Indic digits), and few enough for int().
_DURATION_RE = re.compile(
    r"(?:([0-9]{1,9})d)?(?:([0-9]{1,9})h)?(?:([0-9]{1,9})m)?(?:([0-9]{1,12})s)?"
)
MINUTE, HOUR, DAY = 60, 3600, 86400
# No duration pullfix reads (a setting or a flag) is longer than a century: beyond that,
# datetime arithmetic on it overflows (`100000000d` would raise OverflowError on every event).
MAX_DURATION = 36500 * DAY


@dataclass(frozen=True)
class Key:
    """One key of the config file, as the loader checks it and `pullfix config schema`
    describes it (`pullfix.core.configschema`).

    `kind` is one of: boolean; duration (`bounds` in seconds); integer (`bounds`); choice
    (one of `choices`); globs (a list of non-empty strings, each matching `pattern` if
    given); string (non-empty, matching `pattern` and never `not_pattern`, if given);
    section (a mapping of `keys`; left empty, the defaults); routes (a list of mappings of
    `keys`); ledger (`memory`, or a mapping of `keys`). Patterns are whole-string matches,
    written in the part of regular-expression syntax Python's `re` and JSON Schema's
    ECMA-262 share. What the table cannot say (a route's keys that go together, a Firestore
    id's length in bytes) is checked in code: the loader's, and the schema's own."""

    kind: str
    default: Any = None
    doc: str = ""
    bounds: tuple[int, int] | None = None
    choices: tuple[str, ...] = ()
    keys: Mapping[str, Key] | None = None
    pattern: str | None = None
    not_pattern: str | None = None


# What Firestore accepts as ids: a database is "(default)" or 4-63 of [a-z0-9-], a letter
# first and no hyphen last, not UUID-like (CreateDatabaseRequest.database_id); a collection
# id has no "/", is not "." or "..", does not match __.*__ and is at most 1,500 bytes
# (https://cloud.google.com/firestore/quotas, "Collections, documents, and fields"); the
# ledger adds "-open" to it for open incidents. A project id is lowercase letters, digits
# and hyphens, a letter first (or a legacy domain-scoped "example.com:name"); its length is
# Google's to check (sandbox worlds use short ones).
_PROJECT_PATTERN = r"(?:[a-z0-9.-]+:)?[a-z][a-z0-9-]*"
# An approver: an email (as Google Chat gives the clicking user's), or `slack:` and a Slack
# user id (as Slack gives it: letters and digits).
APPROVER_PATTERN = r"[^@\s:]+@[^@\s]+\.[^@\s]+|slack:[A-Z0-9]+|group:[^@\s:]+@[^@\s]+\.[^@\s]+"

AUTO_GRANT_KEYS: dict[str, Key] = {
    "repositories": Key(
        "globs",
        (),
        "Artifact Registry repositories (projects/P/locations/L/repositories/R, globs) "
        "pullfix may grant roles/artifactregistry.reader on; empty: never grant",
        pattern="projects/.*",
    ),
    "cluster_projects": Key(
        "globs", ("*",), "projects whose node service accounts may receive a grant (globs)"
    ),
    "level": Key(
        "choice",
        "repository",
        "grant on the repository, or on the repository's project",
        choices=("repository", "project"),
    ),
    "max_per_hour": Key(
        "integer", 20, "grants in any 60 minutes; beyond it, tickets", bounds=(0, 10_000)
    ),
    "beside_conditions": Key(
        "boolean",
        False,
        "whether a grant may go beside a conditional binding the account already has",
    ),
    # At least an hour: IAM takes minutes to propagate, and kubelet keeps retrying; at most a
    # year, beyond which a grant is as good as permanent and Terraform should hold it.
    "expires_after": Key(
        "duration",
        None,
        "each grant expires this long after it is made (an IAM condition on request.time); "
        "unset: grants are permanent",
        bounds=(HOUR, 365 * DAY),
    ),
    "approval": Key(
        "choice",
        "none",
        "required: every grant waits for an approver's click in chat (the approve function)",
        choices=("none", "required"),
    ),
    "approval_repositories": Key(
        "globs",
        (),
        "repositories (globs, among `repositories`) whose grants wait for approval even when "
        "approval is none",
        pattern="projects/.*",
    ),
    # Google Chat users by the email their clicks carry; Slack users by id (clicks carry no
    # email): `slack:U0123ABCD`.
    "approvers": Key(
        "globs",
        (),
        "who may approve or deny: Google Chat users' emails, Slack users as slack:USER_ID, "
        "members of a Google group as group:EMAIL",
        pattern=APPROVER_PATTERN,
    ),
    "approval_expires_after": Key(
        "duration",
        "1h",
        "how long an approval request can be approved; after it, the next failure asks again",
        bounds=(1, 7 * DAY),
    ),
}
FIRESTORE_KEYS: dict[str, Key] = {
    "database": Key(
        "string",
        "(default)",
        'Firestore database: "(default)" or 4-63 lowercase letters, digits and hyphens',
        pattern=r"\(default\)|[a-z][a-z0-9-]{2,61}[a-z0-9]",
        not_pattern=r"[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}",
    ),
    "collection": Key(
        "string",
        "pullfix-incidents",
        "collection of incident documents (open ones go to the one named with -open added)",
        pattern=r"[^/]+",
        not_pattern=r"\.|\.\.|__.*__",
    ),
    "project": Key(
        "string",
        None,
        "project of the database (default: GOOGLE_CLOUD_PROJECT, else the outcomes topic's)",
        pattern=_PROJECT_PATTERN,
    ),
}
# In Route's field order (a test holds them together).
ROUTE_KEYS: dict[str, Key] = {
    "chat": Key(
        "choice",
        None,
        "Google Chat, Slack or a plain webhook",
        choices=("google", "slack", "webhook"),
    ),
    "webhook_url_env": Key("string", None, "the environment variable holding the webhook URL"),
    "namespace": Key("string", None, "a glob the outcome's namespace must match"),
    "cluster": Key("string", None, "a glob the outcome's cluster (name or resource) must match"),
    "cause": Key(
        "choice", None, "the cause the outcome must have", choices=tuple(c.value for c in Cause)
    ),
    "repository_project": Key("string", None, "a glob the repository's project must match"),
    "tickets": Key(
        "choice", None, "github: also file tickets as GitHub issues", choices=("github",)
    ),
    "github_repo": Key("string", None, "owner/name, with tickets: github"),
    "github_token_env": Key(
        "string", None, "the environment variable holding the GitHub token, with tickets: github"
    ),
    "slack_token_env": Key(
        "string", None, "with chat: slack, the environment variable holding a Slack bot token"
    ),
    "slack_channel": Key("string", None, "with chat: slack and slack_token_env, the channel id"),
    # A space's resource name is `spaces/{space}`, the id as it appears in the space's URL
    # (https://developers.google.com/workspace/chat/api/reference/rest/v1/spaces#Space).
    "google_chat_space": Key(
        "string",
        None,
        "with chat: google, instead of webhook_url_env: the space (spaces/ID) the Chat app "
        "posts to through the Chat API, so that approval buttons reach the approve function",
        pattern=r"spaces/[A-Za-z0-9_-]{1,128}",
    ),
}
# The config file's top-level keys, in order; durations' bounds in seconds (docs/config.md
# explains each).
CONFIG_FIELDS: dict[str, Key] = {
    "dry_run": Key("boolean", False, "never change IAM; report would_grant instead"),
    "auto_grant": Key(
        "section", None, "where pullfix may grant, and how often", keys=AUTO_GRANT_KEYS
    ),
    # Below a minute a retrying pod is a new incident each time; beyond 30 days a
    # recurrence months later is suppressed as a repeat.
    "dedupe_window": Key(
        "duration", "1h", "how long an incident stays known", bounds=(MINUTE, 30 * DAY)
    ),
    "ledger": Key(
        "ledger",
        "memory",
        "where incidents are remembered: memory (one instance), or {firestore: {...}}",
        keys={"firestore": Key("section", None, "a Firestore ledger", keys=FIRESTORE_KEYS)},
    ),
    "notify": Key(
        "section",
        None,
        "where outcomes go",
        keys={
            "routes": Key(
                "routes", (), "the first route whose filters all match wins", keys=ROUTE_KEYS
            )
        },
    ),
    # IAM takes minutes to propagate: a shorter grace escalates grants that work.
    "escalation_grace": Key(
        "duration",
        "10m",
        "after a grant, failures that go on past this become one escalation ticket",
        bounds=(MINUTE, DAY),
    ),
    # kubelet's image back-off tops out at 5 minutes; 0 tickets at once.
    "followup_grace": Key(
        "duration",
        "60s",
        "how long a Back-off event, which gives no reason, waits for the Failed event that does",
        bounds=(0, HOUR),
    ),
    # 36500d (a century) is in effect "never" (the demo and replays of old events use it).
    "abandon_after": Key(
        "duration",
        "1d",
        "verification: an incident with neither a failure nor a pull for this long is abandoned",
        bounds=(MINUTE, MAX_DURATION),
    ),
    "verify_per_run": Key(
        "integer", 200, "verification: at most this many incidents per pass", bounds=(1, 10_000)
    ),
    # Cloud Logging's read quota: "Number of entries.list requests: 60 per minute, per Google
    # Cloud project" (https://cloud.google.com/logging/quotas#api-limits). A pass takes at most
    # half a minute's worth, leaving the rest to people reading logs in the same project.
    "verify_requests_per_run": Key(
        "integer",
        30,
        "verification: at most this many Cloud Logging entries.list requests per pass",
        bounds=(1, 1_000),
    ),
    "max_event_age": Key(
        "duration", "1d", "older events are dropped", bounds=(MINUTE, MAX_DURATION)
    ),
    # One Google call may not outlast notify, whose timeout is 60 s.
    "api_timeout": Key("duration", "10s", "per Google API call", bounds=(1, 60)),
    # A lease shorter than remediate's timeout is a warning (see lease_warning); beyond an
    # hour a crashed worker holds its incident too long.
    "lease": Key(
        "duration", "150s", "how long work under way holds its incident", bounds=(1, HOUR)
    ),
}
# The top-level keys of the config file.
CONFIG_KEYS = tuple(CONFIG_FIELDS)
# The bounds of each duration setting, in seconds.
DURATION_BOUNDS: dict[str, tuple[int, int]] = {
    name: key.bounds
    for name, key in CONFIG_FIELDS.items()
    if key.kind == "duration" and key.bounds is not None
}
# The functions' timeouts as Terraform deploys them (terraform/functions.tf): a lease must
# outlast the longest invocation that holds one (remediate's; notify's is 60 s).
FUNCTION_TIMEOUT = 120


@dataclass(frozen=True)
class AutoGrant:
    """Where pullfix may grant `roles/artifactregistry.reader`, and how often."""

    repositories: tuple[str, ...] = ()
    cluster_projects: tuple[str, ...] = ("*",)
    level: str = "repository"
    max_per_hour: int = 20
    # Whether a grant may go beside a conditional binding the account already has.
    beside_conditions: bool = False
    # Seconds a grant lasts (a conditional binding on request.time); None: permanent.
    expires_after: int | None = None
    # Grants that wait for a person's click in chat (pullfix.engine.approval).
    approval: str = "none"
    approval_repositories: tuple[str, ...] = ()
    approvers: tuple[str, ...] = ()
    approval_expires_after: int = 3600

    def needs_approval(self, repository: str) -> bool:
        """Whether a grant for `repository` waits for an approver instead of being made."""
        return self.approval == "required" or any(
            _segments_match(repository, glob) for glob in self.approval_repositories
        )

    def is_approver(self, identity: str) -> bool:
        """Whether `identity` (an email, or `slack:USER_ID`) is among the approvers; emails
        compare without regard to case, as Google's do."""
        if identity.startswith("slack:"):
            return identity in self.approvers
        return identity.lower() in (a.lower() for a in self.approvers if not a.startswith("group:"))

    @property
    def approver_groups(self) -> tuple[str, ...]:
        """The Google groups (emails) whose members may approve: `group:EMAIL` entries,
        checked at each click (`pullfix.engine.approval`)."""
        return tuple(a.removeprefix("group:") for a in self.approvers if a.startswith("group:"))

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
    # Google Chat through the Chat API as the Chat app (spaces.messages.create, the notify
    # function's own credentials) instead of an incoming webhook: only a Chat app's cards
    # can be clicked.
    google_chat_space: str | None = None


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
    # At most this many Cloud Logging entries.list requests (pages) per verification pass.
    verify_requests_per_run: int = 30
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


def _duration(root: Mapping[str, Any], key: str) -> int:
    return parse_duration(root.get(key, CONFIG_FIELDS[key].default), key, DURATION_BOUNDS[key])


def _bounded_int(value: object, where: str, key: Key, unit: str = "") -> int:
    low, high = key.bounds or (0, 0)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{where}: expected {low}-{high}{unit}, got {value!r}")
    return value


def _get(data: Mapping[str, Any], keys: Mapping[str, Key], name: str) -> Any:
    """`data[name]`, else the table's default (a list where the table has a tuple)."""
    default = keys[name].default
    return data.get(name, list(default) if isinstance(default, tuple) else default)


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


def config_from_yaml(raw: bytes, source: str) -> Config:
    """Validate a config file's bytes (`source` names the file in errors); an empty file
    gives the defaults."""
    data = parse_yaml(
        raw, f"config file {source}", ConfigError, max_bytes=MAX_CONFIG_BYTES, strict=True
    )
    return config_from_dict(data if data is not None else {})


def config_from_dict(data: object) -> Config:
    root = _mapping(data, "config", CONFIG_KEYS)
    dry_run = _get(root, CONFIG_FIELDS, "dry_run")
    if not isinstance(dry_run, bool):
        raise ConfigError(f"dry_run: expected true or false, got {dry_run!r}")
    return Config(
        dry_run=dry_run,
        auto_grant=_auto_grant(_empty_if_none(root.get("auto_grant"))),
        dedupe_window=_duration(root, "dedupe_window"),
        escalation_grace=_duration(root, "escalation_grace"),
        followup_grace=_duration(root, "followup_grace"),
        abandon_after=_duration(root, "abandon_after"),
        verify_per_run=_bounded_int(
            _get(root, CONFIG_FIELDS, "verify_per_run"),
            "verify_per_run",
            CONFIG_FIELDS["verify_per_run"],
            " incidents",
        ),
        verify_requests_per_run=_bounded_int(
            _get(root, CONFIG_FIELDS, "verify_requests_per_run"),
            "verify_requests_per_run",
            CONFIG_FIELDS["verify_requests_per_run"],
            " requests",
        ),
        max_event_age=_duration(root, "max_event_age"),
        api_timeout=_duration(root, "api_timeout"),
        lease=_duration(root, "lease"),
        ledger=_ledger(_get(root, CONFIG_FIELDS, "ledger")),
        routes=_routes(_empty_if_none(root.get("notify"))),
    )


def _empty_if_none(value: object) -> object:
    """A section left empty (`notify:`) is the defaults; `notify: false` or `[]` is an error,
    not the defaults."""
    return {} if value is None else value


def _auto_grant(value: object) -> AutoGrant:
    keys = AUTO_GRANT_KEYS
    data = _mapping(value, "auto_grant", tuple(keys))
    repositories = _globs(_get(data, keys, "repositories"), "auto_grant.repositories")
    for glob in repositories:
        if not _id_rule(keys["repositories"])(glob):
            raise ConfigError(
                f"auto_grant.repositories: {glob!r} must look like "
                "projects/P/locations/L/repositories/R (globs allowed)"
            )
    level = _get(data, keys, "level")
    if level not in keys["level"].choices:
        choices = " or ".join(keys["level"].choices)
        raise ConfigError(f"auto_grant.level: expected {choices}, got {level!r}")
    cap = _bounded_int(
        _get(data, keys, "max_per_hour"), "auto_grant.max_per_hour", keys["max_per_hour"]
    )
    beside = _get(data, keys, "beside_conditions")
    if not isinstance(beside, bool):
        raise ConfigError(f"auto_grant.beside_conditions: expected true or false, got {beside!r}")
    approval = _get(data, keys, "approval")
    if approval not in keys["approval"].choices:
        raise ConfigError(f"auto_grant.approval: expected none or required, got {approval!r}")
    gated = _globs(_get(data, keys, "approval_repositories"), "auto_grant.approval_repositories")
    for glob in gated:
        if not _id_rule(keys["approval_repositories"])(glob):
            raise ConfigError(
                f"auto_grant.approval_repositories: {glob!r} must look like "
                "projects/P/locations/L/repositories/R (globs allowed)"
            )
    approvers = _globs(_get(data, keys, "approvers"), "auto_grant.approvers")
    for approver in approvers:
        if not _id_rule(keys["approvers"])(approver):
            raise ConfigError(
                f"auto_grant.approvers: {approver!r:.100} is neither an email, slack:USER_ID "
                "nor group:EMAIL"
            )
    if (approval == "required" or gated) and not approvers:
        raise ConfigError(
            "auto_grant.approvers: required when grants wait for approval (nobody could "
            "approve them)"
        )
    expires = parse_duration(
        _get(data, keys, "approval_expires_after"),
        "auto_grant.approval_expires_after",
        keys["approval_expires_after"].bounds or (1, MAX_DURATION),
    )
    grant_term = _get(data, keys, "expires_after")
    return AutoGrant(
        approval=approval,
        approval_repositories=tuple(gated),
        approvers=tuple(approvers),
        approval_expires_after=expires,
        beside_conditions=beside,
        expires_after=(
            None
            if grant_term is None
            else parse_duration(
                grant_term,
                "auto_grant.expires_after",
                keys["expires_after"].bounds or (0, MAX_DURATION),
            )
        ),
        repositories=tuple(repositories),
        cluster_projects=tuple(
            _globs(_get(data, keys, "cluster_projects"), "auto_grant.cluster_projects")
        ),
        level=level,
        max_per_hour=cap,
    )


_PROJECT_ID = re.compile(_PROJECT_PATTERN)


def _id_rule(key: Key) -> Callable[[str], bool]:
    """The table's `pattern` and `not_pattern` of an id, as Python checks them."""
    pattern = re.compile(key.pattern or ".*", re.DOTALL)
    not_pattern = re.compile(key.not_pattern) if key.not_pattern else None
    return lambda v: bool(pattern.fullmatch(v)) and not (not_pattern and not_pattern.fullmatch(v))


_FIRESTORE_IDS: dict[str, tuple[Callable[[str], bool], str]] = {
    "database": (
        _id_rule(FIRESTORE_KEYS["database"]),
        'expected "(default)" or 4-63 lowercase letters, digits and hyphens',
    ),
    "collection": (
        # Beyond the table (JSON Schema counts characters, not bytes): at most 1,500 bytes
        # with "-open" added, and no invisible or control character.
        lambda v: (
            _id_rule(FIRESTORE_KEYS["collection"])(v)
            and len(v.encode()) <= 1500 - len("-open")
            and v.isprintable()
        ),
        "expected a Firestore collection id (no '/', not '.' or '..', not __name__)",
    ),
    "project": (_id_rule(FIRESTORE_KEYS["project"]), "expected a project id"),
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
            _empty_if_none(value["firestore"]), "ledger.firestore", tuple(FIRESTORE_KEYS)
        )
        for key in spec:
            if not isinstance(spec[key], str) or not spec[key]:
                raise ConfigError(f"ledger.firestore.{key}: expected a non-empty string")
            rule, text = _FIRESTORE_IDS[key]
            if not rule(spec[key]):
                raise ConfigError(f"ledger.firestore.{key}: {text}, got {spec[key]!r}")
        return FirestoreLedgerConfig(**spec)
    raise ConfigError(f"ledger: expected memory or {{firestore: {{...}}}}, got {value!r}")


def _routes(value: object) -> tuple[Route, ...]:
    data = _mapping(value, "notify", ("routes",))
    routes = data.get("routes", [])
    if not isinstance(routes, list):
        raise ConfigError("notify.routes: expected a list of routes")
    out = []
    for index, item in enumerate(routes):
        where = f"notify.routes[{index}]"
        spec = _mapping(item, where, tuple(ROUTE_KEYS))
        for key, val in spec.items():
            if not isinstance(val, str) or not val:
                raise ConfigError(f"{where}.{key}: expected a non-empty string, got {val!r}")
        chats = ROUTE_KEYS["chat"].choices
        if spec.get("chat") not in chats:
            raise ConfigError(
                f"{where}.chat: expected one of {', '.join(chats)}, got {spec.get('chat')!r}"
            )
        if "google_chat_space" in spec:
            space = spec["google_chat_space"]
            if not _id_rule(ROUTE_KEYS["google_chat_space"])(space):
                raise ConfigError(
                    f"{where}.google_chat_space: expected a space's resource name, spaces/ID "
                    f"(the ID from the space's URL), got {space!r:.100}"
                )
            if spec["chat"] != "google" or any(
                k in spec for k in ("webhook_url_env", "slack_token_env", "slack_channel")
            ):
                raise ConfigError(
                    f"{where}: google_chat_space goes with chat: google, instead of "
                    "webhook_url_env (the Chat app posts through the Chat API)"
                )
        elif "slack_token_env" in spec or "slack_channel" in spec:
            if spec["chat"] != "slack" or not (
                spec.get("slack_token_env") and spec.get("slack_channel")
            ):
                raise ConfigError(
                    f"{where}: slack_token_env and slack_channel go together, with chat: slack"
                )
        elif "webhook_url_env" not in spec:
            raise ConfigError(f"{where}.webhook_url_env: required (the variable holding the URL)")
        if "cause" in spec and spec["cause"] not in ROUTE_KEYS["cause"].choices:
            raise ConfigError(f"{where}.cause: {spec['cause']!r} is not a cause")
        if spec.get("tickets") not in (None, *ROUTE_KEYS["tickets"].choices):
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


def check_config(config: Config, environ: Mapping[str, str] | None) -> tuple[list[str], list[str]]:
    """What a loaded config still gets wrong against `environ`: (problems, warnings).

    Problems: a route's variables unset or malformed (named, never their values), and
    PULLFIX_OUTCOMES_TOPIC when it is set but Pub/Sub would refuse it; none when `environ`
    is None (offline: the environment is not the one the functions will have). Warnings:
    allow-list globs wider than they look, a lease shorter than the function's timeout.
    """
    problems = [] if environ is None else _environment_problems(config, environ)
    return problems, _warnings(config)


def _environment_problems(config: Config, environ: Mapping[str, str]) -> list[str]:
    from pullfix.core.secrets import github_token, slack_token, webhook_url

    problems: list[str] = []
    for index, route in enumerate(config.routes):
        checks: list[tuple[Callable[[Mapping[str, str], str | None, str], str], str | None]]
        checks = (
            [(slack_token, route.slack_token_env)]
            if route.slack_token_env
            else []
            if route.google_chat_space  # the function's own credentials: no variable
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
    return problems


def _warnings(config: Config) -> list[str]:
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
    asks = config.auto_grant.approval == "required" or config.auto_grant.approval_repositories
    for index, route in enumerate(config.routes):
        if asks and route.chat == "google" and not route.google_chat_space:
            warnings.append(
                f"notify.routes[{index}]: approval requests posted through a Google Chat "
                "incoming webhook cannot be clicked (only a Chat app's cards reach the approve "
                "function): name the space with google_chat_space instead"
            )
    if "*" in config.auto_grant.cluster_projects and config.auto_grant.repositories:
        warnings.append(
            "auto_grant.cluster_projects: '*' lets the node account of any cluster project "
            "receive a grant on the allow-listed repositories"
        )
    return warnings
