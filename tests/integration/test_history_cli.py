"""`pullfix incidents` and `pullfix grants` as an operator runs them: the history in the
sandbox's Firestore ledger, IAM over the official clients, every format and exit code."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from pullfix.cli.main import main
from pullfix.core.model import READER_ROLE
from pullfix.core.policy import GrantFacts, GrantPlan
from pullfix.dev.sandbox import Sandbox
from pullfix.engine.granter import GrantAttempt, Granter
from pullfix.engine.ledger import FirestoreLedger, MemoryLedger
from pullfix.gcp.adapter import GoogleAdapter
from pullfix.gcp.clients import GoogleClients

pytestmark = pytest.mark.integration

APPS = "projects/shop-prod/locations/us-central1/repositories/apps"
DEFAULT_SA = "111111111111-compute@developer.gserviceaccount.com"
MEMBER = f"serviceAccount:{DEFAULT_SA}"
RETIRED = "serviceAccount:retired-nodes@shop-prod.iam.gserviceaccount.com"
NODES = "serviceAccount:gke-nodes@shop-prod.iam.gserviceaccount.com"
CLUSTER = "projects/shop-prod/locations/us-central1/clusters/checkout"
GET_POLICY = "artifactregistry.projects.locations.repositories.getIamPolicy"
NOW = datetime.now(UTC).replace(microsecond=0)


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _outcome(key: str, action: str, when: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "schema": "pullfix.outcome/v1",
        "fingerprint": key,
        "action": action,
        "cause": extra.pop("cause", "role"),
        "reasons": [f"{action}: why"],
        "event": {
            "timestamp": _stamp(when),
            "cluster": CLUSTER,
            "namespace": extra.pop("namespace", "shop"),
            "workload": "Deployment/web",
            "image": "us-central1-docker.pkg.dev/shop-prod/apps/web:1.4",
        },
        **extra,
    }


def _grant(member: str) -> dict[str, str]:
    return {"resource": APPS, "role": READER_ROLE, "member": member}


@pytest.fixture
def cli(
    sandbox: Sandbox, clients: GoogleClients, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """The history of three incidents in the sandbox's Firestore ledger; IAM with pullfix's
    grants beside a user's; `pullfix` run in this process against both."""
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"ledger": {"firestore": {"project": "shop-prod"}}}))
    monkeypatch.setenv("PULLFIX_GCP_ENDPOINT", sandbox.endpoint)
    monkeypatch.setenv("PULLFIX_CONFIG", str(config))
    monkeypatch.delenv("PULLFIX_OUTCOMES_TOPIC", raising=False)
    monkeypatch.setenv("COLUMNS", "400")  # whole cells, to read them back
    ledger = FirestoreLedger(clients.rest, "shop-prod", "(default)", "pullfix-incidents")
    old, recent = NOW - timedelta(days=10), NOW - timedelta(days=1)
    history = [
        _outcome("grant-aaa", "grant", old, grant=_grant(MEMBER)),
        _outcome("grant-aaa", "resolved", old + timedelta(minutes=3), time_to_fix_seconds=240),
        _outcome("ticket-bbb", "ticket", recent, cause="not_found", namespace="payments"),
        _outcome("grant-ccc", "grant", recent, grant=_grant(RETIRED)),
        _outcome("grant-ccc", "resolved", recent + timedelta(minutes=1)),
    ]
    for outcome in history:
        when = datetime.fromisoformat(outcome["event"]["timestamp"])
        ledger.record_outcome(outcome["fingerprint"], json.dumps(outcome), when)
    # In IAM: the default account under an expiring binding of pullfix's, and in the reader
    # binding beside the user's.
    expiring = config_expiring()
    Granter(GoogleAdapter(clients), MemoryLedger(), lambda: expiring).grant(
        GrantPlan(APPS, READER_ROLE, MEMBER),
        GrantFacts(APPS, DEFAULT_SA, "shop-prod"),
        NOW,
        {},
        GrantAttempt(),
    )
    policy = clients.artifact_registry.get_iam_policy(
        request={"resource": APPS, "options": {"requested_policy_version": 3}}
    )
    plain = next(b for b in policy.bindings if b.role == READER_ROLE and not b.condition.title)
    plain.members.append(MEMBER)
    clients.artifact_registry.set_iam_policy(request={"resource": APPS, "policy": policy})

    def run(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def config_expiring() -> Any:
    from pullfix.core.config import config_from_dict

    return config_from_dict(
        {
            "auto_grant": {
                "repositories": ["projects/shop-prod/locations/*/repositories/*"],
                "expires_after": "1d",
            }
        }
    )


def _bindings(clients: GoogleClients) -> list[tuple[str, frozenset[str], str]]:
    policy = clients.artifact_registry.get_iam_policy(
        request={"resource": APPS, "options": {"requested_policy_version": 3}}
    )
    return [
        (b.role, frozenset(b.members), f"{b.condition.title}|{b.condition.expression}")
        for b in policy.bindings
    ]


def _lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def test_incidents_list_in_each_format_with_filters(
    cli: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli("incidents", "list", "--since", "30d", "--json", capsys=capsys)
    assert code == 0
    listed = _lines(out)
    assert [i["key"] for i in listed] == ["grant-ccc", "ticket-bbb", "grant-aaa"]
    aaa = listed[2]
    assert (aaa["action"], aaa["state"], aaa["time_to_fix_seconds"]) == ("grant", "resolved", 240)
    assert listed[1]["state"] == "open"
    code, out, _ = cli("incidents", "list", "--since", "30d", "--format", "yaml", capsys=capsys)
    assert [i["key"] for i in yaml.safe_load(out)] == [i["key"] for i in listed]
    code, out, _ = cli("incidents", "list", "--since", "30d", capsys=capsys)
    header = out.splitlines()[0].split()
    assert header[:5] == ["incident", "first", "seen", "cause", "action"]
    assert "resolved (240s)" in out
    filters = {
        ("--state", "open"): ["ticket-bbb"],
        ("--cause", "not_found"): ["ticket-bbb"],
        ("--action", "grant"): ["grant-ccc", "grant-aaa"],
        ("--namespace", "pay*"): ["ticket-bbb"],
        ("--cluster", "checkout"): ["grant-ccc", "ticket-bbb", "grant-aaa"],
        ("--cluster", "other"): [],
        ("--since", "7d"): ["grant-ccc", "ticket-bbb"],
    }
    for flags, keys in filters.items():
        since = () if "--since" in flags else ("--since", "30d")
        code, out, _ = cli("incidents", "list", *since, *flags, "--json", capsys=capsys)
        assert (code, [i["key"] for i in _lines(out)]) == (0, keys), flags
    code, _, err = cli("incidents", "list", "--since", "soon", capsys=capsys)
    assert code == 3 and "--since" in err
    with pytest.raises(SystemExit) as usage:
        main(["incidents", "list", "--state", "sleeping"])
    assert usage.value.code == 2


def test_incidents_show_every_outcome_in_order(
    cli: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli("incidents", "show", "grant-aaa", capsys=capsys)
    assert code == 0
    rows = out.splitlines()[2:]
    assert [r.split()[1] for r in rows] == ["grant", "resolved"]
    assert rows[0].split()[0] < rows[1].split()[0]  # times, in order
    assert f"{READER_ROLE} on {APPS} to {MEMBER}" in rows[0]
    code, out, _ = cli("incidents", "show", "grant-aaa", "--json", capsys=capsys)
    shown = json.loads(out)
    assert [o["action"] for o in shown["history"]] == ["grant", "resolved"]
    code, out, _ = cli("incidents", "show", "grant-aaa", "--format", "yaml", capsys=capsys)
    assert yaml.safe_load(out) == shown
    code, _, err = cli("incidents", "show", "grant-zzz", capsys=capsys)
    assert code == 1 and "no incident grant-zzz" in err
    code, _, err = cli("incidents", "show", "grant aaa; rm -rf /", capsys=capsys)
    assert code == 3 and "not an incident key" in err


def test_a_memory_ledger_has_no_history_to_read(
    cli: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    memory = tmp_path / "memory.yaml"
    memory.write_text("ledger: memory\n")
    code, _, err = cli("grants", "list", "--config", str(memory), capsys=capsys)
    assert code == 3 and "memory ledger" in err


def test_grants_list_in_each_format(cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli("grants", "list", "--json", capsys=capsys)
    assert code == 0
    grants = _lines(out)
    assert [(g["member"], g["incident"]) for g in grants] == [
        (MEMBER, "grant-aaa"),
        (RETIRED, "grant-ccc"),
    ]
    assert grants[0]["resolved_at"] is not None and grants[0]["why"] == ["grant: why"]
    code, out, _ = cli("grants", "list", "--format", "yaml", capsys=capsys)
    assert yaml.safe_load(out) == grants
    code, out, _ = cli("grants", "list", capsys=capsys)
    assert out.split()[:6] == ["member", "repository", "granted", "expires", "incident", "why"]
    assert DEFAULT_SA in out and "shop-prod/apps" in out


def test_revoke_keeps_every_other_member_and_condition(
    cli: Any, capsys: pytest.CaptureFixture[str], clients: GoogleClients, sandbox: Sandbox
) -> None:
    before = _bindings(clients)
    code, out, _ = cli(
        "grants", "revoke", "--resource", APPS, "--member", MEMBER, "--dry-run", capsys=capsys
    )
    assert code == 0 and "would remove" in out and NODES in out
    assert _bindings(clients) == before
    # A concurrent writer changes the policy between the read and the write: retried.
    sandbox.add_fault(method=GET_POLICY, race=True, count=1, after=1)
    code, out, err = cli(
        "grants", "revoke", "--resource", APPS, "--member", MEMBER, "--json", capsys=capsys
    )
    assert code == 0, err
    record = json.loads(out)
    assert record["changed"] and record["attempts"] == 2
    assert "pullfix revoked" in err  # the audit line
    after = _bindings(clients)
    expected = [
        (role, members - {MEMBER} if cond == "|" and role == READER_ROLE else members, cond)
        for role, members, cond in before
    ]
    assert [b for b in after if "concurrent-writer" not in str(b[1])] == expected
    # The expiring binding is still there until revoked by its title.
    (title,) = [c.split("|")[0] for r, m, c in after if MEMBER in m]
    code, out, _ = cli(
        "grants", "revoke", "--resource", APPS, "--member", MEMBER, "--condition", title,
        capsys=capsys,
    )  # fmt: skip
    assert code == 0 and "removed" in out
    assert not any(MEMBER in m for _, m, _ in _bindings(clients))
    assert ("roles/artifactregistry.writer", frozenset({"group:ci@example.com"}),
            "weekdays|request.time.getDayOfWeek() < 5") in _bindings(clients)  # fmt: skip
    code, out, _ = cli("grants", "revoke", "--resource", APPS, "--member", MEMBER, capsys=capsys)
    assert code == 1 and "nothing to remove" in out
    for bad in (
        ("--member", "user:owner@example.com"),
        ("--member", MEMBER, "--condition", "weekdays"),
    ):
        code, _, err = cli("grants", "revoke", "--resource", APPS, *bad, capsys=capsys)
        assert code == 3, err


def _state(tmp_path: Path, *members: str) -> str:
    path = tmp_path / "state.json"
    resources = [
        {
            "type": "google_artifact_registry_repository_iam_member",
            "values": {
                "project": "shop-prod",
                "location": "us-central1",
                "repository": "apps",
                "role": READER_ROLE,
                "member": member,
            },
        }
        for member in members
    ]
    state = {"format_version": "1.0", "values": {"root_module": {"resources": resources}}}
    path.write_text(json.dumps(state))
    return str(path)


def test_sweep_reports_and_revokes_only_old_grants_terraform_does_not_hold(
    cli: Any, capsys: pytest.CaptureFixture[str], clients: GoogleClients, tmp_path: Path
) -> None:
    before = _bindings(clients)
    code, out, err = cli("grants", "sweep", "--json", capsys=capsys)
    (row,) = _lines(out)  # grant-ccc was resolved a day ago: too recent
    assert (row["incident"], row["terraform"]) == ("grant-aaa", None)
    assert row["verdict"] == "would revoke if Terraform does not hold it"
    assert "not known" in err
    code, _, err = cli("grants", "sweep", "--revoke", capsys=capsys)
    assert code == 3 and "--terraform-state" in err
    # Adopted by Terraform: kept, nothing written.
    held = _state(tmp_path, MEMBER)
    code, out, _ = cli(
        "grants", "sweep", "--terraform-state", held, "--revoke", "--json", capsys=capsys
    )
    assert _lines(out)[0]["verdict"] == "kept: Terraform holds it"
    assert _bindings(clients) == before
    # Not adopted: both of pullfix's bindings of the member go, nothing else.
    code, out, _ = cli(
        "grants", "sweep", "--terraform-state", _state(tmp_path, NODES), "--revoke",
        "--older-than", "2d", "--json", capsys=capsys,
    )  # fmt: skip
    (row,) = _lines(out)
    assert row["verdict"] == "revoked" and len(row["revoked"]) == 2
    after = _bindings(clients)
    assert not any(MEMBER in m for _, m, _ in after)
    assert [(r, m - {MEMBER}, c) for r, m, c in before if m - {MEMBER}] == after
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    code, _, err = cli("grants", "sweep", "--terraform-state", str(bad), capsys=capsys)
    assert code == 3 and "terraform show -json" in err


def _audit_line(when: datetime, member: str, **audit: Any) -> dict[str, Any]:
    return {
        "logName": "projects/shop-prod/logs/run.googleapis.com%2Fstdout",
        "insertId": f"audit-{member[-12:]}",
        "resource": {
            "type": "cloud_run_revision",
            "labels": {"service_name": "pullfix-remediate", "project_id": "shop-prod"},
        },
        "timestamp": _stamp(when),
        "severity": "NOTICE",
        "jsonPayload": {
            "message": f"pullfix granted {READER_ROLE} on {APPS} to {member}",
            "audit": {
                "action": "grant",
                "changed": True,
                "resource": APPS,
                "role": READER_ROLE,
                "member": member,
                "cause": "role",
                "why": ["from the audit line"],
                **audit,
            },
        },
    }


def test_grants_list_adds_the_audit_lines_and_their_expiry(
    cli: Any, capsys: pytest.CaptureFixture[str], sandbox: Sandbox
) -> None:
    granted = NOW - timedelta(days=10)
    expires = (granted + timedelta(days=30)).isoformat()
    other = "serviceAccount:batch@shop-prod.iam.gserviceaccount.com"
    sandbox.world.log_entries.extend(
        [
            _audit_line(granted, MEMBER, expires=expires),
            _audit_line(NOW - timedelta(hours=2), other),
            _audit_line(NOW - timedelta(hours=1), NODES, changed=False),  # already bound
        ]
    )
    code, out, err = cli("grants", "list", "--logs", "shop-prod", "--json", capsys=capsys)
    assert code == 0, err
    grants = {g["member"]: g for g in _lines(out)}
    assert set(grants) == {MEMBER, RETIRED, other}
    assert grants[MEMBER]["expires"] == expires
    assert grants[MEMBER]["source"] == "ledger, audit log"
    assert grants[MEMBER]["incident"] == "grant-aaa"
    assert (grants[other]["source"], grants[other]["why"]) == ("audit log", ["from the audit line"])
