"""The `pullfix` command line. Each command imports what it needs when it runs."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, BinaryIO, TextIO

__all__ = ["classify_lines", "main"]

# 2 is argparse's usage error.
EXIT_OK = 0
EXIT_INPUT = 3


def classify_lines(lines: Iterable[bytes]) -> Iterator[str]:
    """One JSON output line per input line, in order; a bad line yields an error object."""
    from pullfix.core import fastjson
    from pullfix.core.classify import offline_record
    from pullfix.core.intake import parse_json

    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip(b"\r\n")
        if not line or line.isspace():
            record: dict[str, object] = {"error": f"line {number}: empty line"}
        else:
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                record = {"error": f"line {number}: not UTF-8 ({exc.reason} at byte {exc.start})"}
            else:
                record = offline_record(parse_json(text))
                if "error" in record:
                    record = {"error": f"line {number}: {record['error']}"}
        yield fastjson.dumps(record)


def _classify_input(source: BinaryIO) -> Iterator[str]:
    """JSON Lines, one JSON array or `kubectl get events -o json`, told apart by the input
    (`pullfix.cli.events_input`); raises EventInputError for any other single document."""
    from pullfix.cli.events_input import read_event_input
    from pullfix.core.classify import offline_record

    events = read_event_input(source)
    if events.shape == "lines":
        yield from classify_lines(events.lines)
        return
    for where, result in events.results():
        record = offline_record(result)
        if "error" in record:
            record = {"error": f"{where}: {record['error']}"}
        yield json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _explain_input(source: BinaryIO, cluster_project: str | None) -> Iterator[str]:
    """`--text`: one verdict per line of raw text that shows a pull failure."""
    from pullfix.core import fastjson
    from pullfix.core.explain import explain_lines

    lines = (raw.decode("utf-8", errors="replace") for raw in source)
    for verdict in explain_lines(lines, cluster_project=cluster_project):
        yield fastjson.dumps(verdict.to_dict())


def _cmd_classify(args: argparse.Namespace, stdout: TextIO) -> int:
    from pullfix.cli.events_input import EventInputError

    if args.cluster_project and not args.text:
        # Events name their cluster's project themselves; only raw text needs it said.
        print("pullfix classify: --cluster-project goes with --text", file=sys.stderr)
        return 2
    source: BinaryIO
    if args.file in (None, "-"):
        source, interactive = sys.stdin.buffer, True
    else:
        try:
            source = open(args.file, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            print(f"pullfix classify: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
            return EXIT_INPUT
        interactive = False
    records: list[dict[str, object]] = []
    try:
        outputs = _explain_input(source, args.cluster_project) if args.text else None
        for out in outputs or _classify_input(source):
            if args.format == "json":
                stdout.write(out + "\n")
                if interactive:
                    stdout.flush()
            else:
                records.append(json.loads(out))
        if args.format == "yaml":
            from pullfix.cli.output import write_structured

            write_structured(records, "yaml", stdout)
        elif args.format == "table":
            from pullfix.cli.tables import render_table

            if args.text:
                rows = [
                    [
                        str(r["line"]),
                        str(r["cause"]),
                        str(r.get("registry_family") or "-"),
                        str(r.get("words") or "-"),
                    ]
                    for r in records
                ]
                header = ["line", "cause", "registry", "decided by"]
            else:
                rows = [
                    [
                        str(r.get("cause") or "error"),
                        str(r.get("image") or "-"),
                        str(r.get("workload") or r.get("pod") or "-"),
                        str(r.get("error") or next(iter(r.get("reasons") or []), "")),  # type: ignore[call-overload]
                    ]
                    for r in records
                ]
                header = ["cause", "image", "workload", "why"]
            stdout.write(render_table(header, rows) + "\n")
    except BrokenPipeError:
        raise  # the reader went away: main() ends quietly
    except OSError as exc:
        print(f"pullfix classify: reading input failed: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except EventInputError as exc:  # one JSON document, but none of the shapes classify reads
        print(f"pullfix classify: {exc}", file=sys.stderr)
        return EXIT_INPUT
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace, stdout: TextIO) -> int:
    from pullfix.dev.demo import run_demo

    return run_demo(stdout)


def _cmd_sandbox_serve(args: argparse.Namespace, stdout: TextIO) -> int:
    import signal
    import threading

    from pullfix.dev.sandbox import Sandbox, WorldError

    if args.strict:
        import importlib.util

        if importlib.util.find_spec("googleapiclient") is None:
            print(
                "pullfix sandbox: --strict checks responses against Google's discovery "
                "documents, which come with google-api-python-client: "
                "pip install 'pullfix[sandbox]'",
                file=sys.stderr,
            )
            return EXIT_INPUT
    try:
        sandbox = Sandbox(args.world, port=args.port, strict=args.strict, log=stdout)
    except WorldError as exc:
        print(f"pullfix sandbox: {exc}", file=sys.stderr)
        return EXIT_INPUT
    try:
        sandbox.start()
    except OSError as exc:
        print(
            f"pullfix sandbox: cannot listen on ports {sandbox.port} and {sandbox.port + 1}: {exc}",
            file=sys.stderr,
        )
        return EXIT_INPUT
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stdout.write(
        f"pullfix sandbox: REST on {sandbox.endpoint}, gRPC on {sandbox.grpc_target}\n"
        f"  export PULLFIX_GCP_ENDPOINT={sandbox.endpoint}\n"
    )
    stdout.flush()
    try:
        stop.wait()
    finally:
        sandbox.stop()
    return EXIT_OK


def _cmd_replay(args: argparse.Namespace, stdout: TextIO) -> int:
    from pullfix.cli.events_input import EventInputError, read_event_input
    from pullfix.cli.output import output_format, write_structured
    from pullfix.cli.replay import dumps, render_row, replay_events, write_world
    from pullfix.cli.tables import render_table
    from pullfix.core.config import ConfigError
    from pullfix.dev.sandbox import Sandbox, WorldError, load_world
    from pullfix.settings import load_config

    try:
        world = load_world(args.world)
        config = load_config(args.config)
        events = open(args.events, "rb")  # noqa: SIM115 - closed below
    except (WorldError, ConfigError) as exc:
        print(f"pullfix replay: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except OSError as exc:
        print(f"pullfix replay: cannot read {args.events}: {exc.strerror}", file=sys.stderr)
        return EXIT_INPUT
    try:
        # JSON Lines, one JSON array or kubectl's List: told apart before anything runs.
        event_input = read_event_input(events)
    except (EventInputError, OSError) as exc:
        events.close()
        problem = exc.strerror if isinstance(exc, OSError) else exc
        print(f"pullfix replay: cannot read {args.events}: {problem}", file=sys.stderr)
        return EXIT_INPUT
    if args.world_out:
        # Refuse before the replay, not after it: the world out is the point of the run.
        try:
            with open(args.world_out, "a"):
                pass
        except OSError as exc:
            events.close()
            print(f"pullfix replay: cannot write {args.world_out}: {exc.strerror}", file=sys.stderr)
            return EXIT_INPUT
    fmt = output_format(args)
    rows: list[list[str]] = []
    results: list[dict[str, object]] = []
    with events, Sandbox(world, grpc=False) as sandbox:
        try:
            results_of = replay_events(
                world, config, event_input.results(), sandbox, verify=args.verify
            )
            for number, result in enumerate(results_of, start=1):
                if fmt == "json":
                    stdout.write(dumps(result) + "\n")
                elif fmt == "yaml":
                    results.append(result)
                else:
                    rows.append(render_row(number, result))
        except ConfigError as exc:
            print(f"pullfix replay: {exc}", file=sys.stderr)
            return EXIT_INPUT
        sandbox.drain(30)
        if args.world_out:
            write_world(sandbox.world, args.world_out)
    if fmt == "yaml":
        write_structured(results, fmt, stdout)
    elif fmt == "table":
        stdout.write(render_table(["#", "workload", "cause", "action", "detail"], rows) + "\n")
    return EXIT_OK


def _cmd_diagnose(args: argparse.Namespace, stdout: TextIO) -> int:
    from pullfix.cli.operator import run, run_diagnose

    return run(run_diagnose, args, stdout)


def _cmd_report(args: argparse.Namespace, stdout: TextIO) -> int:
    from pullfix.cli.operator import run, run_report

    return run(run_report, args, stdout)


def _cmd_verify(args: argparse.Namespace, stdout: TextIO) -> int:
    from pullfix.cli.operator import run, run_verify

    return run(run_verify, args, stdout)


def _cmd_grants(args: argparse.Namespace, stdout: TextIO) -> int:
    from pullfix.cli import grants
    from pullfix.cli.operator import run

    handler = {
        "list": grants.run_grants_list,
        "revoke": grants.run_grants_revoke,
        "sweep": grants.run_grants_sweep,
    }[args.grants_command]
    return run(handler, args, stdout)


def _cmd_incidents(args: argparse.Namespace, stdout: TextIO) -> int:
    from pullfix.cli import incidents
    from pullfix.cli.operator import run

    handler = {"list": incidents.run_incidents_list, "show": incidents.run_incidents_show}
    return run(handler[args.incidents_command], args, stdout)


def _cmd_scan(args: argparse.Namespace, stdout: TextIO) -> int:
    from pullfix.cli.operator import run, run_scan

    return run(run_scan, args, stdout)


def _cmd_config_validate(args: argparse.Namespace, stdout: TextIO) -> int:
    from pullfix.cli.output import output_format, write_structured
    from pullfix.core.config import ConfigError, check_config
    from pullfix.settings import load_config

    path = args.file or os.environ.get("PULLFIX_CONFIG")
    if not path:
        print("pullfix config validate: name a FILE (or set PULLFIX_CONFIG)", file=sys.stderr)
        return EXIT_INPUT
    problems: list[str] = []
    warnings: list[str] = []
    try:
        config = load_config(path)
    except ConfigError as exc:
        problems.append(str(exc))
    else:
        # --offline: the file alone, as in CI, where the functions' variables are not set.
        problems, warnings = check_config(config, None if args.offline else os.environ)
    fmt = output_format(args)
    if fmt != "table":
        result = {"file": path, "valid": not problems, "problems": problems, "warnings": warnings}
        write_structured({**result, "environment_checked": not args.offline}, fmt, stdout)
    else:
        for line in problems:
            stdout.write(f"error: {line}\n")
        for line in warnings:
            stdout.write(f"warning: {line}\n")
        offline = " (offline: environment not checked)" if args.offline else ""
        stdout.write(f"{path}: {'invalid' if problems else 'valid'}{offline}\n")
    return EXIT_INPUT if problems else EXIT_OK


def _cmd_config_schema(args: argparse.Namespace, stdout: TextIO) -> int:
    from pullfix.core.configschema import config_schema

    stdout.write(json.dumps(config_schema(), indent=2, ensure_ascii=False) + "\n")
    return EXIT_OK


def _command(
    commands: Any, name: str, help_text: str, description: str, examples: str
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=help_text,
        description=description,
        epilog="examples:\n" + examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


EXIT_CODES = (
    "exit codes: 0 success; 1 the command found a problem (diagnose: an image cannot be "
    "pulled; scan: unfixed pull failures); 2 usage; 3 bad input; 4 missing credentials, "
    "permission or API; 5 a Google API failed transiently (retry later)."
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every `pullfix` command."""
    from pullfix.cli.output import add_format_argument

    parser = argparse.ArgumentParser(
        prog="pullfix",
        description="Diagnose and remediate GKE image-pull failures.",
        epilog=EXIT_CODES,
    )
    from pullfix import __version__

    parser.add_argument("--version", action="version", version=f"pullfix {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    classify = _command(
        commands,
        "classify",
        "classify pull-failure events offline (JSON in, JSON Lines out)",
        "Read Cloud Logging LogEntries, Pub/Sub push bodies or structured CloudEvents, as "
        "JSON Lines or as one JSON array (gcloud logging read --format=json), or the "
        "Kubernetes Events of kubectl get events -o json (with no cluster: kubectl names "
        "none), and print one JSON diagnosis per event, in order. The input's shape is told "
        "from the input. No cloud calls. Exit 0; 3 when the input cannot be read or is one "
        "JSON document of another kind (a malformed event gives an error object, not an exit "
        "code).",
        "  pullfix classify events.jsonl\n"
        "  gcloud logging read 'jsonPayload.reason=\"Failed\"' --format=json | pullfix classify\n"
        "  kubectl get events -n shop -o json | pullfix classify --format table\n"
        "  pullfix classify - < events.jsonl | jq -r .cause | sort | uniq -c\n"
        "  journalctl -u containerd | grep -i pull | pullfix classify --text --format table",
    )
    classify.add_argument("file", nargs="?", metavar="FILE|-", help="input file; - or none: stdin")
    classify.add_argument(
        "--format",
        choices=("json", "yaml", "table"),
        default="json",
        help="json: one object per event, JSON Lines, streamed (the default); yaml: one "
        "document, the list; table: cause, image, workload and the first reason",
    )
    classify.add_argument(
        "--json",
        dest="format",
        action="store_const",
        const="json",
        help="same as --format json (as every command takes it)",
    )
    classify.add_argument(
        "--text",
        action="store_true",
        help="read raw error text instead of events (a containerd journal, docker pull "
        "output, a kubectl describe excerpt): one verdict per line that shows a pull "
        "failure, with its cause, registry family and the words that decided it",
    )
    classify.add_argument(
        "--cluster-project",
        metavar="PROJECT",
        help="with --text: the project of the cluster that pulled, so that a Google "
        "registry in another project reads as cross_project",
    )
    classify.set_defaults(handler=_cmd_classify)

    replay = _command(
        commands,
        "replay",
        "run events through the full remediate path against a sandbox world",
        "Run every event through remediate against a sandbox loaded from WORLD (the real "
        "adapters, over the sandbox's wire protocols), each as of its own timestamp. EVENTS "
        "is JSON Lines, one JSON array (gcloud logging read --format=json) or kubectl get "
        "events -o json, as classify reads them. Exit 0; 3 when the world, config or events "
        "file cannot be read or is invalid.",
        "  pullfix replay --world world.yaml events.jsonl\n"
        "  gcloud logging read 'resource.type=\"k8s_pod\"' --format=json > events.json\n"
        "  pullfix replay --world world.yaml events.json\n"
        "  kubectl get events -n shop -o json > events.json && "
        "pullfix replay --world world.yaml events.json\n"
        "  pullfix replay --world world.yaml --config examples/config.yaml --json events.jsonl\n"
        "  pullfix replay --world world.yaml --world-out after.yaml events.jsonl",
    )
    replay.add_argument("--world", required=True, help="the world file (YAML)")
    replay.add_argument("--config", help="the config file (YAML); defaults without it")
    replay.add_argument("--world-out", help="write the world as it stands afterwards here")
    replay.add_argument(
        "--verify",
        action="store_true",
        help="after the last event, one verification pass as of its time plus "
        "escalation_grace, over the world's log_entries: a further result per incident it "
        "closes (action resolved, still_failing or abandoned; time_to_fix_seconds)",
    )
    add_format_argument(replay, "one object per event, JSON Lines")
    replay.add_argument(
        "events",
        help="events (LogEntry, push body, CloudEvent) as JSON Lines or one JSON array, or "
        "kubectl get events -o json",
    )
    replay.set_defaults(handler=_cmd_replay)

    _operator_commands(commands)
    _history_commands(commands)
    from pullfix.cli.dlq import add_dlq_command

    add_dlq_command(commands)
    _tool_commands(commands)
    return parser


