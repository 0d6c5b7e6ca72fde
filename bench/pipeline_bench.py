"""Benchmarks of `remediate` under functions-framework against the sandbox."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from pullfix.dev.events import eventarc_headers, log_entry, pull_message, pulled_message, push_body
from pullfix.dev.localrun import FunctionServer, free_port, post
from pullfix.dev.sandbox import Sandbox, load_world
from pullfix.dev.sandbox.world import world_from_dict

SAMPLES = Path(__file__).resolve().parent.parent / "functions" / "pullfix" / "dev" / "samples"
HELLO = Path(__file__).resolve().parent / "hello_main.py"
FUNCTIONS = Path(__file__).resolve().parent.parent / "functions"
NODE = "gke-checkout-default-pool-1a2b3c4d-x7k9"
DETAILS = [
    ("us-central1-docker.pkg.dev/shop-images/images/web:1.4", "403 Forbidden"),
    ("us-central1-docker.pkg.dev/shop-prod/apps/api:2.0", "403 Forbidden"),
    ("us-central1-docker.pkg.dev/shop-prod/apps/api:9.9", "manifest unknown"),
    ("quay.io/team/app:1", "dial tcp 1.2.3.4:443: i/o timeout"),
    ("busybox:1.36", "429 Too Many Requests"),
]


def _entry(
    workload: str, image: str, detail: str, index: int, *, labelled: bool = True
) -> dict[str, Any]:
    when = datetime.now(UTC) - timedelta(seconds=1)
    return log_entry(
        project="shop-prod",
        location="us-central1",
        cluster="checkout",
        namespace="bench",
        pod=f"{workload}-{index}",
        node=NODE,
        message=pull_message(image, detail),
        controller=("Deployment", workload) if labelled else None,
        timestamp=when.isoformat().replace("+00:00", "Z"),
        insert_id=f"b{index}",
    )


def _post(url: str, entry: dict[str, Any], message_id: str) -> int:
    body = json.dumps(push_body(entry, message_id=message_id, project="shop-prod")).encode()
    return post(url, body, eventarc_headers(message_id, "projects/shop-prod/topics/pull-failures"))


def _percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


def bench_pipeline() -> None:
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "auto_grant": {
                        "repositories": ["projects/shop-*/locations/*/repositories/*"],
                        "max_per_hour": 10000,
                    }
                }
            )
        )
        world = yaml.safe_load((SAMPLES / "world.yaml").read_text())
        # One repository per new access incident, so that each asks the troubleshooter.
        world["projects"]["shop-images"]["repositories"] |= {
            f"bench-{i}": {"location": "us-central1", "tags": ["web:1.4"], "iam": []}
            for i in range(ACCESS_INCIDENTS)
        }
        with Sandbox(world_from_dict(world)) as sandbox:
            env = {
                "PULLFIX_GCP_ENDPOINT": sandbox.endpoint,
                "PULLFIX_CONFIG": str(config),
                "PULLFIX_OUTCOMES_TOPIC": "projects/shop-prod/topics/pull-outcomes",
            }
            with FunctionServer("remediate", env=env) as server:
                _warm(server.url)
                _latency(server.url, sandbox)
                _access_latency(server.url, sandbox)
                _storm(server.url, sandbox)
    _cold_start()


def _warm(url: str) -> None:
    for i in range(20):
        image, detail = DETAILS[i % len(DETAILS)]
        _post(url, _entry(f"warm-{i}", image, detail, i), f"warm-{i}")


ACCESS_INCIDENTS = 200


def _latency(url: str, sandbox: Sandbox) -> None:
    new, duplicate = [], []
    requests = 0
    for i in range(300):
        image, detail = DETAILS[i % len(DETAILS)]
        entry = _entry(f"lat-{i}", image, detail, 1000 + i)
        before = sandbox.stats()["total"]
        start = time.perf_counter()
        assert _post(url, entry, f"lat-{i}") == 200
        new.append((time.perf_counter() - start) * 1000)
        requests += sandbox.stats()["total"] - before
        start = time.perf_counter()
        assert _post(url, entry, f"lat-dup-{i}") == 200
        duplicate.append((time.perf_counter() - start) * 1000)
    print("remediate, warm, over HTTP against the sandbox (300 new incidents, 300 duplicates)")
    for label, values in (("new incident", new), ("duplicate", duplicate)):
        print(
            f"  {label:<14} p50 {statistics.median(values):6.1f} ms   "
            f"p99 {_percentile(values, 99):6.1f} ms"
        )
    print(f"  Google API requests per new incident (mix): {requests / len(new):.2f}")


def _access_latency(url: str, sandbox: Sandbox) -> None:
    """New IAM incidents, each on a repository of its own: the troubleshooter is asked each
    time (no cached verdict), then the grant is made."""
    times, requests = [], []
    before_calls = sandbox.stats()["requests"].get("policytroubleshooter.iam.troubleshoot", 0)
    for i in range(ACCESS_INCIDENTS):
        image = f"us-central1-docker.pkg.dev/shop-images/bench-{i}/web:1.4"
        entry = _entry(f"acc-{i}", image, "403 Forbidden", 5000 + i)
        before = sandbox.stats()["total"]
        start = time.perf_counter()
        assert _post(url, entry, f"acc-{i}") == 200
        times.append((time.perf_counter() - start) * 1000)
        requests.append(sandbox.stats()["total"] - before)
    calls = sandbox.stats()["requests"].get("policytroubleshooter.iam.troubleshoot", 0)
    print(
        f"new access incidents, troubleshooter on ({ACCESS_INCIDENTS}, each granted on its own "
        "repository)"
    )
    print(
        f"  p50 {statistics.median(times):6.1f} ms   p99 {_percentile(times, 99):6.1f} ms   "
        f"Google API requests per incident {statistics.mean(requests):.2f} "
        f"(troubleshooter calls {calls - before_calls})"
    )


def _storm(url: str, sandbox: Sandbox) -> None:
    before = sandbox.stats()["total"]
    events = 0
    for round_ in range(60):
        for i in range(10):
            image, detail = DETAILS[i % len(DETAILS)]
            entry = _entry(f"storm-{i}", image, detail, 100000 + round_ * 10 + i)
            assert _post(url, entry, f"storm-{round_}-{i}") == 200
            events += 1
    requests = sandbox.stats()["total"] - before
    print(
        f"storm, repeats: {events} events of 10 incidents -> {requests} Google API requests "
        f"({requests / events:.3f} per event)"
    )
    # Distinct pods without the GKE controller labels, named as Kubernetes names a
    # Deployment's pods: ten incidents, known first, then fifty new pods of each.
    alphabet = "bcdfghjklmnpqrstvwxz2456789"

    def pod_event(i: int, pod: int) -> dict[str, Any]:
        image, detail = DETAILS[i % len(DETAILS)]
        entry = _entry(f"pods{i}", image, detail, 200000 + pod * 10 + i, labelled=False)
        name = f"pods{i}-7d9f8c5b4-{alphabet[pod % 27]}{alphabet[pod // 27]}x9k"
        entry["resource"]["labels"]["pod_name"] = name
        entry["jsonPayload"]["involvedObject"]["name"] = name
        return entry

    for i in range(10):
        assert _post(url, pod_event(i, 0), f"pods-known-{i}") == 200
    before = sandbox.stats()["total"]
    events = 0
    for pod in range(1, 51):
        for i in range(10):
            assert _post(url, pod_event(i, pod), f"pods-{pod}-{i}") == 200
            events += 1
    requests = sandbox.stats()["total"] - before
    print(
        f"storm, distinct pods: {events} events from 500 unlabelled pods of 10 known incidents "
        f"-> {requests} Google API requests ({requests / events:.3f} per event)"
    )


# The first event of each path the cold start is timed on: a registry outside Google (the
# offline diagnosis, the GKE cluster and the node's instance read), and an Artifact Registry
# refusal on the default pool whose every check reads (the cluster, the node's instance, the
# project, the service account, the tag and the Policy Troubleshooter's verdict; with no
# auto_grant it ends in a `role` ticket, so each round is a new incident and nothing is
# written to IAM).
COLD_EVENT = DETAILS[3]
FULL_EVENT = ("us-central1-docker.pkg.dev/shop-prod/apps/api:2.0", "403 Forbidden")


def _time_to_first_2xx(
    target: str,
    source: Path,
    env: dict[str, str],
    python: str | None,
    event: tuple[str, str] = COLD_EVENT,
) -> float:
    port = free_port()
    entry = _entry("cold", *event, 0)
    server = FunctionServer(target, env=env, port=port, source=source, python=python)
    start = time.perf_counter()
    server.start(timeout=60)
    try:
        while _post(server.url, entry, f"cold-{time.time_ns()}") // 100 != 2:
            time.sleep(0.01)
        return time.perf_counter() - start
    finally:
        server.stop()


COLD_ROUNDS = 9


def _built(source: Path, into: Path, python: str) -> Path:
    """A copy of the function's source, byte-compiled as Cloud Functions builds it: the
    Python functions-framework buildpack runs `python3 -m compileall -f -q .` over the
    source (GoogleCloudPlatform/buildpacks, cmd/python/functions_framework/lib/lib.go), so a
    deployed instance never compiles pullfix's modules at start."""
    shutil.copytree(
        source, into, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    )
    subprocess.run([python, "-m", "compileall", "-f", "-q", str(into)], check=True)
    return into


