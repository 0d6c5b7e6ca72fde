"""The operator commands on live Google Cloud (or a sandbox): `diagnose` and `scan`.

Exit codes: 0 success (diagnose: every image can be pulled); 1 diagnose: some image cannot
be pulled; 2 usage; 3 bad input (cluster name, manifest, config, unknown cluster or pool);
4 missing credentials, permission or API (the message names what is missing);
5 a Google API failed transiently (retry later).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from pullfix.errors import PullfixError

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
    colour = _COLOURS.get(key)
    if colour and out.isatty():
        return f"\033[{colour}m{text}\033[0m"
    return text


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
            "no Google credentials: run `gcloud auth application-default "
            "login`, or set PULLFIX_GCP_ENDPOINT to use a sandbox",
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


def run(handler: Any, args: argparse.Namespace, out: TextIO) -> int:
    try:
        code: int = handler(args, out)
    except _Stop as stop:
        print(f"pullfix {args.command}: {stop}", file=sys.stderr)
        return stop.code
    return code


# -- diagnose -------------------------------------------------------------------------------


def run_diagnose(args: argparse.Namespace, out: TextIO) -> int:
    from pullfix.cli.preflight import CLUSTER_RE, check_images
    from pullfix.cli.tables import render_table
    from pullfix.core.manifests import ManifestError, images_in_manifests
    from pullfix.gcp.adapter import GoogleAdapter

    match = CLUSTER_RE.fullmatch(args.cluster)
    if match is None:
        raise _Stop(
            EXIT_INPUT, f"--cluster must be projects/P/locations/L/clusters/C, got {args.cluster!r}"
        )
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
            raise _Stop(EXIT_INPUT, f"cluster {args.cluster} does not exist")
        pools = [p.name for p in cluster.node_pools]
        if args.node_pool and args.node_pool not in pools:
            raise _Stop(
                EXIT_INPUT,
                f"cluster {name} has no node pool {args.node_pool} (it has {', '.join(pools)})",
            )
        chosen = [args.node_pool] if args.node_pool else pools
        checks = _guarded(lambda: check_images(adapter, cluster, chosen, list(images.items())))
    finally:
        clients.close()
    failed = [c for c in checks if c.status == "fail"]
    if args.json:
        out.write(
            json.dumps(
                {
                    "cluster": args.cluster,
                    "node_pools": chosen,
                    "checks": [c.to_dict() for c in checks],
                    "can_pull": not failed,
                }
            )
            + "\n"
        )
        return EXIT_CANNOT_PULL if failed else EXIT_OK
    rows = [
        [
            c.image,
            c.node_pool,
            _paint(c.status.upper() if c.status == "fail" else c.status, c.status, out),
            c.cause or "-",
            (c.fix[0] if c.fix else c.reasons[0] if c.reasons else "")[:90],
        ]
        for c in checks
    ]
    out.write(render_table(["image", "node pool", "result", "cause", "what to do"], rows) + "\n")
    for check in failed:
        out.write(f"\n{check.image} on {check.node_pool}: {check.cause}\n")
        for reason in check.reasons[:3]:
            out.write(f"  why:  {reason}\n")
        for step in check.fix:
            out.write(f"  fix:  {step}\n")
        if check.used_by:
            out.write(f"  used by: {', '.join(check.used_by)}\n")
    verdict = (
        f"{len(failed)} of {len(checks)} checks fail"
        if failed
        else f"all {len(checks)} checks pass: the nodes can pull these images"
    )
    out.write(f"\n{verdict}\n")
    return EXIT_CANNOT_PULL if failed else EXIT_OK


# -- scan -----------------------------------------------------------------------------------


def run_scan(args: argparse.Namespace, out: TextIO) -> int:
    from pullfix.cli.scan import ScanSummary, scan_filter
    from pullfix.cli.tables import render_table
    from pullfix.core.config import ConfigError, load_config, parse_duration
    from pullfix.engine.ledger import MemoryLedger
    from pullfix.engine.remediate import Remediator
    from pullfix.gcp.adapter import GoogleAdapter

    try:
        freshness = parse_duration(args.freshness, "--freshness")
        config = load_config(args.config or os.environ.get("PULLFIX_CONFIG") or None)
    except ConfigError as exc:
        raise _Stop(EXIT_INPUT, str(exc)) from exc
    if not args.apply:
        config = replace(config, dry_run=True)
        # A dry run's would-grant and refusal audit lines say nothing the table does not.
        from pullfix.logs import log_to

        log_to(open(os.devnull, "w"))  # noqa: SIM115 - for the rest of this process
    parent = (
        f"projects/{args.project}"
        if args.project
        else f"folders/{args.folder}"
        if args.folder
        else f"organizations/{args.organization}"
    )
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
        remediator = Remediator(
            config, GoogleAdapter(clients, timeout=config.api_timeout), MemoryLedger()
        )
        text = scan_filter(datetime.now(UTC), freshness)
        summary = _guarded(lambda: _scan(clients, parent, text, remediator, progress))
    finally:
        clients.close()
    if err.isatty():
        err.write("\n")
    if args.json:
        for incident in summary.incidents:
            out.write(json.dumps(incident) + "\n")
        return EXIT_OK
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
                detail[:80],
            ]
        )
    out.write(render_table(["workload", "image", "cause", "action", "detail"], rows) + "\n")
    mode = "applied" if args.apply and not config.dry_run else "dry run: nothing was changed"
    out.write(
        f"\n{summary.entries} entries from {parent} in the last {args.freshness}: "
        f"{summary.pull_failures} pull failures, {len(summary.incidents)} incidents, "
        f"{summary.suppressed} duplicates; {summary.seconds:.1f}s ({mode})\n"
    )
    return EXIT_OK


def _scan(
    clients: Any, parent: str, text: str, remediator: Any, progress: Callable[[Any], None]
) -> Any:
    from google.api_core import exceptions

    from pullfix.cli.scan import OPERATOR_PERMISSIONS, list_entries, scan_entries
    from pullfix.gcp.adapter import guard

    entries = list_entries(clients.logging, [parent], text)
    try:
        return guard(
            f"listing log entries of {parent}",
            lambda: scan_entries(remediator, entries, progress),
            OPERATOR_PERMISSIONS["scan"],
        )
    except exceptions.NotFound as exc:
        raise _Stop(EXIT_INPUT, f"{parent} does not exist: {exc.message}") from exc