def _operator_commands(commands: Any) -> None:
    """`diagnose`, `scan`, `verify` and `report`: the commands that read live Google Cloud."""
    from pullfix.cli.output import add_format_argument

    diagnose = _command(
        commands,
        "diagnose",
        "preflight: can this cluster's nodes pull these images?",
        "Check every node pool of the cluster (or the one named) against every image, and "
        "every image of the Kubernetes manifests given with -f. Exit 0 when all can be "
        "pulled; 1 when some cannot (each with its cause and fix); 3 bad input; 4 missing "
        "credentials, permission or API; 5 a transient Google error.",
        "  pullfix diagnose --cluster projects/shop-prod/locations/us-central1/clusters/checkout "
        "us-docker.pkg.dev/shop-images/apps/web:1.4\n"
        "  pullfix diagnose --project shop-prod --location us-central1 --cluster checkout "
        "-f deploy.yaml\n"
        "  kubectl get deploy -o yaml | pullfix diagnose --project shop-prod --location "
        "us-central1 --cluster checkout -f - --format json",
    )
    diagnose.add_argument(
        "--cluster",
        required=True,
        help="projects/P/locations/L/clusters/C, or the cluster's name with --project and "
        "--location",
    )
    diagnose.add_argument("--project", help="the cluster's project (with a cluster name)")
    diagnose.add_argument("--location", help="the cluster's region or zone (with a name)")
    diagnose.add_argument("images", nargs="*", metavar="IMAGE", help="image references")
    diagnose.add_argument("--node-pool", help="check only this node pool")
    diagnose.add_argument(
        "-f",
        "--filename",
        dest="manifests",
        action="append",
        metavar="MANIFEST",
        help="Kubernetes manifest(s) (YAML, - for stdin)",
    )
    add_format_argument(diagnose, "one object")
    diagnose.set_defaults(handler=_cmd_diagnose)

    scan = _command(
        commands,
        "scan",
        "diagnose recent pull failures from Cloud Logging",
        "Read recent pull failures from Cloud Logging (the log sink's filter), diagnose each "
        "incident once, and print what pullfix would do. Nothing changes unless --apply: "
        "then the planned grants are shown and applied after confirmation (--yes to skip "
        "it). Exit 0 when nothing is left unfixed; 1 when incidents remain (tickets, or "
        "grants not applied; --exit-zero: 0); 3 bad input; 4 missing credentials, "
        "permission or API; 5 a transient Google error.",
        "  pullfix scan --project shop-prod --freshness 6h\n"
        "  pullfix scan --organization 123456789012 --format json > incidents.jsonl\n"
        "  pullfix scan --project shop-prod --config examples/config.yaml --apply",
    )
    parent = scan.add_mutually_exclusive_group(required=True)
    parent.add_argument("--project", help="a project id (or projects/ID)")
    parent.add_argument("--folder", help="a folder number (or folders/N)")
    parent.add_argument("--organization", help="an organization number (or organizations/N)")
    scan.add_argument("--freshness", default="1d", help="how far back (90s, 10m, 1h, 1d); 1d")
    scan.add_argument("--config", help="the config file (default: PULLFIX_CONFIG, else defaults)")
    scan.add_argument(
        "--apply",
        action="store_true",
        help="grant where the config allows, after showing the plan and asking",
    )
    scan.add_argument("--yes", "-y", action="store_true", help="apply without asking")
    scan.add_argument(
        "--outcomes-topic",
        help="projects/P/topics/T to publish the grants of --apply to, as remediate does "
        "(default: PULLFIX_OUTCOMES_TOPIC), so notify and verify hear of them",
    )
    scan.add_argument(
        "--exit-zero", action="store_true", help="exit 0 even when incidents remain unfixed"
    )
    add_format_argument(scan, "one outcome per incident, JSON Lines")
    scan.set_defaults(handler=_cmd_scan)

    verify = _command(
        commands,
        "verify",
        "check now that pullfix's fixes worked (what the scheduled verify function does)",
        "One verification pass over the open incidents of the configured ledger: one Cloud "
        "Logging query each for the kubelet's events of the incident's workload and image "
        "since pullfix acted. Prints each incident it closes or escalates (resolved, with "
        "the time to fix; still_failing; abandoned), publishes them to "
        "PULLFIX_OUTCOMES_TOPIC when set, and closes the resolved and abandoned ones. Exit "
        "0; 3 bad input; 4 missing credentials, permission or API; 5 a transient Google "
        "error.",
        "  pullfix verify --config config.yaml\n"
        "  PULLFIX_OUTCOMES_TOPIC=projects/P/topics/pullfix-pull-outcomes pullfix verify --json",
    )
    verify.add_argument("--config", help="the config file (default: PULLFIX_CONFIG, else defaults)")
    verify.add_argument(
        "--limit", type=int, help="at most this many incidents (default: verify_per_run)"
    )
    add_format_argument(verify, "one outcome per closed or escalated incident, JSON Lines")
    verify.set_defaults(handler=_cmd_verify)

    report = _command(
        commands,
        "report",
        "sum up what pullfix did, and how fast fixes took, from its functions' logs",
        "Read the remediate and verify functions' outcome lines of the period from Cloud "
        "Logging (the host project) and print incidents by cause, grants, tickets, "
        "escalations, verifications and the time to fix (p50, p90, max): the dashboard's "
        "figures in a terminal. Exit 0; 3 bad input; 4 missing credentials, permission or "
        "API; 5 a transient Google error.",
        "  pullfix report --project pullfix-host --since 7d\n"
        "  pullfix report --project pullfix-host --since 30d --format json",
    )
    report.add_argument("--project", required=True, help="the project pullfix runs in")
    report.add_argument("--since", default="7d", help="how far back (1h, 1d, 7d); 7d")
    report.add_argument(
        "--prefix", default="pullfix", help="the Terraform prefix of the functions; pullfix"
    )
    add_format_argument(report, "one object")
    report.set_defaults(handler=_cmd_report)


