"""The fleet figure: a simulated fleet's pull failures through `remediate` (functions-framework,
over HTTP) with the Firestore ledger on Google's Firestore emulator and every other Google API
in the sandbox, then verification passes over the incidents it left open, and what a million
events would cost at Google's list prices.

Full size is 2,000 clusters, 10,000 incidents and 100,000 events (ten per incident: kubelet
writes four events per failed pull, and a pod retries two or three times before anyone looks).
The machine decides the size actually run: a small calibration fleet measures the time per
event, and the fleet is scaled down by a printed factor so that the run takes about three
minutes. Firestore reads and writes are counted on the wire, by a proxy between the function
and the emulator, as Firestore bills them; Google API requests are counted by the sandbox.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
import yaml

from pullfix.dev.events import eventarc_headers, log_entry, pull_message, pulled_message, push_body
from pullfix.dev.localrun import FunctionServer, post
from pullfix.dev.sandbox import Sandbox
from pullfix.dev.sandbox.world import world_from_dict

REPO = Path(__file__).resolve().parent.parent
# The run's target length on this machine; the fleet is scaled down to fit it.
TARGET_SECONDS = 180.0
SCALES = (1, 2, 5, 10, 20, 50, 100, 200)
CLUSTERS_PER_PROJECT = 20
NAMESPACES = ("payments", "storefront", "search", "ml", "batch", "platform", "web", "data")
IMAGES_PROJECT = "fleet-images"
OPS_PROJECT = "fleet-ops"
OUTCOMES_TOPIC = f"projects/{OPS_PROJECT}/topics/pull-outcomes"
REPOSITORIES = 20
# What the incidents are, in these shares: a reader grant fixes the first; the rest are tickets.
KINDS = (
    ("access", 0.40, "403 Forbidden"),
    ("not_found", 0.30, "manifest unknown"),
    ("network", 0.15, "dial tcp 10.20.0.4:443: i/o timeout"),
    ("rate_limit", 0.15, "toomanyrequests: You have reached your pull rate limit"),
)
# The share of incidents whose workload pulls again before verification (a human fixed it,
# or pullfix's grant did).
RESOLVED_SHARE = 1 / 3

# --- Google's list prices (USD), each from its pricing page ---------------------------------
# Cloud Run functions bill as Cloud Run services with request-based billing, Tier 1 regions:
# $0.40 per million requests, $0.00002400 per vCPU-second, $0.00000250 per GiB-second, each
# request's instance time rounded up to 100 ms (https://cloud.google.com/run/pricing).
PRICE_PER_REQUEST = 0.40 / 1e6
PRICE_VCPU_SECOND = 0.000024
PRICE_GIB_SECOND = 0.0000025
BILLING_GRANULE = 0.1
# The CPU Cloud Run functions give a function by its memory: 512 MiB (remediate, as
# terraform/functions.tf deploys it) has 0.333 vCPU, 256 MiB (notify) 0.167
# (https://cloud.google.com/functions/docs/configuring/memory).
REMEDIATE_VCPU, REMEDIATE_GIB = 0.333, 0.5
NOTIFY_VCPU, NOTIFY_GIB = 0.167, 0.25
NOTIFY_SECONDS = 0.1  # notify's time per outcome is not measured here: one billing granule
# Firestore Standard edition, us-central1: $0.03 per 100,000 document reads, $0.09 per
# 100,000 writes, $0.01 per 100,000 deletes
# (https://firebase.google.com/docs/firestore/standard-edition, "Billing and limits").
PRICE_READ = 0.03 / 1e5
PRICE_WRITE = 0.09 / 1e5
PRICE_DELETE = 0.01 / 1e5
# Cloud Logging: "No additional charges for querying and analyzing log data"; storage of the
# functions' own log lines is $0.50/GiB past 50 GiB a project a month
# (https://cloud.google.com/stackdriver/pricing). Verification's reads cost quota, not money.
PRICE_LOG_GIB = 0.50
# Pub/Sub throughput: $40 per TiB, publish and delivery each count, at least 1000 bytes per
# publish or push request (https://cloud.google.com/pubsub/pricing).
PRICE_PUBSUB_BYTE = 40 / 2**40
PUBSUB_MIN_BYTES = 1000


@dataclass(frozen=True)
class Fleet:
    """How big a simulated fleet is."""

    clusters: int
    incidents: int

    def scaled(self, factor: int) -> Fleet:
        return Fleet(max(1, self.clusters // factor), max(1, self.incidents // factor))


FULL = Fleet(clusters=2000, incidents=10_000)


@dataclass(frozen=True)
class Incident:
    project: str
    cluster: str
    nodes: tuple[str, ...]
    namespace: str
    workload: str
    image: str
    detail: str
    start: datetime
    retries: int


def _projects(fleet: Fleet) -> list[str]:
    return [f"fleet-{n:03}" for n in range(math.ceil(fleet.clusters / CLUSTERS_PER_PROJECT))]


def _cluster_nodes(number: int) -> tuple[str, str, tuple[str, ...]]:
    """A cluster's project, name and node names (GKE's `gke-CLUSTER-POOL-HASH-XXXX`)."""
    project = f"fleet-{number // CLUSTERS_PER_PROJECT:03}"
    name = f"c{number:04}"
    group = f"gke-{name}-default-pool-{number:08x}"
    return project, name, tuple(f"{group}-{suffix}" for suffix in ("b2c4", "d6f8", "h9k2"))


def build_world(fleet: Fleet) -> dict[str, Any]:
    """The sandbox's world for the fleet: its projects and clusters, the image repositories
    (no node account can read them yet) and the outcomes topic."""
    projects: dict[str, Any] = {}
    for index, project in enumerate(_projects(fleet)):
        projects[project] = {"number": 300_000_000_000 + index, "clusters": {}}
    for number in range(fleet.clusters):
        project, name, nodes = _cluster_nodes(number)
        projects[project]["clusters"][name] = {
            "location": "us-central1",
            "version": "1.29.4-gke.1043002",
            "node_pools": {"default-pool": {"nodes": list(nodes)}},
        }
    projects[IMAGES_PROJECT] = {
        "number": 299_999_999_998,
        "repositories": {
            f"r{k:02}": {
                "location": "us-central1",
                "tags": [f"app{n}:1.0" for n in range(50)],
                "iam": [],
            }
            for k in range(REPOSITORIES)
        },
    }
    projects[OPS_PROJECT] = {"number": 299_999_999_999, "topics": {"pull-outcomes": {}}}
    return {"projects": projects}


def build_incidents(fleet: Fleet, now: datetime, seed: int = 26) -> list[Incident]:
    rng = random.Random(seed)
    weights = [share for _, share, _ in KINDS]
    incidents = []
    for number in range(fleet.incidents):
        project, cluster, nodes = _cluster_nodes(rng.randrange(fleet.clusters))
        kind, _, detail = rng.choices(KINDS, weights)[0]
        repository = f"r{rng.randrange(REPOSITORIES):02}"
        app = rng.randrange(50)
        image = {
            "access": f"us-central1-docker.pkg.dev/{IMAGES_PROJECT}/{repository}/app{app}:1.0",
            "not_found": f"us-central1-docker.pkg.dev/{IMAGES_PROJECT}/{repository}/app{app}:9.9",
            "network": f"registry.example.com/team/app{app}:2.{number % 7}",
            "rate_limit": f"docker.io/library/app{app}:{number % 5}",
        }[kind]
        incidents.append(
            Incident(
                project=project,
                cluster=cluster,
                nodes=nodes,
                namespace=rng.choice(NAMESPACES),
                workload=f"w{number:05}",
                image=image,
                detail=detail,
                start=now - timedelta(minutes=rng.uniform(25, 55)),
                retries=rng.choice((2, 3)),
            )
        )
    return incidents


def _event(incident: Incident, when: datetime, reason: str, message: str, n: int) -> Any:
    node = incident.nodes[n % len(incident.nodes)]
    return log_entry(
        project=incident.project,
        location="us-central1",
        cluster=incident.cluster,
        namespace=incident.namespace,
        pod=f"{incident.workload}-7d9f8c5b4-{'xk2p9' if n < 4 else 'zq7w8'}",
        node=node,
        message=message,
        reason=reason,
        controller=("Deployment", incident.workload),
        timestamp=when.isoformat().replace("+00:00", "Z"),
        insert_id=f"{incident.workload}-{n}",
        container="app",
    )


def build_events(incidents: list[Incident]) -> list[dict[str, Any]]:
    """Every incident's events, in time order: each failed pull is kubelet's four events
    (the error, ErrImagePull, the back-off, ImagePullBackOff), repeated at kubelet's growing
    back-off, the later tries on another node."""
    timed: list[tuple[datetime, dict[str, Any]]] = []
    for incident in incidents:
        for attempt in range(incident.retries):
            when = incident.start + timedelta(minutes=(0, 1.5, 5.5)[attempt])
            quartet = (
                ("Failed", pull_message(incident.image, incident.detail)),
                ("Failed", "Error: ErrImagePull"),
                ("BackOff", f'Back-off pulling image "{incident.image}"'),
                ("Failed", "Error: ImagePullBackOff"),
            )
            for step, (reason, message) in enumerate(quartet):
                n = attempt * 4 + step
                at = when + timedelta(seconds=step)
                timed.append((at, _event(incident, at, reason, message, n)))
    timed.sort(key=lambda item: item[0])
    return [entry for _, entry in timed]


def pulled_events(incidents: list[Incident], now: datetime) -> list[dict[str, Any]]:
    """The `Pulled` events of the incidents fixed before verification (a share of them),
    on the node whose failure opened each."""
    out = []
    for index, incident in enumerate(incidents):
        if index % round(1 / RESOLVED_SHARE):
            continue
        when = min(now - timedelta(minutes=1), incident.start + timedelta(minutes=12))
        entry = _event(incident, when, "Pulled", pulled_message(incident.image), 0)
        entry["insertId"] = f"{incident.workload}-pulled"
        out.append(entry)
    return out


# --- Firestore operations, counted on the wire ------------------------------------------------


class FirestoreMeter:
    """A proxy in front of the Firestore emulator that counts what Firestore bills: a document
    read per `get` (found or not), per document a `batchGet` asks for, per document a query
    returns (at least one per query); a write per written document, a delete per deleted one
    (https://cloud.google.com/firestore/pricing)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FirestoreMeter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()

    def _count(self, method: str, path: str, body: bytes, answer: bytes) -> None:
        counted: Counter[str] = Counter()
        if method == "GET":
            if "/documents/" in path:
                counted["reads"] += 1
        elif path.endswith(":commit"):
            for write in json.loads(body or b"{}").get("writes", []):
                counted["deletes" if "delete" in write else "writes"] += 1
        elif path.endswith(":batchGet"):
            counted["reads"] += len(json.loads(body or b"{}").get("documents", []))
        elif path.endswith(":runQuery"):
            found = sum(1 for item in json.loads(answer or b"[]") if item.get("document"))
            counted["reads"] += max(1, found)
        counted["requests"] += 1
        with self._lock:
            self.counts.update(counted)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        meter = self
        session = requests.Session()

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")
                }
                answer = session.request(
                    self.command,
                    meter.upstream + self.path,
                    data=body,
                    headers=headers,
                    timeout=60,
                )
                # A lookup of a document that does not exist is billed as a read too.
                found = answer.status_code < 400
                if found or (self.command == "GET" and answer.status_code == 404):
                    meter._count(self.command, self.path.split("?")[0], body, answer.content)
                self.send_response(answer.status_code)
                for key in ("Content-Type",):
                    if key in answer.headers:
                        self.send_header(key, answer.headers[key])
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PATCH = do_DELETE = _forward

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Run:
    """What one fleet's run measured."""

    fleet: Fleet
    events: int
    seconds: float
    latencies: list[float]
    statuses: Counter[int]
    firestore: Counter[str]
    google_requests: int
    publishes: int
    push_bytes: int
    log_bytes: int
    passes: list[Any]
    open_incidents: int
    verdicts: Counter[str]


