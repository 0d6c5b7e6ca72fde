"""The operator commands on live Google Cloud (or a sandbox): `diagnose` and `scan`.

Exit codes: 0 success (diagnose: every image can be pulled); 1 diagnose: some image cannot
be pulled; 2 usage; 3 bad input (cluster name, manifest, config, unknown cluster or pool);
4 missing credentials, permission or API (the message names what is missing);
5 a Google API failed transiently (retry later).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from pullfix.errors import PullfixError

if TYPE_CHECKING:
    from pullfix.checks.posture import Posture

__all__ = ["EXIT_ACCESS", "EXIT_CANNOT_PULL", "EXIT_TRANSIENT", "run_diagnose", "run_scan"]

EXIT_OK, EXIT_CANNOT_PULL, EXIT_INPUT, EXIT_ACCESS, EXIT_TRANSIENT = 0, 1, 3, 4, 5
_COLOURS = {
    "ok": "32",
    "fail": "31",
    "skipped": "33",
    "grant": "32",
    "would_grant": "36",
    "ticket": "33",
}


class _Stop(PullfixError):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _paint(text: str, key: str, out: TextIO) -> str:
    from pullfix.cli.tables import paint

    return paint(text, _COLOURS.get(key), out)


def _clients() -> Any:
    from google.auth import exceptions as auth_exceptions

    from pullfix.gcp.clients import GoogleClients
    from pullfix.gcp.endpoints import EndpointError

    try:
        clients = GoogleClients.from_env()
        if clients.endpoint is None:
            import google.auth

            google.auth.default()  # fail now, clearly, rather than in the first call
    except EndpointError as exc:
        raise _Stop(EXIT_INPUT, str(exc)) from exc
    except auth_exceptions.DefaultCredentialsError as exc:
        raise _Stop(
            EXIT_ACCESS,
            f"no Google credentials: {_LOGIN_HINT} to use a sandbox",
        ) from exc
    return clients


def _guarded(call: Any) -> Any:
    from pullfix.core.model import AccessDenied, TransientError

    try:
        return call()
    except AccessDenied as exc:
        raise _Stop(EXIT_ACCESS, f"permission or API missing: {exc}") from exc
    except TransientError as exc:
        raise _Stop(EXIT_TRANSIENT, f"a Google API failed, retry later: {exc}") from exc


_LOGIN_HINT = "run `gcloud auth application-default login`, or set PULLFIX_GCP_ENDPOINT"


def run(handler: Any, args: argparse.Namespace, out: TextIO) -> int:
    from google.auth import exceptions as auth_exceptions

    try:
        code: int = handler(args, out)
    except _Stop as stop:
        print(f"pullfix {args.command}: {stop}", file=sys.stderr)
        return stop.code
    except auth_exceptions.GoogleAuthError as exc:
        # Expired, revoked or unreachable credentials surface at the first call, from any client.
        reason = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        print(
            f"pullfix {args.command}: Google credentials cannot be used ({reason}): {_LOGIN_HINT}",
            file=sys.stderr,
        )
        return EXIT_ACCESS
    return code


# -- diagnose -------------------------------------------------------------------------------


def _cluster_name(args: argparse.Namespace) -> str:
    """projects/P/locations/L/clusters/C from --cluster, or from a name with --project and
    --location (gcloud's habit)."""
    from pullfix.cli.preflight import CLUSTER_RE

    name = args.cluster
    if args.project or args.location:
        if not (args.project and args.location) or "/" in args.cluster:
            raise _Stop(
                EXIT_INPUT,
                "--project and --location go together, with --cluster naming the cluster "
                "alone (or give --cluster projects/P/locations/L/clusters/C)",
            )
        project_id = args.project.removeprefix("projects/")
        name = f"projects/{project_id}/locations/{args.location}/clusters/{args.cluster}"
    if CLUSTER_RE.fullmatch(name) is None:
        raise _Stop(
            EXIT_INPUT,
            "--cluster must be projects/P/locations/L/clusters/C (or a name with --project and "
            f"--location), got {args.cluster!r}",
        )
    return str(name)


def run_diagnose(args: argparse.Namespace, out: TextIO) -> int:
    from pullfix.cli.output import output_format, write_structured
    from pullfix.cli.preflight import CLUSTER_RE, check_images, check_postures
    from pullfix.cli.tables import render_table
    from pullfix.core.manifests import ManifestError, images_in_manifests
    from pullfix.gcp.adapter import GoogleAdapter

    cluster_name = _cluster_name(args)
    match = CLUSTER_RE.fullmatch(cluster_name)
    assert match is not None
    images: dict[str, list[str]] = {image: [] for image in args.images}
    for path in args.manifests or []:
        try:
            text = sys.stdin.read() if path == "-" else Path(path).read_text()
            for image, where in images_in_manifests(text, source=path):
                images.setdefault(image, []).append(where)
        except OSError as exc:
            raise _Stop(EXIT_INPUT, f"cannot read {path}: {exc.strerror}") from exc
        except ManifestError as exc:
            raise _Stop(EXIT_INPUT, str(exc)) from exc
    if not images:
        raise _Stop(EXIT_INPUT, "name at least one IMAGE or a manifest (-f)")
    clients = _clients()
    try:
        adapter = GoogleAdapter(clients)
        project, location, name = match.groups()
        cluster = _guarded(lambda: adapter.cluster(project, location, name))
        if cluster is None:
            raise _Stop(EXIT_INPUT, f"cluster {cluster_name} does not exist")
        pools = [p.name for p in cluster.node_pools]
        if args.node_pool and args.node_pool not in pools:
            raise _Stop(
                EXIT_INPUT,
                f"cluster {name} has no node pool {args.node_pool} (it has {', '.join(pools)})",
            )
        chosen = [args.node_pool] if args.node_pool else pools
        checks, postures = _guarded(
            lambda: (
                check_images(adapter, cluster, chosen, list(images.items())),
                check_postures(adapter, cluster, chosen),
            )
        )
    finally:
        clients.close()
    failed = [c for c in checks if c.status == "fail"]
    fmt = output_format(args)
    if fmt != "table":
        report = {
            "cluster": cluster_name,
            "node_pools": chosen,
            "checks": [c.to_dict() for c in checks],
            "can_pull": not failed,
            # Advisory: the node accounts against Google's recommendation; never fails.
            "posture": [p.to_dict() for p in postures],
            # Repositories whose access pullfix cannot tell (group membership it may not read).
            "cannot_see": _cannot_see(checks),
        }
        write_structured(report, fmt, out)
        return EXIT_CANNOT_PULL if failed else EXIT_OK
    rows = [
        [
            c.image,
            c.node_pool,
            _paint(c.status.upper() if c.status == "fail" else c.status, c.status, out),
            c.cause or "-",
            c.fix[0] if c.fix else c.reasons[0] if c.reasons else "",
        ]
        for c in checks
    ]
    out.write(render_table(["image", "node pool", "result", "cause", "what to do"], rows) + "\n")
    for warning in dict.fromkeys(w for c in checks for w in c.warnings):
        out.write(f"\nwarning: {warning}\n")
    for check in failed:
        out.write(f"\n{check.image} on {check.node_pool}: {check.cause}\n")
        for reason in check.reasons[:3]:
            out.write(f"  why:  {reason}\n")
        for step in check.fix:
            out.write(f"  fix:  {step}\n")
        if check.used_by:
            out.write(f"  used by: {', '.join(check.used_by)}\n")
    _write_advisories(postures, checks, out)
    out.write(f"\n{_verdict(checks, failed)}\n")
    return EXIT_CANNOT_PULL if failed else EXIT_OK


def _verdict(checks: list[Any], failed: list[Any]) -> str:
    """The last line of `diagnose`: an image it skipped (a registry outside Google) is never
    counted as one the nodes can pull."""
    skipped = sum(1 for c in checks if c.status == "skipped")
    checked = len(checks) - skipped
    unchecked = f" ({skipped} skipped: registries pullfix does not check)" if skipped else ""
    if failed:
        return f"{len(failed)} of {len(checks)} checks fail{unchecked}"
    if checked == 0:
        return f"no image was checked{unchecked}: nothing is known of these pulls"
    return f"all {checked} checks pass: the nodes can pull the images checked{unchecked}"


def _cannot_see(checks: list[Any]) -> list[dict[str, str]]:
    """Each repository whose access a binding pullfix cannot expand leaves untold: remediate
    tickets (fails closed) there instead of granting. See docs/permissions.md."""
    from pullfix.core.imageref import InvalidReference, parse_image

    out: list[dict[str, str]] = []
    for check in checks:
        for why in check.cannot_see:
            try:
                repository = parse_image(check.image).ar_repository or check.image
            except InvalidReference:
                repository = check.image
            out.append({"repository": repository, "node_pool": check.node_pool, "why": why})
    return out


def _write_advisories(postures: list[Posture], checks: list[Any], out: TextIO) -> None:
    """What pullfix cannot see, and the node accounts' posture, beside the pull verdict."""
    for item in _cannot_see(checks):
        out.write(f"\ncannot see: {item['repository']} for {item['node_pool']}: {item['why']}\n")
    for posture in postures:
        out.write(
            f"\nposture: {posture.node_pool} ({posture.service_account}): {posture.status}: "
            f"{posture.reasons[0]}\n"
        )
        for line in (*posture.reasons[1:], *posture.fix[:2]):
            out.write(f"  {line}\n")


# -- scan -----------------------------------------------------------------------------------


def _scan_parent(args: argparse.Namespace) -> str:
    """projects/P, folders/F or organizations/O from the flags, with or without the prefix."""
    for flag, kind, pattern in (
        ("project", "projects", r"[a-z][a-z0-9-]{4,28}[a-z0-9]|[a-z0-9.-]+:[a-z][a-z0-9-]+"),
        ("folder", "folders", r"[0-9]+"),
        ("organization", "organizations", r"[0-9]+"),
    ):
        value = getattr(args, flag)
        if value:
            bare = value.removeprefix(f"{kind}/")
            if not re.fullmatch(pattern, bare):
                raise _Stop(EXIT_INPUT, f"--{flag} {value!r} is not a {flag} id")
            return f"{kind}/{bare}"
    raise _Stop(EXIT_INPUT, "name --project, --folder or --organization")  # pragma: no cover


def run_scan(args: argparse.Namespace, out: TextIO) -> int:
    from pullfix.cli.output import output_format, write_json_line, write_structured
    from pullfix.cli.scan import ScanSummary, scan_filter
    from pullfix.cli.tables import render_table
    from pullfix.core.config import ConfigError, parse_duration
    from pullfix.engine.ledger import MemoryLedger
    from pullfix.engine.remediate import Remediator
    from pullfix.gcp.adapter import GoogleAdapter
    from pullfix.settings import load_config

    try:
        freshness = parse_duration(args.freshness, "--freshness")
        config = load_config(args.config or os.environ.get("PULLFIX_CONFIG") or None)
    except ConfigError as exc:
        raise _Stop(EXIT_INPUT, str(exc)) from exc
    parent = _scan_parent(args)
    fmt = output_format(args)
    from pullfix.logs import logs_to

    clients = _clients()
    err = sys.stderr

    def progress(summary: ScanSummary) -> None:
        line = (
            f"scanned {summary.entries} entries: {summary.pull_failures} pull failures, "
            f"{len(summary.incidents)} incidents"
        )
        err.write(f"\r{line}" if err.isatty() else f"{line}\n")
        err.flush()

    try:
        adapter = GoogleAdapter(clients, timeout=config.api_timeout)
        remediator = Remediator(replace(config, dry_run=True), adapter, MemoryLedger())
        text = scan_filter(datetime.now(UTC), freshness)
        # The scan itself is always a dry run (--apply grants the plan it shows, afterwards):
        # its dry-run audit lines say what the table says.
        with open(os.devnull, "w") as devnull, logs_to(devnull):
            summary = _guarded(lambda: _scan(clients, parent, text, remediator, progress))
        if err.isatty():
            err.write("\n")
        applied = _apply(args, config, clients, adapter, summary) if args.apply else set()
    finally:
        clients.close()
    _mark_applied(summary.incidents, applied)
    unfixed = [i for i in summary.incidents if i["action"] in ("ticket", "would_grant")]
    code = EXIT_CANNOT_PULL if unfixed and not args.exit_zero else EXIT_OK
    if fmt == "json":
        for incident in summary.incidents:
            write_json_line(incident, out)
        return code
    if fmt == "yaml":
        write_structured(summary.incidents, fmt, out)
        return code
    rows = []
    for incident in summary.incidents:
        event = incident["event"]
        grant = incident.get("grant")
        detail = (
            f"{grant['role']} on {grant['resource']} to {grant['member']}"
            if grant
            else (incident["reasons"] or [""])[0]
        )
        rows.append(
            [
                f"{event.get('namespace')}/{event.get('workload') or event.get('pod')}",
                str(event.get("image")),
                incident["cause"],
                _paint(incident["action"], incident["action"], out),
                detail,
            ]
        )
    out.write(render_table(["workload", "image", "cause", "action", "detail"], rows) + "\n")
    mode = f"applied {len(applied)} grants" if args.apply else "dry run: nothing was changed"
    out.write(
        f"\n{summary.entries} entries from {parent} in the last {args.freshness}: "
        f"{summary.pull_failures} pull failures, {len(summary.incidents)} incidents, "
        f"{summary.suppressed} duplicates, {len(unfixed)} unfixed; {summary.seconds:.1f}s "
        f"({mode})\n"
    )
    return code


def _mark_applied(incidents: list[dict[str, Any]], applied: set[tuple[str, str, str]]) -> None:
    """The scan's dry-run rows of the grants --apply made, as what they became."""
    for incident in incidents:
        if incident.get("grant") and _plan_key(incident["grant"]) in applied:
            incident["action"] = "grant"
            incident["dry_run"] = False
            incident["reasons"] = [
                *(r for r in incident["reasons"] if r != "dry run: nothing was changed"),
                "granted by pullfix scan --apply",
            ]


def _plan_key(grant: dict[str, str]) -> tuple[str, str, str]:
    return grant["resource"], grant["role"], grant["member"]


def _publisher(clients: Any, topic: str | None, ledger: Any, config: Any) -> Any:
    """The outcomes topic's publisher, keeping each outcome in the functions' history too
    (`pullfix incidents`) when the ledger is theirs (Firestore)."""
    from pullfix.engine.history import HistoryPublisher
    from pullfix.engine.ledger import FirestoreLedger
    from pullfix.gcp.adapter import PubSubPublisher

    publisher = PubSubPublisher(clients, topic, config.api_timeout) if topic else None
    if isinstance(ledger, FirestoreLedger):
        return HistoryPublisher(ledger, publisher)
    return publisher


def _apply(
    args: argparse.Namespace,
    config: Any,
    clients: Any,
    adapter: Any,
    summary: Any,
) -> set[tuple[str, str, str]]:
    """Show the grants the scan planned, ask (unless --yes), and have remediate's own path
    make them: the configured ledger (so the function knows them), the one decision against
    the config at each write, the hourly cap, the audit line and the outcomes topic (so
    notify, verify and report see them). What was granted."""
    from pullfix.core.causes import Action
    from pullfix.core.config import ConfigError, topic_name
    from pullfix.core.policy import GrantPlan
    from pullfix.engine.remediate import Remediator
    from pullfix.engine.runtime import build_ledger, outcomes_topic

    incidents = summary.incidents
    plans = list(dict.fromkeys(_plan_key(i["grant"]) for i in incidents if i.get("grant")))
    err = sys.stderr
    if config.dry_run:
        err.write("the config says dry_run: true; --apply changes nothing\n")
        return set()
    if not plans:
        err.write("nothing to apply: the config allows no grant for these incidents\n")
        return set()
    capped = plans[: config.auto_grant.max_per_hour]
    err.write(f"pullfix will grant ({len(capped)} of {len(plans)} within max_per_hour):\n")
    for resource, role, member in capped:
        err.write(f"  {role} on {resource} to {member}\n")
    try:
        topic = (
            topic_name(args.outcomes_topic, "--outcomes-topic")
            if args.outcomes_topic
            else outcomes_topic()
        )
        ledger = build_ledger(config, clients, topic)
    except ConfigError as exc:
        raise _Stop(EXIT_INPUT, str(exc)) from exc
    if topic is None:
        err.write(
            "no outcomes topic (--outcomes-topic or PULLFIX_OUTCOMES_TOPIC): notify and "
            "verify will not hear of these grants\n"
        )
    if not args.yes:
        if not sys.stdin.isatty():
            raise _Stop(EXIT_INPUT, "--apply asks before it grants: add --yes to run unattended")
        err.write("Apply these grants? [y/N] ")
        err.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            err.write("nothing was changed\n")
            return set()
    # The grants' audit lines go where the command's logs go (stderr: `main`).
    publisher = _publisher(clients, topic, ledger, config)
    live = Remediator(config, adapter, ledger, publisher, lease=config.lease)
    live.after_the_fact = True
    live.granter.confirmed = frozenset(GrantPlan(*plan) for plan in capped)
    done = set()
    now = datetime.now(UTC)
    confirmed = set(capped)
    for failure, plan in summary.planned:
        if plan not in confirmed:
            continue  # beyond the cap shown at the prompt: left as the scan's would_grant
        outcome = _guarded(lambda f=failure: live.handle(f, now, applying=True))
        if outcome.grant is not None and outcome.action is Action.GRANT:
            done.add(_plan_key(outcome.grant.to_dict()))
        elif outcome.action is not Action.SUPPRESSED:
            err.write(f"not granted: {'; '.join(outcome.reasons[-1:])}\n")
    return done


def _scan(
    clients: Any, parent: str, text: str, remediator: Any, progress: Callable[[Any], None]
) -> Any:
    from pullfix.cli.scan import OPERATOR_PERMISSIONS, list_entries, scan_entries
    from pullfix.gcp.adapter import guard
    from pullfix.gcp.errors import NotFound

    entries = list_entries(clients.logging, [parent], text)
    try:
        return guard(
            f"listing log entries of {parent}",
            lambda: scan_entries(remediator, entries, progress),
            OPERATOR_PERMISSIONS["scan"],
        )
    except NotFound as exc:
        raise _Stop(EXIT_INPUT, f"{parent} does not exist: {exc.message}") from exc


# -- verify ---------------------------------------------------------------------------------


def run_verify(args: argparse.Namespace, out: TextIO) -> int:
    """One verification pass now, as the scheduled `verify` function runs it."""
    from pullfix.cli.output import output_format, write_json_line, write_structured
    from pullfix.cli.tables import render_table
    from pullfix.core.config import ConfigError
    from pullfix.engine.evidence import EvidenceCollector
    from pullfix.engine.runtime import OUTCOMES_VARIABLE, build_ledger, outcomes_topic
    from pullfix.engine.verify import logging_query, run_verification
    from pullfix.gcp.adapter import GoogleAdapter, PubSubPublisher
    from pullfix.settings import load_config

    try:
        config = load_config(args.config or os.environ.get("PULLFIX_CONFIG") or None)
        topic = outcomes_topic()
    except ConfigError as exc:
        raise _Stop(EXIT_INPUT, str(exc)) from exc
    if args.limit is not None and not 1 <= args.limit <= 10_000:
        raise _Stop(EXIT_INPUT, "--limit: expected 1-10000 incidents")
    clients = _clients()
    try:
        try:
            ledger = build_ledger(config, clients, topic)
        except ConfigError as exc:
            raise _Stop(EXIT_INPUT, str(exc)) from exc
        publisher = PubSubPublisher(clients, topic, config.api_timeout) if topic else None
        verdicts = _guarded(
            lambda: run_verification(
                ledger,
                logging_query(clients),
                datetime.now(UTC),
                config,
                collector=EvidenceCollector(GoogleAdapter(clients, timeout=config.api_timeout)),
                limit=args.limit,
                publish=publisher.publish if publisher else None,
            )
        )
    finally:
        clients.close()
    records = [verdict.to_dict() for verdict in verdicts]
    fmt = output_format(args)
    if fmt == "json":
        for record in records:
            write_json_line(record, out)
    elif fmt == "yaml":
        write_structured(records, fmt, out)
    else:
        rows = [
            [
                str(r["action"]),
                str(r["cause"]),
                f"{r['event']['namespace']}/{r['event']['workload']}",
                "-" if r["time_to_fix_seconds"] is None else f"{r['time_to_fix_seconds']}s",
                str(r["fixed_by"] or "-"),
            ]
            for r in records
        ]
        out.write(render_table(["verdict", "cause", "workload", "time to fix", "by"], rows) + "\n")
    print(
        f"pullfix verify: {len(records)} incidents closed or escalated"
        + ("" if publisher else f" (not published: {OUTCOMES_VARIABLE} is not set)"),
        file=sys.stderr,
    )
    return EXIT_OK


# -- report ---------------------------------------------------------------------------------


def run_report(args: argparse.Namespace, out: TextIO) -> int:
    """Sum up the period's outcomes and verdicts from the functions' logs."""
    from pullfix.cli.output import output_format, write_structured
    from pullfix.cli.report import report_filter, summarize, table_rows
    from pullfix.cli.scan import OPERATOR_PERMISSIONS, list_entries
    from pullfix.cli.tables import render_table
    from pullfix.core.config import ConfigError, parse_duration
    from pullfix.gcp.adapter import guard

    try:
        since = parse_duration(args.since, "--since")
    except ConfigError as exc:
        raise _Stop(EXIT_INPUT, str(exc)) from exc
    project = args.project.removeprefix("projects/")
    text = report_filter(args.prefix, datetime.now(UTC), since)
    clients = _clients()
    try:
        summary = _guarded(
            lambda: guard(
                f"reading pullfix's logs in {project}",
                lambda: summarize(list_entries(clients.logging, [f"projects/{project}"], text)),
                OPERATOR_PERMISSIONS["scan"],
            )
        )
    finally:
        clients.close()
    fmt = output_format(args)
    if fmt in ("json", "yaml"):
        write_structured(summary, fmt, out)
    else:
        out.write(render_table([f"pullfix, last {args.since}", "total"], table_rows(summary)))
        out.write("\n")
    return EXIT_OK