def _credentials_import(python: str, source: Path, module: str) -> float:
    """Seconds to import what the function's credentials load on Google's runtime, where the
    sandbox's anonymous calls load none, in a process that has loaded what the function has
    by then (median of 5 processes): `module` is pullfix's (`pullfix.gcp.credentials`,
    making its credentials as Cloud Run functions would) or google-auth's own."""
    probe = (
        "import time, functions_framework, main\n"
        "from pullfix.gcp import transport\n"
        "t = time.perf_counter()\n"
        + (
            "from pullfix.gcp.credentials import default_credentials\n"
            "default_credentials(['s'], {'K_SERVICE': 'remediate'})\n"
            if module == "pullfix"
            else "import google.auth.compute_engine\n"
        )
        + "print(time.perf_counter() - t)\n"
    )
    times = [
        float(
            subprocess.run(
                [python, "-c", probe], cwd=source, capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(5)
    ]
    return statistics.median(times)


def _cold_start() -> None:
    # `make bench` names a virtual environment with only functions/requirements.txt, as Cloud
    # Functions builds it; the development one holds test tools whose packages the Google
    # libraries import when present (api_core loads aiohttp, which checkov brings).
    python = os.environ.get("PULLFIX_BENCH_RUNTIME")
    python = os.path.abspath(python) if python else None  # the servers run elsewhere
    where = "the runtime-only environment" if python else "this (development) environment"
    version = subprocess.run(
        [python or sys.executable, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    where += f", Python {version}"
    print(
        "cold start, process start -> first 2xx for a real event (medians of "
        f"{COLD_ROUNDS} rounds, in {where})"
    )
    with Sandbox(load_world(SAMPLES / "world.yaml")) as sandbox, tempfile.TemporaryDirectory() as d:
        built = _built(FUNCTIONS, Path(d) / "functions", python or sys.executable)
        hello_main = _built(HELLO.parent, Path(d) / "hello", python or sys.executable)
        bare = {"PULLFIX_GCP_ENDPOINT": sandbox.endpoint}
        # As Terraform deploys it: a config file, the Firestore ledger, the outcomes topic.
        config = Path(d) / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "auto_grant": {"repositories": ["projects/shop-*/locations/*/repositories/*"]},
                    "ledger": {"firestore": {"project": "shop-prod"}},
                }
            )
        )
        deployed = {
            **bare,
            "PULLFIX_CONFIG": str(config),
            "PULLFIX_OUTCOMES_TOPIC": "projects/shop-prod/topics/pull-outcomes",
        }
        # Round-robin, each remediate start next to a hello-world start: the machine's slow
        # and fast spells fall on both sides of each ratio alike, and the median ratio of
        # the rounds counts.
        paths = (
            ("bare", bare, COLD_EVENT),
            ("deployed", deployed, COLD_EVENT),
            ("full", bare, FULL_EVENT),
        )
        runs: dict[str, list[float]] = {"hello": [], "bare": [], "deployed": [], "full": []}
        for _ in range(COLD_ROUNDS):
            runs["hello"].append(_time_to_first_2xx("hello", hello_main / HELLO.name, bare, python))
            for name, env, event in paths:
                runs[name].append(
                    _time_to_first_2xx("remediate", built / "main.py", env, python, event)
                )
        h = statistics.median(runs["hello"])
        ratios: dict[str, float] = {}
        for label, name in (
            ("memory ledger, no topic", "bare"),
            ("as deployed", "deployed"),
            ("full evidence path", "full"),
        ):
            p = statistics.median(runs[name])
            ratio = statistics.median(r / h for r, h in zip(runs[name], runs["hello"], strict=True))
            ratios[name] = ratio
            print(
                f"  remediate ({label}) {p * 1000:6.0f} ms   hello-world {h * 1000:6.0f} ms   "
                f"ratio {ratio:.2f}"
            )
        own = _credentials_import(python or sys.executable, built, "pullfix")
        theirs = _credentials_import(python or sys.executable, built, "google-auth")
        print(
            f"  production's credentials, which the sandbox's anonymous calls do not load: "
            f"pullfix's metadata-server credentials {own * 1000:.0f} ms of imports (as deployed "
            f"with them about {ratios['deployed'] + own / h:.2f}x); google-auth's Compute "
            f"Engine credentials, with requests and cryptography, would be "
            f"{theirs * 1000:.0f} ms ({ratios['deployed'] + theirs / h:.2f}x)"
        )
    print(
        "  (as deployed: a config file, the Firestore ledger and the outcomes topic, as "
        "Terraform sets them; full evidence path: an Artifact Registry refusal whose checks "
        "read the cluster, the node's instance, the project, the service account, the tag "
        "and the Policy Troubleshooter's verdict)"
    )


def bench_scan(entries: int = 10_000, incidents: int = 100) -> None:
    """`pullfix scan` over many sandbox log entries (the official logging client, paging)."""

    world = yaml.safe_load((SAMPLES / "world.yaml").read_text())
    rows = []
    for i in range(entries):
        image, detail = DETAILS[i % len(DETAILS)]
        entry = _entry(f"scan-{i % incidents}", image, detail, 200000 + i)
        rows.append(entry)
    world["log_entries"] = rows
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "world.yaml"
        path.write_text(yaml.safe_dump(world))
        with Sandbox(load_world(path)) as sandbox:
            env = {**os.environ, "PULLFIX_GCP_ENDPOINT": sandbox.endpoint}
            pullfix = str(Path(sys.executable).parent / "pullfix")
            start = time.perf_counter()
            done = subprocess.run(
                [pullfix, "scan", "--project", "shop-prod", "--freshness", "1h", "--exit-zero"],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            )
            wall = time.perf_counter() - start
            pages = sandbox.stats()["requests"].get("logging.entries.list", 0)
    summary = done.stdout.strip().splitlines()[-1]
    print(
        f"scan: {entries} sandbox entries of {incidents} incidents in {wall:.1f}s wall "
        f"({entries / wall:,.0f} entries/s, {pages} pages)"
    )
    print(f"  {summary}")


def bench_verification(incidents: int = 1000, projects: int = 4, clusters: int = 40) -> None:
    """One verification pass over `incidents` open incidents spread over `clusters` clusters
    in `projects` projects, against the sandbox: one Cloud Logging query per cluster project
    (split at the filter limit); a third of them resolved by a later successful pull."""
    from pullfix.core.config import Config
    from pullfix.engine.evidence import EvidenceCollector
    from pullfix.engine.ledger import MemoryLedger
    from pullfix.engine.verify import PassReport, logging_query, run_verification
    from pullfix.gcp.adapter import GoogleAdapter
    from pullfix.gcp.clients import GoogleClients
    from pullfix.gcp.endpoints import sandbox_endpoint

    start = datetime(2024, 3, 1, 10, tzinfo=UTC)
    image = "us-central1-docker.pkg.dev/shop-images/images/web:1.4"
    world = yaml.safe_load((SAMPLES / "world.yaml").read_text())
    where = []  # (project, cluster, node) of each cluster
    for c in range(clusters):
        project, cluster = f"verify-{c % projects}", f"v{c:02}"
        node = f"gke-{cluster}-default-pool-{c:08x}-x7k9"
        spec = world["projects"].setdefault(project, {"number": 400_000_000_000 + c % projects})
        spec.setdefault("clusters", {})[cluster] = {
            "location": "us-central1",
            "version": "1.29.4-gke.1043002",
            "node_pools": {"default-pool": {"nodes": [node]}},
        }
        where.append((project, cluster, node))
    ledger = MemoryLedger()
    entries = []
    for i in range(incidents):
        project, cluster, node = where[i % clusters]
        namespace = ("payments", "storefront", "search", "batch")[i % 4]
        failed = log_entry(
            project=project,
            location="us-central1",
            cluster=cluster,
            namespace=namespace,
            pod=f"v{i}-7d9f8c5b4-xk2p9",
            node=node,
            message=pull_message(image, "manifest unknown"),
            controller=("Deployment", f"v{i}"),
            timestamp=start.isoformat().replace("+00:00", "Z"),
            insert_id=f"vf{i}",
        )
        outcome = {
            "action": "ticket",
            "cause": "not_found",
            "fingerprint": f"ticket-{i:032x}",
            "escalation": False,
            "evidence": {"node_pool": "default-pool"},
            "event": {
                "cluster": f"projects/{project}/locations/us-central1/clusters/{cluster}",
                "namespace": namespace,
                "workload": f"Deployment/v{i}",
                "pod": f"v{i}-7d9f8c5b4-xk2p9",
                "node": node,
                "image": image,
                "timestamp": start.isoformat().replace("+00:00", "Z"),
            },
        }
        ledger.open_incident(
            outcome["fingerprint"],
            {"outcome": json.dumps(outcome)},
            start + timedelta(days=3),
        )
        entries.append(failed)
        if i % 3 == 0:
            pulled = dict(failed, insertId=f"vp{i}")
            pulled["timestamp"] = (start + timedelta(minutes=4)).isoformat().replace("+00:00", "Z")
            pulled["jsonPayload"] = {
                **failed["jsonPayload"],
                "reason": "Pulled",
                "type": "Normal",
                "message": pulled_message(image),
            }
            entries.append(pulled)
    world["log_entries"] = entries
    report = PassReport()
    with Sandbox(world_from_dict(world)) as sandbox:
        clients = GoogleClients(sandbox_endpoint(sandbox.endpoint))
        try:
            before = sandbox.stats()["requests"].get("logging.entries.list", 0)
            began = time.perf_counter()
            verdicts = run_verification(
                ledger,
                logging_query(clients),
                start + timedelta(hours=1),
                Config(),  # escalation_grace 10m, abandon_after 1d, verify_requests_per_run 30
                collector=EvidenceCollector(GoogleAdapter(clients)),
                limit=incidents,
                report=report,
            )
            wall = time.perf_counter() - began
            requests = sandbox.stats()["requests"].get("logging.entries.list", 0) - before
        finally:
            clients.close()
    resolved = sum(1 for v in verdicts if v.action == "resolved")
    print(
        f"verification: {incidents} open incidents on {clusters} clusters in {projects} projects "
        f"({len(entries)} log entries in the world), one pass"
    )
    print(
        f"  {report.queries} Cloud Logging queries, {requests} entries.list requests "
        f"({requests / incidents:.3f} per open incident; goal <= 0.05), "
        f"{len(report.checked)} incidents checked, {resolved} resolved, {wall:.1f}s wall "
        f"({wall / incidents * 1000:.1f} ms per incident)"
    )