_LEDGER_CONFIG = "the config file whose ledger to read (default: PULLFIX_CONFIG)"


def _history_commands(commands: Any) -> None:
    """`grants` and `incidents`: what pullfix did, read back from the ledger it keeps."""
    from pullfix.cli.output import add_format_argument

    grants = commands.add_parser("grants", help="list, revoke and sweep the grants pullfix made")
    grants_commands = grants.add_subparsers(dest="grants_command", required=True, metavar="COMMAND")
    listing = _command(
        grants_commands,
        "list",
        "what pullfix granted: member, resource, when, why, expiry",
        "The grants of the incidents the ledger's history holds (the Firestore ledger the "
        "functions share, from the config), and with --logs the audit lines the remediate "
        "function wrote for them in Cloud Logging (which also give each grant's expiry), "
        "oldest first. Exit 0; 3 bad input (a memory ledger: nothing to read); 4 missing "
        "credentials, permission or API; 5 a transient Google error.",
        "  pullfix grants list --config config.yaml\n"
        "  pullfix grants list --logs pullfix-host --since 30d --format json",
    )
    listing.add_argument("--config", help=_LEDGER_CONFIG)
    listing.add_argument("--since", default="30d", help="how far back (1h, 7d, 90d); 30d")
    listing.add_argument(
        "--logs", metavar="PROJECT", help="also read the audit lines in Cloud Logging there"
    )
    listing.add_argument(
        "--prefix", default="pullfix", help="the Terraform prefix of the functions; pullfix"
    )
    listing.add_argument("--limit", type=int, default=1000, help="incidents read; 1000")
    add_format_argument(listing, "one object per grant, JSON Lines")
    listing.set_defaults(handler=_cmd_grants, command="grants list")

    revoke = _command(
        grants_commands,
        "revoke",
        "remove pullfix's binding, keeping every other member and condition",
        "Remove MEMBER from the reader role on RESOURCE: from the role's unconditional "
        "binding, or with --condition from the binding under that expiry condition of "
        "pullfix's (a binding left empty goes). Every other member, binding and condition is "
        "written back as read: IAM policy version 3 with its etag, read again and retried "
        "when someone changed the policy meanwhile. Only what pullfix grants can be revoked "
        "(the reader role, to a service account). --dry-run reads the policy and shows the "
        "change. Exit 0 removed (or would remove); 1 the member holds no such binding; 3 bad "
        "input; 4 missing credentials, permission or API; 5 a transient Google error.",
        "  pullfix grants revoke --resource projects/shop-images/locations/us/repositories/"
        "images --member serviceAccount:111111111111-compute@developer.gserviceaccount.com "
        "--dry-run\n"
        "  pullfix grants revoke --resource projects/shop-images --member "
        "serviceAccount:nodes@shop-prod.iam.gserviceaccount.com --condition "
        "pullfix-expires-2026-12-31T00:00:00Z",
    )
    revoke.add_argument("--resource", required=True, help="projects/P/locations/L/repositories/R")
    revoke.add_argument("--member", required=True, help="serviceAccount:EMAIL")
    revoke.add_argument(
        "--condition", metavar="TITLE", help="the expiry condition's title (pullfix-expires-…)"
    )
    revoke.add_argument("--dry-run", action="store_true", help="show the change, make none")
    add_format_argument(revoke, "one object")
    revoke.set_defaults(handler=_cmd_grants, command="grants revoke")

    sweep = _command(
        grants_commands,
        "sweep",
        "find (and with --revoke, revoke) old grants Terraform never adopted",
        "Pullfix's grants whose incident a verification resolved more than --older-than ago, "
        "from the ledger's history. Whether Terraform holds a grant is decided from "
        "--terraform-state (the output of `terraform show -json`): it holds it when an "
        "*_iam_member or *_iam_binding of the reader role and member, or an *_iam_policy "
        "binding them, without a condition, is on that repository (or project). Held: kept. "
        "Not held: reported, and with --revoke, pullfix's bindings of the member there (the "
        "unconditional one and its expiring ones) are revoked as `grants revoke` does. "
        "--revoke needs --terraform-state. Exit 0; 3 bad input; 4 missing credentials, "
        "permission or API; 5 a transient Google error.",
        "  pullfix grants sweep --older-than 14d\n"
        "  terraform show -json > state.json && pullfix grants sweep --terraform-state "
        "state.json --revoke",
    )
    sweep.add_argument("--config", help=_LEDGER_CONFIG)
    sweep.add_argument(
        "--older-than", default="7d", help="resolved at least this long ago (1d, 7d); 7d"
    )
    sweep.add_argument("--terraform-state", metavar="FILE", help="terraform show -json output")
    sweep.add_argument("--revoke", action="store_true", help="revoke what Terraform does not hold")
    sweep.add_argument("--since", default="90d", help="history read, how far back; 90d")
    sweep.add_argument("--limit", type=int, default=1000, help="incidents read; 1000")
    add_format_argument(sweep, "one object per grant, JSON Lines")
    sweep.set_defaults(handler=_cmd_grants, command="grants sweep")

    incidents = commands.add_parser("incidents", help="the incident history the ledger keeps")
    incidents_commands = incidents.add_subparsers(
        dest="incidents_command", required=True, metavar="COMMAND"
    )
    listing = _command(
        incidents_commands,
        "list",
        "the incidents of a period, latest first, filtered",
        "The incidents with an outcome in the period, from the history the Firestore ledger "
        "keeps (each incident's outcomes, as published). Cause and action are the incident's "
        "first outcome's; state is its latest verification's (resolved, abandoned, "
        "still_failing), else open. Filters: --cause, --action, --state, and --cluster and "
        "--namespace (globs, on the full name or its last segment). Exit 0; 3 bad input; 4 "
        "missing credentials, permission or API; 5 a transient Google error.",
        "  pullfix incidents list --since 1d --state open\n"
        "  pullfix incidents list --cause cross_project --cluster checkout --format json",
    )
    from pullfix.cli.incidents import STATES
    from pullfix.core.causes import Action, Cause

    listing.add_argument("--config", help=_LEDGER_CONFIG)
    listing.add_argument("--since", default="7d", help="how far back (1h, 1d, 7d); 7d")
    listing.add_argument("--cause", choices=[c.value for c in Cause], metavar="CAUSE")
    listing.add_argument("--action", choices=[a.value for a in Action], metavar="ACTION")
    listing.add_argument("--state", choices=STATES)
    listing.add_argument("--cluster", metavar="GLOB", help="cluster name or resource (glob)")
    listing.add_argument("--namespace", metavar="GLOB", help="namespace (glob)")
    listing.add_argument("--limit", type=int, default=500, help="incidents read; 500")
    add_format_argument(listing, "one object per incident, JSON Lines")
    listing.set_defaults(handler=_cmd_incidents, command="incidents list")

    show = _command(
        incidents_commands,
        "show",
        "every outcome of one incident, in order, with times",
        "Every outcome the ledger kept of incident KEY (up to 20: its first and its "
        "latest), in the order published: what pullfix concluded and did, then what "
        "verification found. Exit 0; 1 no such incident; 3 bad input; 4 missing credentials, "
        "permission or API; 5 a transient Google error.",
        "  pullfix incidents show grant-3f9c2a7d41b0\n"
        "  pullfix incidents show ticket-9d1e0b55c2aa --format yaml",
    )
    show.add_argument("key", metavar="KEY", help="the incident key (grant-…, ticket-…)")
    show.add_argument("--config", help=_LEDGER_CONFIG)
    add_format_argument(show, "one object, the outcomes under history")
    show.set_defaults(handler=_cmd_incidents, command="incidents show")


