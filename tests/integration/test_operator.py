"""`pullfix diagnose` and `pullfix scan` as an operator runs them, against the sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from pullfix.dev.sandbox import Sandbox
from pullfix.dev.sandbox.world import world_from_dict
from pullfix.engine.ledger import FirestoreLedger
from pullfix.gcp.clients import GoogleClients
from pullfix.gcp.endpoints import sandbox_endpoint
from tests.commands import pullfix
from tests.integration.pipeline import (
    CLUSTER,
    DEFAULT_SA,
    IMAGES,
    LOCATION,
    PROD,
    event,
    sa,
    world_dict,
)
from tests.keys import service_account_file

pytestmark = pytest.mark.integration
PULLFIX = str(Path(sys.executable).parent / "pullfix")
CLUSTER_NAME = f"projects/{PROD}/locations/{LOCATION}/clusters/{CLUSTER}"
APPS = f"{LOCATION}-docker.pkg.dev/{PROD}/apps"
SHARED = f"us-docker.pkg.dev/{IMAGES}/shared"
SHARED_REPO = f"projects/{IMAGES}/locations/us/repositories/shared"


def run(sandbox: Sandbox, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`pullfix ARGS` against the sandbox, in this process (`_diagnose_as_a_user` runs it as
    a process of its own)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PULLFIX_GCP_ENDPOINT", sandbox.endpoint)
        patch.delenv("PULLFIX_CONFIG", raising=False)
        return pullfix(*args, stdin=stdin)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(world_from_dict(world_dict(None)), strict=True) as running:
        yield running


def diagnose(sandbox: Sandbox, *args: str) -> tuple[int, dict[str, Any]]:
    done = run(sandbox, "diagnose", "--cluster", CLUSTER_NAME, "--json", *args)
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


PREFLIGHT = [
    # node pool, image, status, cause
    ("custom-pool", f"{APPS}/api:2.0", "fail", "role"),
    ("default-pool", f"{SHARED}/web:1.4", "fail", "cross_project"),
    ("noscope-pool", f"{APPS}/api:2.0", "fail", "scope"),
    ("old-pool", f"{APPS}/api:2.0", "fail", "version"),
    ("disabled-pool", f"{APPS}/api:2.0", "fail", "service_account"),
    ("deleted-pool", f"{APPS}/api:2.0", "fail", "service_account"),
    ("custom-pool", f"{APPS}/api:9.9", "fail", "not_found"),
    ("custom-pool", f"{LOCATION}-docker.pkg.dev/{PROD}/nope/api:1", "fail", "not_found"),
    ("editor-pool", f"{APPS}/api:2.0", "ok", None),  # roles/editor on the project reads it
    ("custom-pool", "quay.io/team/app:1", "skipped", None),
]


@pytest.mark.parametrize(
    ("pool", "image", "status", "cause"),
    PREFLIGHT,
    ids=[f"{p[0]}-{p[3] or p[2]}" for p in PREFLIGHT],
)
def test_preflight_per_pool_and_image(
    sandbox: Sandbox, pool: str, image: str, status: str, cause: str | None
) -> None:
    code, result = diagnose(sandbox, "--node-pool", pool, image)
    (check,) = result["checks"]
    assert (check["status"], check["cause"]) == (status, cause), check["reasons"]
    assert code == (1 if status == "fail" else 0)
    if status == "fail":
        assert check["fix"]


def test_a_grant_makes_the_preflight_pass(sandbox: Sandbox) -> None:
    repo = sandbox.world.projects[IMAGES].repositories["shared"].policy
    from pullfix.dev.sandbox.world import Binding

    repo.bindings.append(Binding("roles/artifactregistry.reader", [f"serviceAccount:{DEFAULT_SA}"]))
    code, result = diagnose(sandbox, "--node-pool", "default-pool", f"{SHARED}/web:1.4")
    assert (code, result["can_pull"]) == (0, True)
    public = sandbox.world.projects[PROD].repositories["apps"].policy
    public.bindings.append(Binding("roles/artifactregistry.reader", ["allUsers"]))
    code, result = diagnose(sandbox, "--node-pool", "custom-pool", f"{APPS}/api:2.0")
    assert code == 0, result  # a public repository


def test_every_pool_and_every_manifest_image(sandbox: Sandbox, tmp_path: Path) -> None:
    manifest = tmp_path / "app.yaml"
    manifest.write_text(
        yaml.safe_dump_all(
            [
                {
                    "kind": "Deployment",
                    "metadata": {"name": "web"},
                    "spec": {
                        "template": {
                            "spec": {
                                "initContainers": [{"name": "init", "image": f"{APPS}/web:1.0"}],
                                "containers": [{"name": "web", "image": f"{APPS}/api:2.0"}],
                            }
                        }
                    },
                },
                {
                    "kind": "CronJob",
                    "metadata": {"name": "job"},
                    "spec": {
                        "jobTemplate": {
                            "spec": {
                                "template": {
                                    "spec": {
                                        "containers": [{"name": "j", "image": f"{SHARED}/base:2"}]
                                    }
                                }
                            }
                        }
                    },
                },
            ]
        )
    )
    code, result = diagnose(sandbox, "-f", str(manifest))
    assert code == 1
    images = {c["image"] for c in result["checks"]}
    assert images == {f"{APPS}/web:1.0", f"{APPS}/api:2.0", f"{SHARED}/base:2"}
    pools = {c["node_pool"] for c in result["checks"]}
    assert len(pools) == len(sandbox.world.projects[PROD].clusters[CLUSTER].node_pools)
    used = {c["image"]: c["used_by"] for c in result["checks"]}
    assert used[f"{APPS}/web:1.0"] == ["Deployment/web init"]
    # A manifest from stdin, as in `kubectl kustomize | pullfix diagnose -f -`; the editor
    # pool's account holds roles/editor on the cluster's project, which holds apps.
    deployment = manifest.read_text().split("---")[0]
    piped = run(
        sandbox,
        "diagnose",
        "--cluster",
        CLUSTER_NAME,
        "--node-pool",
        "editor-pool",
        "-f",
        "-",
        stdin=deployment,
    )
    assert piped.returncode == 0, piped.stdout + piped.stderr
    assert "all 2 checks pass" in piped.stdout


def test_an_image_only_skipped_is_never_called_pullable(sandbox: Sandbox) -> None:
    # Docker Hub is not checked: the summary says nothing was, not that the nodes can pull it.
    done = run(
        sandbox,
        "diagnose",
        "--cluster",
        CLUSTER_NAME,
        "--node-pool",
        "editor-pool",
        "docker.io/library/busybox:1.36",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no image was checked (1 skipped" in done.stdout
    assert "can pull" not in done.stdout


def test_human_output_names_cause_and_fix(sandbox: Sandbox) -> None:
    done = run(
        sandbox,
        "diagnose",
        "--cluster",
        CLUSTER_NAME,
        "--node-pool",
        "noscope-pool",
        f"{APPS}/api:2.0",
    )
    assert done.returncode == 1
    assert "FAIL" in done.stdout and "scope" in done.stdout
    assert "--scopes=gke-default" in done.stdout
    assert "\033[" not in done.stdout  # no colour when not on a terminal


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--cluster", "checkout", "busybox"],
            "--cluster must be projects/P/locations/L/clusters/C",
        ),
        (["--cluster", CLUSTER_NAME.replace("c1", "c9"), f"{APPS}/api:2.0"], "does not exist"),
        (
            ["--cluster", CLUSTER_NAME, "--node-pool", "ghost", f"{APPS}/api:2.0"],
            "has no node pool ghost",
        ),
        (["--cluster", CLUSTER_NAME], "name at least one IMAGE"),
        (["--cluster", CLUSTER_NAME, "-f", "/nonexistent.yaml"], "cannot read /nonexistent.yaml"),
    ],
)
def test_bad_input_exits_3(sandbox: Sandbox, args: list[str], message: str) -> None:
    done = run(sandbox, "diagnose", *args)
    assert done.returncode == 3, done.stderr
    assert message in done.stderr


def test_a_missing_permission_is_named(sandbox: Sandbox) -> None:
    sandbox.add_fault(method="container.projects.locations.clusters.get", status=403, count=None)
    done = run(sandbox, "diagnose", "--cluster", CLUSTER_NAME, f"{APPS}/api:2.0")
    assert done.returncode == 4
    assert "container.clusters.get" in done.stderr
    sandbox.state.clear_faults()
    sandbox.add_fault(method="logging.entries.list", status=403, count=None)
    done = run(sandbox, "scan", "--project", PROD)
    assert done.returncode == 4
    assert "logging.logEntries.list" in done.stderr


def _diagnose_as_a_user(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`pullfix diagnose` with no sandbox and no Google credentials but those in `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "PULLFIX_"))}
    clean |= {
        "HOME": str(tmp_path),
        "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
        "GCE_METADATA_HOST": "127.0.0.1:9",
        "GCE_METADATA_IP": "127.0.0.1:9",
        "NO_GCE_CHECK": "True",
        **env,
    }
    return subprocess.run(
        [PULLFIX, "diagnose", "--cluster", CLUSTER_NAME, "busybox"],
        capture_output=True,
        text=True,
        env=clean,
        timeout=120,
        check=False,
    )


def test_missing_credentials_are_explained(tmp_path: Path) -> None:
    done = _diagnose_as_a_user(tmp_path)
    assert done.returncode == 4, done.stderr
    assert "gcloud auth application-default login" in done.stderr


# -- scan -----------------------------------------------------------------------------------


SCAN_INCIDENTS = [
    ("custom-pool", f"{APPS}/api:2.0", "403 Forbidden", "role"),
    ("default-pool", f"{SHARED}/web:1.4", "403 Forbidden", "cross_project"),
    ("noscope-pool", f"{APPS}/web:1.0", "403 Forbidden", "scope"),
    ("old-pool", f"{APPS}/api:2.0", "403 Forbidden", "version"),
    ("custom-pool", f"{APPS}/api:9.9", "manifest unknown", "not_found"),
    ("default-pool", "quay.io/a/b:1", "dial tcp 1.2.3.4:443: i/o timeout", "network"),
    ("default-pool", "busybox", "429 Too Many Requests", "rate_limit"),
]


@pytest.fixture
def scan_world() -> Iterator[Sandbox]:
    world = world_dict(None)
    entries = []
    for round_ in range(300):  # 2,100 pull failures of 7 incidents, plus noise
        for index, (pool, image, detail, _) in enumerate(SCAN_INCIDENTS):
            entry = event(
                pool, image, detail, workload=f"scan-{index}", minutes_ago=30 - round_ / 20
            )
            entry["insertId"] = f"scan-{round_}-{index}"
            entries.append(entry)
    crash = event(
        "default-pool", "busybox", reason="BackOff", message="Back-off restarting failed container"
    )
    # An incident seen only through kubelet's follow-up, ten minutes ago: scan reads it long
    # after its followup_grace ended, so it is ticketed (not held for an event to come).
    followup = event(
        "custom-pool",
        f"{APPS}/api:2.0",
        workload="followup",
        reason="BackOff",
        message=f'Back-off pulling image "{APPS}/api:2.0"',
        minutes_ago=10,
    )
    old = event("custom-pool", f"{APPS}/api:2.0", workload="ancient", minutes_ago=3 * 24 * 60)
    elsewhere = event("custom-pool", f"{APPS}/api:2.0", workload="other", project="other-prj")
    world["log_entries"] = [*entries, crash, old, elsewhere, followup]
    with Sandbox(world_from_dict(world), strict=True) as running:
        yield running


def test_scan_diagnoses_each_incident_once_through_every_page(scan_world: Sandbox) -> None:
    done = run(scan_world, "scan", "--project", PROD, "--freshness", "1h", "--json")
    assert done.returncode == 1, done.stderr  # unfixed incidents
    incidents = [json.loads(line) for line in done.stdout.splitlines()]
    followups = [i for i in incidents if i["event"]["workload"] == "Deployment/followup"]
    assert [(i["cause"], i["action"]) for i in followups] == [("role", "ticket")]
    incidents = [i for i in incidents if i not in followups]
    assert sorted(i["cause"] for i in incidents) == sorted(c[3] for c in SCAN_INCIDENTS)
    assert {i["action"] for i in incidents} <= {"ticket", "would_grant"}
    requests = scan_world.stats()["requests"]
    # The scan's own reads (the diagnosis's policy audit log lookups counted apart):
    pages = requests["logging.entries.list"] - requests.get("logging.entries.list:policy", 0)
    assert pages == 3  # 2,100 entries in pages of 1,000
    assert "scanned 2101 entries" in done.stderr
    # Dry run: nothing changed.
    assert (
        scan_world.world.projects[IMAGES]
        .repositories["shared"]
        .policy.members_of("roles/artifactregistry.reader")
        == set()
    )


def _allow_shared(tmp_path: Path) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {"auto_grant": {"repositories": [f"projects/{IMAGES}/locations/*/repositories/*"]}}
        )
    )
    return config


def _shared_readers(scan_world: Sandbox) -> set[str]:
    return (
        scan_world.world.projects[IMAGES]
        .repositories["shared"]
        .policy.members_of("roles/artifactregistry.reader")
    )


def test_scan_apply_shows_the_plan_and_grants_with_yes(scan_world: Sandbox, tmp_path: Path) -> None:
    config = _allow_shared(tmp_path)
    args = ["scan", "--project", PROD, "--freshness", "1h", "--config", str(config), "--apply"]
    done = run(scan_world, *args, "--yes")
    assert done.returncode == 1, done.stderr  # scope, version, ... remain as tickets
    plan = f"roles/artifactregistry.reader on projects/{IMAGES}/locations/us/repositories/shared"
    assert f"{plan} to serviceAccount:{DEFAULT_SA}" in done.stderr
    assert "cross_project" in done.stdout and "grant" in done.stdout
    assert "(applied 1 grants)" in done.stdout
    assert _shared_readers(scan_world) == {f"serviceAccount:{DEFAULT_SA}"}
    assert f"serviceAccount:{sa('nodes')}" not in _shared_readers(scan_world)  # not allowed
    # Scanned again, the account reads the repository: nothing is left to grant.
    again = run(scan_world, *args, "--yes", "--exit-zero", "--format", "json")
    assert again.returncode == 0, again.stderr
    assert "nothing to apply" in again.stderr
    incidents = [json.loads(line) for line in again.stdout.splitlines()]
    assert not [i for i in incidents if i["action"] in ("grant", "would_grant")]
    assert _shared_readers(scan_world) == {f"serviceAccount:{DEFAULT_SA}"}


def test_scan_apply_goes_through_the_configured_ledger_cap_and_outcomes(
    scan_world: Sandbox, tmp_path: Path
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "auto_grant": {"repositories": [f"projects/{IMAGES}/locations/*/repositories/*"]},
                "ledger": {"firestore": {"project": PROD}},
            }
        )
    )
    topic = f"projects/{PROD}/topics/pull-outcomes"
    args = ["scan", "--project", PROD, "--freshness", "1h", "--config", str(config), "--apply"]
    done = run(scan_world, *args, "--yes", "--outcomes-topic", topic, "--format", "json")
    assert done.returncode == 1, done.stderr
    assert _shared_readers(scan_world) == {f"serviceAccount:{DEFAULT_SA}"}
    # The grant is remediate's: its record in the function's ledger, open for verification,
    # counted by the cap, and its outcome on the outcomes topic for notify.
    documents = {
        name.split("/documents/", 1)[-1]: {k: v.string_value for k, v in doc.fields.items()}
        for name, doc in scan_world.store.documents.items()
    }
    grants = {k: v for k, v in documents.items() if k.startswith("pullfix-incidents/grant-")}
    assert [v.get("state") for v in grants.values()] == ["granted"], documents
    assert "pullfix-incidents/cap-grant-times" in documents
    opened = [n for n in scan_world.store.documents if "-open/" in n]
    assert len(opened) == 1
    assert scan_world.stats()["requests"]["pubsub.projects.topics.publish"] == 1
    incidents = [json.loads(line) for line in done.stdout.splitlines()]
    assert [i["action"] for i in incidents if i.get("grant")] == ["grant"]
    # ... and kept in the incident's history (`pullfix incidents`, `pullfix grants`).
    listed = run(scan_world, "grants", "list", "--config", str(config), "--json")
    assert listed.returncode == 0, listed.stderr
    (granted,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert granted["member"] == f"serviceAccount:{DEFAULT_SA}"
    assert granted["incident"] in {k.split("/")[1] for k in grants}
    # Applied again: the ledger knows the grant, and nothing is published twice.
    again = run(scan_world, *args, "--yes", "--outcomes-topic", topic, "--exit-zero")
    assert again.returncode == 0, again.stderr
    assert scan_world.stats()["requests"]["pubsub.projects.topics.publish"] == 1


def test_scan_apply_follows_the_cap_in_the_ledger(scan_world: Sandbox, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "auto_grant": {
                    "repositories": [f"projects/{IMAGES}/locations/*/repositories/*"],
                    "max_per_hour": 1,
                },
                "ledger": {"firestore": {"project": PROD}},
            }
        )
    )
    # The function granted once this hour already: the cap is counted in the shared ledger.
    clients = GoogleClients(sandbox_endpoint(scan_world.endpoint))
    try:
        ledger = FirestoreLedger(clients.rest, PROD, "(default)", "pullfix-incidents")
        assert ledger.take_grant_slot(datetime.now(UTC), 1)
    finally:
        clients.close()
    args = ["scan", "--project", PROD, "--freshness", "1h", "--config", str(config)]
    done = run(scan_world, *args, "--apply", "--yes")
    assert done.returncode == 1, done.stderr
    assert "cap of 1 grants per hour" in done.stderr
    assert _shared_readers(scan_world) == set()


def test_scan_apply_asks_and_changes_nothing_unattended(
    scan_world: Sandbox, tmp_path: Path
) -> None:
    config = _allow_shared(tmp_path)
    args = ["scan", "--project", f"projects/{PROD}", "--freshness", "1h", "--config", str(config)]
    done = run(scan_world, *args, "--apply")  # stdin is no terminal, and no --yes
    assert done.returncode == 3
    assert "--yes" in done.stderr
    assert _shared_readers(scan_world) == set()
    dry = run(scan_world, *args, "--format", "yaml", "--exit-zero")
    assert dry.returncode == 0, dry.stderr
    incidents = yaml.safe_load(dry.stdout)
    assert {i["action"] for i in incidents} <= {"ticket", "would_grant"}
    assert _shared_readers(scan_world) == set()


def test_scan_of_a_folder_and_bad_input(scan_world: Sandbox) -> None:
    done = run(scan_world, "scan", "--folder", "folders/123", "--freshness", "1h", "--json")
    assert done.returncode == 1
    # The sandbox knows no hierarchy: a folder sees every project, the other one included;
    # and the incident seen only through a follow-up is one more.
    assert len(done.stdout.splitlines()) == len(SCAN_INCIDENTS) + 2
    bad = run(scan_world, "scan", "--project", PROD, "--freshness", "a while")
    assert bad.returncode == 3 and "--freshness" in bad.stderr
    usage = run(scan_world, "scan")
    assert usage.returncode == 2
    not_an_id = run(scan_world, "scan", "--project", "projects/x")
    assert not_an_id.returncode == 3 and "not a project id" in not_an_id.stderr


def test_scan_table_keeps_each_image_tag_when_it_cuts() -> None:
    long_tag = f"{SHARED}/storefront/web/frontend/checkout-web:2026.12.06-build.4711"
    digest = "sha256:" + "5f0e" * 16
    images = [long_tag, f"{APPS}/payments-ledger-service@{digest}"]
    world = world_dict(None)
    world["log_entries"] = [
        event("default-pool", image, workload=f"long-{index}", minutes_ago=5)
        for index, image in enumerate(images)
    ]
    with Sandbox(world_from_dict(world)) as box:
        env = {**os.environ, "PULLFIX_GCP_ENDPOINT": box.endpoint, "COLUMNS": "130"}
        env.pop("PULLFIX_CONFIG", None)
        done = subprocess.run(
            [PULLFIX, "scan", "--project", PROD, "--freshness", "1h", "--exit-zero"],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines[:4]) <= 130, done.stdout
    start, end = lines[0].index("image"), lines[0].index("cause")
    cells = sorted(line[start:end].rstrip() for line in lines[2:4])
    assert all("…" in cell for cell in cells), cells  # too wide for 130 columns: cut
    assert cells[0].endswith("@" + digest), cells
    assert cells[1].endswith("/checkout-web:2026.12.06-build.4711"), cells


def test_diagnose_takes_the_cluster_as_gcloud_does(sandbox: Sandbox) -> None:
    image = f"{APPS}/api:2.0"
    code, by_resource = diagnose(sandbox, image)
    done = run(
        sandbox,
        "diagnose",
        "--project",
        PROD,
        "--location",
        LOCATION,
        "--cluster",
        CLUSTER,
        image,
        "--format",
        "yaml",
    )
    assert done.returncode == code == 1
    assert yaml.safe_load(done.stdout) == by_resource
    half = run(sandbox, "diagnose", "--project", PROD, "--cluster", CLUSTER, image)
    assert half.returncode == 3 and "--location" in half.stderr


def _service_account_key(path: Path, token_uri: str) -> Path:
    """A service-account key file (a fresh RSA key) whose token endpoint is `token_uri`:
    google-auth honours a service account's `token_uri` (an authorized_user file's, since
    google-auth 2.4x, it replaces with Google's own)."""
    return service_account_file(
        path, token_uri=token_uri, email="pullfix-test@prod-shop.iam.gserviceaccount.com"
    )


