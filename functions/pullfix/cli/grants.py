"""`pullfix grants list | revoke | sweep`: what pullfix granted, and taking it back.

`list` reads the grants from the ledger's incident history (member, resource, when, why, the
incident, resolved or not) and, with `--logs PROJECT`, from the audit lines the granter wrote
to Cloud Logging (which also give a grant's expiry). `revoke` removes only pullfix's binding
(the member on the reader role, unconditional, or under pullfix's own expiry condition)
through the granter, the one IAM writer: a read-modify-write at policy version 3 with the
etag, retried on a concurrent change, keeping every other member, binding and condition.
`sweep` finds the grants whose incident was resolved long ago and that Terraform does not
hold, and with `--revoke` revokes them so.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from pullfix.cli.operator import EXIT_INPUT, EXIT_OK, _clients, _guarded, _Stop

__all__ = ["run_grants_list", "run_grants_revoke", "run_grants_sweep"]

EXIT_NOTHING = 1  # revoke: the member holds no such binding there


def _since(text: str, flag: str) -> datetime:
    from pullfix.core.config import ConfigError, parse_duration

    try:
        return datetime.now(UTC) - timedelta(seconds=parse_duration(text, flag))
    except ConfigError as exc:
        raise _Stop(EXIT_INPUT, str(exc)) from exc


def _short(resource: str | None) -> str:
    parts = str(resource or "-").split("/")
    return f"{parts[1]}/{parts[5]}" if len(parts) == 6 else str(resource or "-")


def _grant_rows(grants: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [
            str(g["member"]).removeprefix("serviceAccount:"),
            _short(g["resource"]),
            str(g["granted_at"] or "-"),
            str(g["expires"] or "-"),
            str(g["incident"] or "-"),
            f"{g['cause'] or '-'}: {(g['why'] or [''])[0]}",
        ]
        for g in grants
    ]


def run_grants_list(args: argparse.Namespace, out: TextIO) -> int:
    from pullfix.cli.history import load_histories, open_history
    from pullfix.cli.output import output_format, write_structured
    from pullfix.cli.scan import OPERATOR_PERMISSIONS, list_entries
    from pullfix.cli.tables import render_table
    from pullfix.core.grants import (
        audit_filter,
        grants_from_audit,
        grants_from_history,
        merge_grants,
    )
    from pullfix.core.intake import format_timestamp
    from pullfix.gcp.adapter import guard

    since = _since(args.since, "--since")
    clients = _clients()
    try:
        ledger = open_history(args, clients)
        histories = _guarded(lambda: load_histories(ledger, since, args.limit))
        logged: list[dict[str, Any]] = []
        if args.logs:
            project = args.logs.removeprefix("projects/")
            text = audit_filter(args.prefix, format_timestamp(since))
            logged = _guarded(
                lambda: guard(
                    f"reading pullfix's audit lines in {project}",
                    lambda: grants_from_audit(
                        list_entries(clients.logging, [f"projects/{project}"], text)
                    ),
                    OPERATOR_PERMISSIONS["scan"],
                )
            )
    finally:
        clients.close()
    grants = merge_grants(grants_from_history(histories), logged)
    fmt = output_format(args)
    if fmt != "table":
        write_structured(grants, fmt, out)
        return EXIT_OK
    headers = ["member", "repository", "granted", "expires", "incident", "why"]
    out.write(render_table(headers, _grant_rows(grants)) + "\n")
    return EXIT_OK


def _granter(clients: Any) -> Any:
    """The granter, over the Google adapter: the only holder of the IAM write."""
    from pullfix.core.config import Config
    from pullfix.engine.granter import Granter
    from pullfix.engine.ledger import MemoryLedger
    from pullfix.gcp.adapter import GoogleAdapter

    adapter = GoogleAdapter(clients)
    # A revoke consults no config (only what pullfix grants may be revoked): the defaults.
    return adapter, Granter(adapter, MemoryLedger(), Config)


def _read(adapter: Any, resource: str) -> Any:
    if "/repositories/" in resource:
        return adapter.repository_policy(resource)
    return adapter.resource_policy(resource)


def _binding_text(members: frozenset[str] | set[str], title: str | None) -> str:
    return f"{sorted(members)}" + (f" if {title}" if title else "")


def _revoke(
    adapter: Any, granter: Any, plan: Any, dry_run: bool, audit: dict[str, Any]
) -> dict[str, Any]:
    """Revoke one of pullfix's bindings (or, in a dry run, say what would change)."""
    from pullfix.core.policy import revoke_refusal
    from pullfix.engine.granter import RevokeRefused

    refusal = revoke_refusal(plan)  # the granter's own check, before anything is read
    if refusal is not None:
        raise _Stop(EXIT_INPUT, refusal)
    title = plan.condition.title if plan.condition is not None else None
    view = _read(adapter, plan.resource)
    binding = next(
        (
            b
            for b in view.bindings
            if b.role == plan.role
            and (b.condition is None if title is None else str(b.condition).startswith(f"{title}:"))
        ),
        None,
    )
    before = set(binding.members) if binding else set()
    record = {
        **plan.to_dict(),
        "condition": title,
        "before": sorted(before),
        "after": sorted(before - {plan.member}),
        "changed": plan.member in before,
        "dry_run": dry_run,
    }
    if dry_run or plan.member not in before:
        return record
    try:
        result = granter.revoke(plan, audit)
    except RevokeRefused as exc:
        raise _Stop(EXIT_INPUT, str(exc)) from exc
    record["changed"], record["attempts"] = result.changed, result.attempts
    return record


