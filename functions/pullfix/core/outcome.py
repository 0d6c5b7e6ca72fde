"""The outcome `remediate` publishes and `notify` reads: one schema, types included.

`notify` checks every message against it before rendering anything, so that a message with
the right schema tag but a wrong field (a number where a string belongs, null reasons, a list
where an object belongs) is acknowledged with the field named, instead of crashing the
function into a redelivery loop. The engine's tests check what it publishes against the same
schema.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pullfix.core.causes import Action, Cause

__all__ = ["OUTCOME_SCHEMA", "bigquery_schema", "outcome_problem"]

OUTCOME_SCHEMA = "pullfix.outcome/v1"

Check = Callable[[Any, str], str | None]


def _string(value: Any, where: str) -> str | None:
    return None if isinstance(value, str) else f"{where}: expected a string"


def _nonempty(value: Any, where: str) -> str | None:
    return None if isinstance(value, str) and value else f"{where}: expected a non-empty string"


_KEY_RE = re.compile(r"[A-Za-z0-9_.:-]{1,200}")


def _key(value: Any, where: str) -> str | None:
    """An incident key (`kind-` and hex digits): it is written into markers and thread keys,
    so it holds no markup, space or comment delimiter."""
    if isinstance(value, str) and _KEY_RE.fullmatch(value):
        return None
    return f"{where}: expected letters, digits, '_', '.', ':' or '-'"


def _optional(check: Check) -> Check:
    return lambda value, where: None if value is None else check(value, where)


def _boolean(value: Any, where: str) -> str | None:
    return None if isinstance(value, bool) else f"{where}: expected true or false"


def _one_of(values: set[str]) -> Check:
    def check(value: Any, where: str) -> str | None:
        if isinstance(value, str) and value in values:
            return None
        return f"{where}: expected one of {', '.join(sorted(values))}"

    return check


def _strings(value: Any, where: str) -> str | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return None
    return f"{where}: expected a list of strings"


def _object(fields: dict[str, Check], *, required: tuple[str, ...] = ()) -> Check:
    def check(value: Any, where: str) -> str | None:
        if not isinstance(value, dict):
            return f"{where}: expected an object"
        for name in required:
            if name not in value:
                return f"{where}.{name}: missing"
        for name, field_check in fields.items():
            problem = field_check(value.get(name), f"{where}.{name}")
            if problem:
                return problem
        return None

    return check


_EVENT_FIELDS = (
    "message_id",
    "insert_id",
    "timestamp",
    "cluster",
    "namespace",
    "workload",
    "pod",
    "container",
    "node",
    "image",
    "kubelet_reason",
)
_DRAFT = _object(
    {
        "title": _optional(_string),
        "steps": _optional(_strings),
        "commands": _optional(_strings),
        "terraform": _optional(_string),
        "reproduce": _optional(_string),
    }
)
_OUTCOME = _object(
    {
        "schema": _one_of({OUTCOME_SCHEMA}),
        "event": _object({name: _optional(_string) for name in _EVENT_FIELDS}),
        "cause": _one_of({c.value for c in Cause}),
        "action": _one_of({a.value for a in Action}),
        "grant": _optional(
            _object(
                {
                    "resource": _nonempty,
                    "role": _nonempty,
                    "member": _nonempty,
                    # A grant that expires: its IAM condition (title, expression, description).
                    "condition": _optional(
                        _object(
                            {
                                "title": _nonempty,
                                "expression": _nonempty,
                                "description": _optional(_string),
                            },
                            required=("title", "expression"),
                        )
                    ),
                },
                required=("resource", "role", "member"),
            )
        ),
        "ticket": _optional(_DRAFT),
        "reasons": _strings,
        "fingerprint": _key,
        "dry_run": _optional(_boolean),
        "escalation": _optional(_boolean),
        "evidence": _optional(_object({"repository": _optional(_string)})),
        "remediation": _optional(_DRAFT),
        # With action approval_requested: the request the chat buttons carry (its id only).
        "approval": _optional(
            _object(
                {"id": _key, "expires_at": _nonempty, "approvers": _optional(_strings)},
                required=("id", "expires_at"),
            )
        ),
    },
    required=("schema", "event", "cause", "action", "reasons", "fingerprint"),
)


def outcome_problem(value: Any) -> str | None:
    """None for a well-formed outcome; else what is wrong, naming the field."""
    return _OUTCOME(value, "outcome")


def _column(name: str, kind: str, mode: str = "NULLABLE", **more: Any) -> dict[str, Any]:
    return {"name": name, "type": kind, "mode": mode, **more}


def _draft_columns() -> list[dict[str, Any]]:
    return [
        _column("title", "STRING"),
        _column("steps", "STRING", "REPEATED"),
        _column("commands", "STRING", "REPEATED"),
        _column("terraform", "STRING"),
        _column("reproduce", "STRING"),
        _column("fingerprint", "STRING"),
    ]


def bigquery_schema() -> list[dict[str, Any]]:
    """The BigQuery table of outcomes (a Pub/Sub BigQuery subscription with
    `use_table_schema`: each JSON field of a message goes to the column of its name): the
    fields above, the verification verdicts' own (`time_to_fix_seconds`, `fixed_by`, …),
    `evidence` as JSON (its keys vary by cause), and the four columns `write_metadata` fills
    (https://cloud.google.com/pubsub/docs/bigquery#write-metadata). Terraform reads it from
    terraform/outcomes_schema.json, which a test holds to this."""
    return [
        _column("schema", "STRING", "REQUIRED"),
        _column("fingerprint", "STRING", "REQUIRED"),
        _column("cause", "STRING", "REQUIRED"),
        _column("action", "STRING", "REQUIRED"),
        _column("reasons", "STRING", "REPEATED"),
        _column(
            "event",
            "RECORD",
            fields=[_column(name, "STRING") for name in _EVENT_FIELDS],
        ),
        _column(
            "grant",
            "RECORD",
            fields=[
                _column("resource", "STRING"),
                _column("role", "STRING"),
                _column("member", "STRING"),
                _column(
                    "condition",
                    "RECORD",
                    fields=[
                        _column("title", "STRING"),
                        _column("expression", "STRING"),
                        _column("description", "STRING"),
                    ],
                ),
            ],
        ),
        _column("ticket", "RECORD", fields=_draft_columns()),
        _column("remediation", "RECORD", fields=_draft_columns()),
        _column("dry_run", "BOOLEAN"),
        _column("escalation", "BOOLEAN"),
        _column("evidence", "JSON"),
        _column(
            "approval",
            "RECORD",
            fields=[
                _column("id", "STRING"),
                _column("expires_at", "STRING"),
                _column("approvers", "STRING", "REPEATED"),
            ],
        ),
        # Verification verdicts (resolved, still_failing, abandoned).
        _column("acted", "STRING"),
        _column("time_to_fix_seconds", "INTEGER"),
        _column("fixed_by", "STRING"),
        _column("first_failure", "STRING"),
        _column("first_success", "STRING"),
        # write_metadata: the table is partitioned by day on publish_time.
        _column("subscription_name", "STRING"),
        _column("message_id", "STRING"),
        _column("publish_time", "TIMESTAMP"),
        _column("attributes", "STRING"),
    ]