def _config(folder: Path) -> Path:
    path = folder / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "auto_grant": {
                    "repositories": [f"projects/{IMAGES_PROJECT}/locations/*/repositories/*"],
                    "max_per_hour": 10_000,
                },
                "ledger": {"firestore": {"project": OPS_PROJECT}},
            }
        )
    )
    return path


class EmulatorUnavailable(Exception):
    """Google's Firestore emulator is not installed here, or did not start."""


@contextlib.contextmanager
def _emulator() -> Iterator[Any]:
    """Google's Firestore emulator, started as the tests start it (tests/emulators.py)."""
    import pytest

    sys.path.insert(0, str(REPO))
    from tests import emulators

    reason = emulators.missing(emulators.FIRESTORE)
    if reason is not None:
        raise EmulatorUnavailable(reason)
    try:
        with emulators.start(emulators.FIRESTORE) as running:
            yield running
    except pytest.skip.Exception as exc:  # how the tests' helper says it did not start
        raise EmulatorUnavailable(str(exc)) from None


def _deliver(url: str, events: list[dict[str, Any]]) -> tuple[list[float], Counter[int], int]:
    """Push every event to remediate as Pub/Sub pushes it, one at a time: the latency of
    each, the answers, and the billable bytes of the pushes."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    push_bytes = 0
    topic = f"projects/{OPS_PROJECT}/topics/pull-failures"
    for number, entry in enumerate(events):
        message_id = f"fleet-{number}"
        project = entry["resource"]["labels"]["project_id"]
        body = json.dumps(push_body(entry, message_id=message_id, project=project)).encode()
        push_bytes += max(PUBSUB_MIN_BYTES, len(body))
        start = time.perf_counter()
        statuses[post(url, body, eventarc_headers(message_id, topic))] += 1
        latencies.append(time.perf_counter() - start)
    return latencies, statuses, push_bytes


def _verify(
    sandbox: Sandbox, firestore_host: str, config_path: Path
) -> tuple[list[Any], int, Counter[str]]:
    """Verification passes as the scheduled function runs them, until every open incident
    was checked once: (each pass's report, the open incidents, the verdicts)."""
    from pullfix.engine.runtime import build_remediator
    from pullfix.engine.verify import PassReport, logging_query, run_verification
    from pullfix.gcp.clients import GoogleClients
    from pullfix.gcp.endpoints import sandbox_endpoint
    from pullfix.settings import load_config

    config = load_config(config_path)
    clients = GoogleClients(
        sandbox_endpoint(sandbox.endpoint), {"firestore": f"http://{firestore_host}"}
    )
    passes: list[Any] = []
    verdicts: Counter[str] = Counter()
    try:
        engine = build_remediator(config, clients, None)
        opened = len(engine.ledger.open_incidents(datetime.now(UTC), 10_000))
        checked: set[str] = set()
        # ceil(open / verify_per_run) passes, more when a pass stops at its request budget.
        most = 10 * (math.ceil(opened / config.verify_per_run) + 1)
        while len(checked) < opened and len(passes) < most:
            report = PassReport()
            for verdict in run_verification(
                engine.ledger,
                logging_query(clients),
                datetime.now(UTC),
                config,
                collector=engine.collector,
                report=report,
            ):
                verdicts[verdict.action.value] += 1
            checked.update(report.checked)
            passes.append(report)
            if not report.checked:
                break
    finally:
        clients.close()
    return passes, opened, verdicts


def run_fleet(fleet: Fleet, running: Any) -> Run:
    """The fleet's events through remediate, then verification over what stays open."""
    with contextlib.suppress(requests.RequestException):
        url = f"{running.base}/emulator/v1/projects/{OPS_PROJECT}/databases/(default)/documents"
        requests.delete(url, timeout=30)
    now = datetime.now(UTC)
    incidents = build_incidents(fleet, now)
    events = build_events(incidents)
    with (
        tempfile.TemporaryDirectory() as folder,
        Sandbox(world_from_dict(build_world(fleet))) as sandbox,
        FirestoreMeter(running.base) as meter,
    ):
        config_path = _config(Path(folder))
        log_path = Path(folder) / "remediate.log"
        env = {
            "PULLFIX_GCP_ENDPOINT": sandbox.endpoint,
            "PULLFIX_CONFIG": str(config_path),
            "PULLFIX_OUTCOMES_TOPIC": OUTCOMES_TOPIC,
            "FIRESTORE_EMULATOR_HOST": meter.host,
        }
        with FunctionServer("remediate", env=env, log_path=log_path) as server:
            before = sandbox.stats()["total"]
            began = time.perf_counter()
            latencies, statuses, push_bytes = _deliver(server.url, events)
            seconds = time.perf_counter() - began
            stats = sandbox.stats()
        firestore = Counter(meter.counts)
        # The kubelet's events are in the cluster projects' logs; a share of the workloads
        # pulled again since.
        sandbox.world.log_entries = [*events, *pulled_events(incidents, now)]
        passes, opened, verdicts = _verify(sandbox, meter.host, config_path)
        return Run(
            fleet=fleet,
            events=len(events),
            seconds=seconds,
            latencies=latencies,
            statuses=statuses,
            firestore=firestore,
            google_requests=stats["total"] - before,
            publishes=stats["requests"].get("pubsub.projects.topics.publish", 0),
            push_bytes=push_bytes,
            log_bytes=log_path.stat().st_size if log_path.exists() else 0,
            passes=passes,
            open_incidents=opened,
            verdicts=verdicts,
        )


def monthly_cost_per_million(run: Run) -> dict[str, float]:
    """Dollars per million events, by service, from what the run measured per event."""
    per_event = 1e6 / run.events
    remediate_seconds = sum(math.ceil(t / BILLING_GRANULE) * BILLING_GRANULE for t in run.latencies)
    outcomes = run.publishes
    compute = remediate_seconds * (
        REMEDIATE_VCPU * PRICE_VCPU_SECOND + REMEDIATE_GIB * PRICE_GIB_SECOND
    ) + outcomes * NOTIFY_SECONDS * (
        NOTIFY_VCPU * PRICE_VCPU_SECOND + NOTIFY_GIB * PRICE_GIB_SECOND
    )
    # Pub/Sub: each event is published by the log sink and pushed to remediate; each outcome
    # is published and pushed to notify (counted at the 1000-byte minimum each way).
    pubsub_bytes = 2 * run.push_bytes + 2 * outcomes * PUBSUB_MIN_BYTES
    return {
        "Cloud Run functions invocations": (run.events + outcomes) * PRICE_PER_REQUEST * per_event,
        "Cloud Run functions compute": compute * per_event,
        "Firestore operations": (
            run.firestore["reads"] * PRICE_READ
            + run.firestore["writes"] * PRICE_WRITE
            + run.firestore["deletes"] * PRICE_DELETE
        )
        * per_event,
        "Cloud Logging reads (verification)": 0.0,
        "Cloud Logging storage (functions' log lines)": run.log_bytes
        / 2**30
        * PRICE_LOG_GIB
        * per_event,
        "Pub/Sub": pubsub_bytes * PRICE_PUBSUB_BYTE * per_event,
    }


def _report(run: Run, scale: int, started_in: float, estimate: float) -> None:
    fleet = run.fleet
    ms = sorted(t * 1000 for t in run.latencies)
    print(
        f"fleet: {fleet.clusters} clusters in {len(_projects(fleet))} projects, {fleet.incidents} "
        f"incidents, {run.events} events ({1 - fleet.incidents / run.events:.0%} repeats of a "
        "known incident), through remediate with the Firestore ledger on Google's emulator"
    )
    if scale > 1:
        print(
            f"  scaled down {scale}x from 2,000 clusters / 10,000 incidents / 100,000 events: "
            f"the full size would take about {estimate / 60:.0f} min on this machine"
        )
    print(f"  Firestore emulator started in {started_in:.1f}s")
    print(
        f"  throughput             {run.events / run.seconds:8.1f} events/s (one instance, one "
        "request at a time)"
    )
    print(
        f"  per event              p50 {statistics.median(ms):6.1f} ms   "
        f"p99 {statistics.quantiles(ms, n=100)[98]:6.1f} ms"
    )
    not_ok = sum(n for status, n in run.statuses.items() if status // 100 != 2)
    if not_ok:
        print(
            f"  answers                {dict(sorted(run.statuses.items()))} (non-2xx: redelivered)"
        )
    print(
        f"  Firestore per event    {run.firestore['reads'] / run.events:.2f} reads, "
        f"{run.firestore['writes'] / run.events:.2f} writes, "
        f"{run.firestore['deletes'] / run.events:.3f} deletes "
        f"({run.firestore['requests'] / run.events:.2f} requests)"
    )
    print(
        f"  Google API requests    {run.google_requests / run.events:.3f} per event at the "
        f"sandbox (outcomes published: {run.publishes})"
    )
    requests_made = [p.requests for p in run.passes]
    queries = [p.queries for p in run.passes]
    checked = sum(len(p.checked) for p in run.passes)
    if run.passes:
        print(
            f"  verification           {run.open_incidents} open incidents, "
            f"{len(run.passes)} passes of up to {run.passes[0].incidents or 0} incidents: "
            f"verdicts {dict(run.verdicts)}"
        )
        print(
            f"    Logging queries      {statistics.mean(queries):.1f} per pass, "
            f"{statistics.mean(requests_made):.1f} entries.list requests per pass "
            f"(max {max(requests_made)}), {sum(requests_made) / max(1, checked):.3f} per open "
            "incident checked"
        )
    costs = monthly_cost_per_million(run)
    print("  estimated cost per million events (list prices; free tiers not deducted)")
    for label, dollars in costs.items():
        print(f"    {label:<44} ${dollars:8.2f}")
    print(f"    {'total':<44} ${sum(costs.values()):8.2f}")


def bench_fleet() -> None:
    try:
        with _emulator() as running:
            calibration = run_fleet(FULL.scaled(200), running)
            per_event = calibration.seconds / calibration.events
            estimate = per_event * FULL.incidents * 10
            scale = next((s for s in SCALES if estimate / s <= TARGET_SECONDS), SCALES[-1])
            run = run_fleet(FULL.scaled(scale), running)
            # The full size's time at the speed the scaled run measured (the calibration's
            # small fleet is mostly first events, which cost more than repeats).
            full = run.seconds / run.events * FULL.incidents * 10
            _report(run, scale, running.started_in, full)
    except EmulatorUnavailable as exc:
        print(f"fleet: skipped, Google's Firestore emulator is not available: {exc}")