def test_credentials_that_cannot_be_refreshed_exit_4_without_a_traceback(tmp_path: Path) -> None:
    """A revoked key: the token endpoint answers invalid_grant."""
    import http.server
    import threading

    class TokenEndpoint(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = b'{"error": "invalid_grant", "error_description": "Invalid JWT Signature."}'
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), TokenEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        key = _service_account_key(
            tmp_path / "key.json", f"http://127.0.0.1:{server.server_port}/token"
        )
        done = _diagnose_as_a_user(tmp_path, GOOGLE_APPLICATION_CREDENTIALS=str(key))
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 4, done.stderr
    assert "invalid_grant" in done.stderr
    assert "gcloud auth application-default login" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_an_unreachable_token_endpoint_is_a_transient_failure(tmp_path: Path) -> None:
    # Nothing listens there: google-auth's TransportError, which a later attempt may not
    # meet (a metadata server's blip, in a function): "retry later", not "log in again".
    key = _service_account_key(tmp_path / "key.json", "http://127.0.0.1:9/token")
    done = _diagnose_as_a_user(tmp_path, GOOGLE_APPLICATION_CREDENTIALS=str(key))
    assert done.returncode == 5, done.stderr
    assert "retry later" in done.stderr
    assert "Traceback" not in done.stderr


