"""The outcome `remediate` and `verify` publish and `notify` reads: one type (`Outcome`),
one schema, types included.

`notify` checks every message against it before rendering anything, so that a message with
the right schema tag but a wrong field (a number where a string belongs, null reasons, a list
where an object belongs) is acknowledged with the field named, instead of crashing the
function into a redelivery loop. The engine's tests check what it publishes against the same
schema.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pullfix.core.causes import Action, Cause

if TYPE_CHECKING:
    from pullfix.core.policy import GrantPlan

__all__ = [
    "OUTCOME_SCHEMA",
    "Outcome",
    "Verified",
    "bigquery_schema",
    "outcome_from_dict",
    "outcome_problem",
]

OUTCOME_SCHEMA = "pullfix.outcome/v1"


@dataclass(frozen=True, slots=True)
class Verified:
    """What a verification pass adds to an outcome (`pullfix.engine.verify`): the action
    the incident's first outcome took, and when the pulls failed and succeeded again."""

    acted: Action
    first_failure: str  # RFC 3339
    first_success: str | None = None
    time_to_fix_seconds: int | None = None
    fixed_by: str | None = None  # "pullfix's grant" or "a human", with action resolved

    def to_dict(self) -> dict[str, Any]:
        return {
            "time_to_fix_seconds": self.time_to_fix_seconds,
            "fixed_by": self.fixed_by,
            "first_failure": self.first_failure,
            "first_success": self.first_success,
            "acted": self.acted.value,
        }


@dataclass
class Outcome:
    """What pullfix concluded and did about one event (`remediate`), or found of one
    incident later (`verify`, with `verified`): the one shape both publish."""

    event: dict[str, Any]
    cause: Cause
    action: Action
    reasons: tuple[str, ...]
    fingerprint: str
    grant: GrantPlan | None = None
    ticket: dict[str, Any] | None = None
    dry_run: bool = False
    escalation: bool = False
    evidence: dict[str, Any] = field(default_factory=dict)
    remediation: dict[str, Any] | None = None
    # False for a duplicate of work that another delivery still holds: its event is not
    # settled, so that the holder's own redelivery finds it open (never published).
    settled: bool = True
    # With action approval_requested: the request (`pullfix.engine.approval`).
    approval: dict[str, Any] | None = None
    # A verification's verdict on the incident (resolved, still_failing, abandoned).
    verified: Verified | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema": OUTCOME_SCHEMA,
            "event": self.event,
            "cause": self.cause.value,
            "action": self.action.value,
            "grant": self.grant.to_dict() if self.grant else None,
            "ticket": self.ticket,
            "reasons": list(self.reasons),
            "fingerprint": self.fingerprint,
            "dry_run": self.dry_run,
            "escalation": self.escalation,
            "evidence": self.evidence,
            "remediation": self.remediation,
        }
        if self.approval is not None:
            out["approval"] = self.approval
        if self.verified is not None:
            out.update(self.verified.to_dict())
        return out


def outcome_from_dict(data: dict[str, Any]) -> Outcome:
    """An outcome read back (from the ledger, where a delivery left it)."""
    from pullfix.core.policy import GrantPlan

    grant = data.get("grant")
    verified = None
    if data.get("acted") is not None:
        verified = Verified(
            acted=Action(data["acted"]),
            first_failure=data["first_failure"],
            first_success=data.get("first_success"),
            time_to_fix_seconds=data.get("time_to_fix_seconds"),
            fixed_by=data.get("fixed_by"),
        )
    return Outcome(
        event=data["event"],
        cause=Cause(data["cause"]),
        action=Action(data["action"]),
        reasons=tuple(data["reasons"]),
        fingerprint=data["fingerprint"],
        grant=GrantPlan(**grant) if grant else None,
        ticket=data.get("ticket"),
        dry_run=data.get("dry_run", False),
        escalation=data.get("escalation", False),
        evidence=data.get("evidence", {}),
        remediation=data.get("remediation"),
        approval=data.get("approval"),
        verified=verified,
    )


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