def run_grants_revoke(args: argparse.Namespace, out: TextIO) -> int:
    from pullfix.cli.output import output_format, write_structured
    from pullfix.core.model import READER_ROLE
    from pullfix.core.policy import GrantCondition, GrantPlan, pullfix_expiry

    condition = None
    if args.condition is not None:
        if pullfix_expiry(args.condition) is None:
            raise _Stop(
                EXIT_INPUT,
                f"--condition: {args.condition!r:.80} is not the title of a condition pullfix "
                "writes (pullfix-expires-YYYY-MM-DDTHH:MM:SSZ)",
            )
        condition = GrantCondition(args.condition, "")
    plan = GrantPlan(args.resource, READER_ROLE, args.member, condition)
    clients = _clients()
    try:
        adapter, granter = _granter(clients)
        record = _guarded(
            lambda: _revoke(adapter, granter, plan, args.dry_run, {"by": "pullfix grants revoke"})
        )
    finally:
        clients.close()
    fmt = output_format(args)
    if fmt != "table":
        write_structured(record, fmt, out)
    else:
        where = f"{record['role']} on {record['resource']}" + (
            f" if {record['condition']}" if record["condition"] else ""
        )
        verb = "would remove" if args.dry_run else "removed"
        if record["changed"]:
            out.write(
                f"{verb} {record['member']} from {where}\n"
                f"  members before: {', '.join(record['before'])}\n"
                f"  members after:  {', '.join(record['after']) or '(none: the binding goes)'}\n"
            )
        else:
            out.write(f"{record['member']} holds no {where}: nothing to remove\n")
    return EXIT_OK if record["changed"] else EXIT_NOTHING


def _terraform_state(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            state = json.load(handle)
    except OSError as exc:
        raise _Stop(EXIT_INPUT, f"--terraform-state: cannot read {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise _Stop(
            EXIT_INPUT, f"--terraform-state: {path} is not JSON (terraform show -json): {exc}"
        ) from exc
    if not isinstance(state, dict) or "format_version" not in state:
        raise _Stop(
            EXIT_INPUT, f"--terraform-state: {path} is not the output of terraform show -json"
        )
    return state


def run_grants_sweep(args: argparse.Namespace, out: TextIO) -> int:
    from pullfix.cli.history import load_histories, open_history
    from pullfix.cli.output import output_format, write_structured
    from pullfix.cli.tables import render_table
    from pullfix.core.grants import grants_from_history, pullfix_bindings, terraform_holds
    from pullfix.core.intake import parse_timestamp
    from pullfix.core.policy import GrantCondition, GrantPlan

    if args.revoke and not args.terraform_state:
        raise _Stop(
            EXIT_INPUT,
            "--revoke needs --terraform-state: without it, a grant Terraform adopted would "
            "be revoked too",
        )
    cutoff = _since(args.older_than, "--older-than")
    state = _terraform_state(args.terraform_state) if args.terraform_state else None
    since = _since(args.since, "--since")
    clients = _clients()
    rows = []
    try:
        ledger = open_history(args, clients)
        adapter, granter = _granter(clients)
        grants = grants_from_history(_guarded(lambda: load_histories(ledger, since, args.limit)))
        for grant in grants:
            resolved = parse_timestamp(grant["resolved_at"] or "")
            if resolved is None or resolved > cutoff:
                continue
            resource, role, member = grant["resource"], grant["role"], grant["member"]
            held = terraform_holds(state, resource, role, member) if state else None
            row = {**grant, "terraform": held, "revoked": []}
            if held is None:
                row["verdict"] = "would revoke if Terraform does not hold it"
            elif held:
                row["verdict"] = "kept: Terraform holds it"
            elif not args.revoke:
                row["verdict"] = "would revoke"
            else:
                titles = pullfix_bindings(
                    _guarded(lambda r=resource: _read(adapter, r)), role, member
                )
                for title in titles:
                    condition = GrantCondition(title, "") if title else None
                    plan = GrantPlan(resource, role, member, condition)
                    audit = {"by": "pullfix grants sweep", "incident": grant["incident"]}
                    _guarded(lambda p=plan, a=audit: granter.revoke(p, a))
                    row["revoked"].append(title or "unconditional")
                row["verdict"] = "revoked" if titles else "gone already"
            rows.append(row)
    finally:
        clients.close()
    fmt = output_format(args)
    if fmt != "table":
        write_structured(rows, fmt, out)
    else:
        table = [
            [
                str(r["member"]).removeprefix("serviceAccount:"),
                _short(r["resource"]),
                str(r["incident"]),
                str(r["resolved_at"]),
                {None: "unknown", True: "holds it", False: "does not"}[r["terraform"]],
                r["verdict"],
            ]
            for r in rows
        ]
        headers = ["member", "repository", "incident", "resolved", "terraform", "verdict"]
        out.write(render_table(headers, table) + "\n")
    if state is None and rows:
        print(
            "pullfix grants sweep: without --terraform-state, whether Terraform holds a grant "
            "is not known",
            file=sys.stderr,
        )
    return EXIT_OK