def test_scan_apply_refuses_an_outcomes_topic_pubsub_would_refuse(
    scan_world: Sandbox, tmp_path: Path
) -> None:
    config = _allow_shared(tmp_path)
    args = ["scan", "--project", PROD, "--freshness", "1h", "--config", str(config), "--apply"]
    done = run(scan_world, *args, "--yes", "--outcomes-topic", f"projects/{PROD}/topics/goog-x")
    assert done.returncode == 3, done.stderr
    assert "--outcomes-topic" in done.stderr and "Traceback" not in done.stderr
    assert _shared_readers(scan_world) == set()


def test_scan_apply_acts_only_on_the_plans_shown_at_the_prompt(
    scan_world: Sandbox, tmp_path: Path
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "auto_grant": {
                    "repositories": [
                        f"projects/{IMAGES}/locations/*/repositories/*",
                        f"projects/{PROD}/locations/*/repositories/*",
                    ],
                    "cluster_projects": [PROD],
                    "max_per_hour": 1,
                },
                "ledger": {"firestore": {"project": PROD}},
            }
        )
    )
    topic = f"projects/{PROD}/topics/pull-outcomes"
    args = ["scan", "--project", PROD, "--freshness", "1h", "--config", str(config), "--apply"]
    done = run(scan_world, *args, "--yes", "--outcomes-topic", topic, "--format", "json")
    assert "(1 of 2 within max_per_hour)" in done.stderr, done.stderr
    # One grant made and published; the plan beyond the cap is left as the scan's dry run,
    # never published as a ticket the operator did not see.
    assert scan_world.stats()["requests"]["pubsub.projects.topics.publish"] == 1
    assert "not among the grants confirmed" not in done.stderr
    incidents = [json.loads(line) for line in done.stdout.splitlines()]
    granted = [i for i in incidents if i["action"] == "grant"]
    assert len(granted) == 1
    assert "dry run: nothing was changed" not in granted[0]["reasons"]
    assert [i["action"] for i in incidents if i.get("grant")].count("would_grant") == 1