def _tool_commands(commands: Any) -> None:
    """`config validate`, `sandbox serve` and `demo`."""
    from pullfix.cli.output import add_format_argument

    config = commands.add_parser("config", help="check a config file, or print its schema")
    config_commands = config.add_subparsers(dest="config_command", required=True, metavar="COMMAND")
    validate = _command(
        config_commands,
        "validate",
        "check a config file: schema, globs, routes and their environment variables",
        "Load FILE as remediate and notify would, and check that every route's environment "
        "variables are set and well-formed (their values are never printed); --offline "
        "skips those environment checks (for CI). Exit 0 when the file is valid; 3 when it "
        "is not (each problem named).",
        "  pullfix config validate examples/config.yaml\n"
        "  pullfix config validate --offline config.yaml   # in CI: the file alone\n"
        "  PULLFIX_CONFIG=/etc/pullfix/config.yaml pullfix config validate",
    )
    validate.add_argument(
        "file", nargs="?", metavar="FILE", help="the config file (default: PULLFIX_CONFIG)"
    )
    validate.add_argument(
        "--offline",
        action="store_true",
        help="check the file alone: not the routes' environment variables nor "
        "PULLFIX_OUTCOMES_TOPIC (the warnings still apply)",
    )
    add_format_argument(validate, "one object")
    validate.set_defaults(handler=_cmd_config_validate)

    schema = _command(
        config_commands,
        "schema",
        "print the config file's JSON Schema, for editors",
        "Print the JSON Schema (draft 2020-12) of the config file, generated from the table "
        "the loader reads: point an editor's YAML language server at it for completion and "
        "checks as you type. Files the schema accepts may still fail `config validate` "
        "(bounds of durations written as text, the YAML itself); it is the authority. Exit 0.",
        "  pullfix config schema > pullfix-config.schema.json\n"
        "  # then, first line of config.yaml (YAML language server, e.g. in VS Code):\n"
        "  # yaml-language-server: $schema=./pullfix-config.schema.json",
    )
    schema.set_defaults(handler=_cmd_config_schema)

    sandbox = commands.add_parser("sandbox", help="the local double of the Google APIs")
    sandbox_commands = sandbox.add_subparsers(
        dest="sandbox_command", required=True, metavar="COMMAND"
    )
    serve = _command(
        sandbox_commands,
        "serve",
        "serve a world over the Google APIs' wire protocols",
        "Serve WORLD over REST on 127.0.0.1:PORT and gRPC on 127.0.0.1:PORT+1 until "
        "interrupted; one log line per request. Exit 3 when the world is invalid or the "
        "ports are taken, or when --strict lacks its dependency.",
        "  pullfix sandbox serve --world world.yaml --port 8085\n"
        "  export PULLFIX_GCP_ENDPOINT=http://127.0.0.1:8085",
    )
    serve.add_argument("--world", required=True, help="the world file (YAML)")
    serve.add_argument("--port", type=int, default=8085, help="REST port; gRPC is PORT+1")
    serve.add_argument(
        "--strict",
        action="store_true",
        help="check every response against Google's discovery documents (needs pullfix[sandbox])",
    )
    serve.set_defaults(handler=_cmd_sandbox_serve)

    demo = _command(
        commands,
        "demo",
        "run the whole pipeline on bundled sample events",
        "The sandbox, the four functions under functions-framework and local chat and ticket "
        "receivers, all on 127.0.0.1; prints each event's journey and a summary.",
        "  pullfix demo",
    )
    demo.set_defaults(handler=_cmd_demo)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `pullfix` console script."""
    args = build_parser().parse_args(argv)
    from pullfix.logs import logs_to

    # stdout carries the command's own output; the log destination is given back after, so
    # a command run in-process (a test, a caller's script) leaves no stream of its own behind.
    with logs_to(sys.stderr):
        try:
            code: int = args.handler(args, sys.stdout)
        except BrokenPipeError:
            # The reader went away (`pullfix classify | head`): not an error, nothing to say.
            # Point stdout at /dev/null so that the interpreter's final flush is quiet too.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return EXIT_OK
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
