"""The BigQuery table Terraform creates for outcomes has the outcome schema: the file it reads
is generated from pullfix.core.outcome, and every field an outcome or a verdict carries has
its column, of a type its values load into."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pullfix.core.causes import Action, Cause
from pullfix.core.model import READER_ROLE
from pullfix.core.outcome import bigquery_schema
from pullfix.core.policy import GrantPlan, expiry_condition
from pullfix.engine.remediate import Outcome
from pullfix.engine.verify import OpenIncident, Verdict

SCHEMA_FILE = Path(__file__).parents[2] / "terraform" / "outcomes_schema.json"
T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
# What each BigQuery type takes from JSON (https://cloud.google.com/pubsub/docs/bigquery,
# "Schema compatibility").
LOADS = {
    "STRING": (str,),
    "BOOLEAN": (bool,),
    "INTEGER": (int,),
    "JSON": (dict, list, str, int, float, bool),
    "TIMESTAMP": (str, int),
}


def test_the_file_terraform_reads_is_the_generated_schema() -> None:
    written = json.loads(SCHEMA_FILE.read_text())
    assert written == bigquery_schema(), (
        "regenerate: python -c 'import json; from pullfix.core.outcome import bigquery_schema; "
        "print(json.dumps(bigquery_schema(), indent=2))' > terraform/outcomes_schema.json"
    )


def _check(value: Any, columns: list[dict[str, Any]], where: str) -> None:
    by_name = {c["name"]: c for c in columns}
    for name, item in value.items():
        column = by_name.get(name)
        assert column is not None, f"{where}.{name} has no column"
        if item is None:
            assert column["mode"] != "REQUIRED", f"{where}.{name} is required"
            continue
        items = item if column["mode"] == "REPEATED" else [item]
        if column["mode"] == "REPEATED":
            assert isinstance(item, list), f"{where}.{name} is not a list"
        for one in items:
            if column["type"] == "RECORD":
                assert isinstance(one, dict), f"{where}.{name}"
                _check(one, column["fields"], f"{where}.{name}")
            else:
                assert isinstance(one, LOADS[column["type"]]), f"{where}.{name}: {one!r}"


def test_every_field_of_an_outcome_and_a_verdict_has_its_column() -> None:
    plan = GrantPlan(
        "projects/p/locations/us/repositories/r",
        READER_ROLE,
        "serviceAccount:n@p.iam.gserviceaccount.com",
        expiry_condition(T0, "grant-1"),
    )
    draft = {
        "title": "t",
        "steps": ["s"],
        "commands": ["c"],
        "terraform": None,
        "reproduce": "r",
        "fingerprint": "grant-1",
    }
    outcome = Outcome(
        event={"timestamp": "2026-12-06T10:00:00Z", "cluster": "c", "image": "i"},
        cause=Cause.ROLE,
        action=Action.GRANT,
        reasons=("why",),
        fingerprint="grant-1",
        grant=plan,
        ticket=draft,
        remediation=draft,
        evidence={"node_pool": "p", "oauth_scopes": ["s"]},
        approval={"id": "approval-1", "expires_at": "2026-12-06T11:00:00Z", "approvers": ["a"]},
    ).to_dict()
    incident = OpenIncident(
        "grant-1", "grant", "role", "c", "ns", "w", "i", T0, T0, "pool", plan.to_dict()
    )
    verdict = Verdict(incident, "resolved", ("pulled",), T0, first_success=T0).to_dict()
    columns = bigquery_schema()
    for message in (outcome, verdict):
        _check(json.loads(json.dumps(message)), columns, "outcome")
    names = [c["name"] for c in columns]
    assert {"subscription_name", "message_id", "publish_time", "attributes"} <= set(names)
