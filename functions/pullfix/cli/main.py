"""The `pullfix` command line. Each command imports what it needs when it runs."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import BinaryIO, TextIO

__all__ = ["classify_lines", "main"]

# 2 is argparse's usage error.
EXIT_OK = 0
EXIT_INPUT = 3


def classify_lines(lines: Iterable[bytes]) -> Iterator[str]:
    """One JSON output line per input line, in order; a bad line yields an error object."""
    from pullfix.core.classify import offline_record
    from pullfix.core.intake import parse_json

    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip(b"\r\n")
        if not line.strip():
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
        yield json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _cmd_classify(args: argparse.Namespace, stdout: TextIO) -> int:
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
    try:
        for out in classify_lines(source):
            stdout.write(out + "\n")
            if interactive:
                stdout.flush()
    except OSError as exc:
        print(f"pullfix classify: reading input failed: {exc}", file=sys.stderr)
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
    from pullfix.cli.replay import dumps, render_row, replay_events, write_world
    from pullfix.cli.tables import render_table
    from pullfix.core.config import ConfigError, load_config
    from pullfix.dev.sandbox import Sandbox, WorldError, load_world

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
    rows: list[list[str]] = []
    with events, Sandbox(world) as sandbox:
        for number, result in enumerate(replay_events(world, config, events, sandbox), start=1):
            if args.json:
                stdout.write(dumps(result) + "\n")
            else:
                rows.append(render_row(number, result))
        sandbox.drain(30)
        if args.world_out:
            write_world(sandbox.world, args.world_out)
    if not args.json:
        stdout.write(render_table(["#", "workload", "cause", "action", "detail"], rows) + "\n")
    return EXIT_OK


def _cmd_diagnose(args: argparse.Namespace, stdout: TextIO) -> int:
    from pullfix.cli.operator import run, run_diagnose

    return run(run_diagnose, args, stdout)


def _cmd_scan(args: argparse.Namespace, stdout: TextIO) -> int:
    from pullfix.cli.operator import run, run_scan

    return run(run_scan, args, stdout)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every `pullfix` command."""
    parser = argparse.ArgumentParser(
        prog="pullfix", description="Diagnose and remediate GKE image-pull failures."
    )
    from pullfix import __version__

    parser.add_argument("--version", action="version", version=f"pullfix {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    classify = commands.add_parser(
        "classify",
        help="classify pull-failure events offline (JSON Lines in, JSON Lines out)",
        description="Read JSON Lines (Cloud Logging LogEntries, Pub/Sub push bodies or "
        "structured CloudEvents) and print one JSON diagnosis per line. No cloud calls.",
    )
    classify.add_argument("file", nargs="?", metavar="FILE|-", help="input file; - or none: stdin")
    classify.set_defaults(handler=_cmd_classify)

    replay = commands.add_parser(
        "replay",
        help="run events through the full remediate path against a sandbox world",
        description="Run every event through remediate against a sandbox loaded from WORLD "
        "(the real adapters, over the sandbox's wire protocols), each as of its own timestamp.",
    )
    replay.add_argument("--world", required=True, help="the world file (YAML)")
    replay.add_argument("--config", help="the config file (YAML); defaults without it")
    replay.add_argument("--world-out", help="write the world as it stands afterwards here")
    replay.add_argument("--json", action="store_true", help="one JSON object per event")
    replay.add_argument("events", help="JSON Lines of events (LogEntry, push body, CloudEvent)")
    replay.set_defaults(handler=_cmd_replay)

    diagnose = commands.add_parser(
        "diagnose",
        help="preflight: can this cluster's nodes pull these images?",
        description="Check every node pool of the cluster (or the one named) against every "
        "image, and every image of the Kubernetes manifests given with -f. Exit 0 when all "
        "can be pulled; 1 when some cannot (each with its cause and fix); 3 bad input; "
        "4 missing credentials, permission or API; 5 a transient Google error.",
    )
    diagnose.add_argument("--cluster", required=True, help="projects/P/locations/L/clusters/C")
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
    diagnose.add_argument("--json", action="store_true", help="one JSON object")
    diagnose.set_defaults(handler=_cmd_diagnose)

    scan = commands.add_parser(
        "scan",
        help="diagnose recent pull failures from Cloud Logging",
        description="Read recent pull failures from Cloud Logging (the log sink's filter), "
        "diagnose each incident once, and print a table. Dry run unless --apply. Exit 0 "
        "after a complete scan; 3 bad input; 4 missing credentials, permission or API; "
        "5 a transient Google error.",
    )
    parent = scan.add_mutually_exclusive_group(required=True)
    parent.add_argument("--project", help="a project id")
    parent.add_argument("--folder", help="a folder number")
    parent.add_argument("--organization", help="an organization number")
    scan.add_argument("--freshness", default="1d", help="how far back (90s, 10m, 1h, 1d); 1d")
    scan.add_argument("--config", help="the config file (default: PULLFIX_CONFIG, else defaults)")
    scan.add_argument(
        "--apply",
        action="store_true",
        help="act exactly as the function would (grant where allowed)",
    )
    scan.add_argument("--json", action="store_true", help="one JSON outcome per incident")
    scan.set_defaults(handler=_cmd_scan)

    sandbox = commands.add_parser("sandbox", help="the local double of the Google APIs")
    sandbox_commands = sandbox.add_subparsers(
        dest="sandbox_command", required=True, metavar="COMMAND"
    )
    serve = sandbox_commands.add_parser(
        "serve",
        help="serve a world over the Google APIs' wire protocols",
        description="Serve WORLD over REST on 127.0.0.1:PORT and gRPC on 127.0.0.1:PORT+1 "
        "until interrupted; one log line per request.",
    )
    serve.add_argument("--world", required=True, help="the world file (YAML)")
    serve.add_argument("--port", type=int, default=8085, help="REST port; gRPC is PORT+1")
    serve.add_argument(
        "--strict",
        action="store_true",
        help="check every response against Google's discovery documents",
    )
    serve.set_defaults(handler=_cmd_sandbox_serve)

    demo = commands.add_parser("demo", help="run pullfix on bundled sample events")
    demo.set_defaults(handler=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `pullfix` console script."""
    args = build_parser().parse_args(argv)
    from pullfix.logs import log_to

    log_to(sys.stderr)  # stdout carries the command's own output
    try:
        code: int = args.handler(args, sys.stdout)
    except BrokenPipeError:
        # The reader went away (`pullfix classify | head`); that is not an error.
        sys.stderr.close()
        return EXIT_OK
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
