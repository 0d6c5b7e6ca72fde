"""`pullfix classify` and `pullfix demo` as a user runs them: the installed console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from pullfix.dev.events import log_entry, pull_message, push_body, structured_cloudevent

PULLFIX = shutil.which("pullfix") or str(Path(sys.executable).parent / "pullfix")


def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [PULLFIX, *args], input=stdin, capture_output=True, timeout=60, check=False
    )


def _entry(message: str, reason: str = "Failed") -> dict[str, Any]:
    return log_entry(
        project="p1",
        location="us-central1",
        cluster="c1",
        namespace="shop",
        pod="web-1",
        node="gke-c1-default-pool-1a2b3c4d-x7k9",
        message=message,
        reason=reason,
        controller=("Deployment", "web"),
        container="web",
    )


def test_classify_streams_one_line_per_input_line_in_order(tmp_path: Path) -> None:
    image = "us-central1-docker.pkg.dev/other/app/web:1"
    denied = _entry(pull_message(image, "403 Forbidden"))
    lines = [
        json.dumps(denied),
        json.dumps(push_body(_entry(pull_message("busybox", "toomanyrequests")))),
        "this is not json",
        json.dumps(
            structured_cloudevent(
                push_body(_entry("Back-off restarting failed container", "BackOff"))
            )
        ),
        "",
        '{"message": {"data": "@@@"}}',
    ]
    path = tmp_path / "events.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode() + b"\xff\xfe\n")
    done = run("classify", str(path))
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert len(out) == 7
    assert out[0]["cause"] == "cross_project"
    assert out[0]["cluster"] == "projects/p1/locations/us-central1/clusters/c1"
    assert out[0]["ar_repository"] == "projects/other/locations/us-central1/repositories/app"
    assert (out[0]["namespace"], out[0]["pod"], out[0]["node"]) == (
        "shop",
        "web-1",
        "gke-c1-default-pool-1a2b3c4d-x7k9",
    )
    assert out[0]["image"] == image
    assert out[0]["reasons"]
    assert out[1]["cause"] == "rate_limit"
    assert out[1]["ar_repository"] is None
    assert out[2]["error"].startswith("line 3: not JSON")
    assert out[3]["cause"] == "not_a_pull_failure"
    assert out[3]["image"] is None
    assert out[4] == {"error": "line 5: empty line"}
    assert "not base64" in out[5]["error"]
    assert "not UTF-8" in out[6]["error"]


def test_classify_reads_stdin() -> None:
    entry = json.dumps(_entry('Back-off pulling image "busybox"', "BackOff")).encode()
    for args in (("classify",), ("classify", "-")):
        done = run(*args, stdin=entry + b"\n")
        assert done.returncode == 0
        assert json.loads(done.stdout)["cause"] == "unknown"


def test_classify_unreadable_input_is_an_error(tmp_path: Path) -> None:
    done = run("classify", str(tmp_path / "missing.jsonl"))
    assert done.returncode == 3
    assert b"cannot read" in done.stderr
    assert done.stdout == b""


def test_classify_imports_no_google_client(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text(json.dumps(_entry(pull_message("gcr.io/p1/a", "403 Forbidden"))) + "\n")
    code = (
        "import sys, io, contextlib\n"
        "before = set(sys.modules)\n"
        "from pullfix.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main(['classify', {str(path)!r}]) == 0\n"
        "new = set(sys.modules) - before\n"
        "loaded = sorted(m for m in new if m.startswith(('google', 'grpc')))\n"
        "print(loaded)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


def test_demo_prints_a_table_and_exits_zero() -> None:
    done = run("demo")
    assert done.returncode == 0, done.stderr
    text = done.stdout.decode()
    for cause in ("cross_project", "not_found", "network", "rate_limit", "not_a_pull_failure"):
        assert cause in text
    # A refusal no grant fixes: the Artifact Registry API is disabled in shop-legacy.
    assert "api_disabled -> ticket: the Artifact Registry API" in text
    assert "[pullfix] api_disabled: us-central1-docker.pkg.dev/shop-legacy" in text
    assert "cause" in text and "events" in text
    # Closing the loop: the grant is verified, and so is a human's fix of a ticket.
    assert "payments-api/Deployment/web: resolved in 151s" in text
    assert "by pullfix's grant" in text and "by a human" in text
    assert "GitHub: closed shop/platform#2" in text
    # Approval in chat: one grant approved in Google Chat, one denied in Slack, a forgery refused.
    assert text.count("with the buttons [Approve] [Deny]") == 2
    assert (
        "with the buttons [Approve] [Deny], posted as the Chat app (spaces/DEMO/messages/" in text
    )
    assert "clicks Approve in Google Chat -> 200: approved by alice@shop.example" in text
    assert "clicks Deny in Slack -> 200: denied by slack:U0BOBSRE" in text
    assert "a forged Slack click (wrong signature) -> 401" in text
    readers = (
        "releases readers now: serviceAccount:payments-nodes@shop-prod.iam.gserviceaccount.com\n"
    )
    assert readers in text


def test_version_and_usage() -> None:
    done = run("--version")
    assert done.returncode == 0 and done.stdout.decode().startswith("pullfix ")
    assert run().returncode == 2
    listed = run("--help")
    assert listed.returncode == 0
    for command in (b"classify", b"replay", b"diagnose", b"scan", b"verify", b"sandbox", b"demo"):
        assert command in listed.stdout


REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "functions" / "pullfix" / "dev" / "samples"


def test_classify_reads_the_json_array_gcloud_prints(tmp_path: Path) -> None:
    denied = _entry(pull_message("us-central1-docker.pkg.dev/other/app/web:1", "403 Forbidden"))
    single = run("classify", stdin=json.dumps(denied).encode()).stdout.splitlines()
    lines = [json.loads(line) for line in single]
    array = json.dumps([denied, {"not": "an event"}, denied], indent=2)  # as --format=json does
    done = run("classify", stdin=b"\n" + array.encode())
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(out) == 3
    assert out[0] == out[2] == lines[0]
    assert out[1]["error"].startswith("element 2:")


KUBECTL_EVENTS = REPO / "tests" / "data" / "examples" / "kubectl_get_events.json"


def test_classify_reads_kubectl_get_events_json() -> None:
    listing = json.loads(KUBECTL_EVENTS.read_text())
    done = run("classify", str(KUBECTL_EVENTS))
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(out) == len(listing["items"]) == 6
    assert [o.get("kubelet_reason") for o in out] == [i["reason"] for i in listing["items"]]
    failed = listing["items"][2]
    assert out[2] == {
        "cause": "permission",
        "image": "us-central1-docker.pkg.dev/p1/app/web:1.4",
        "cluster": None,  # kubectl's output names no cluster
        "namespace": "default",
        "pod": "web-7d9f8c-xk2p",
        "container": "web",
        "node": failed["source"]["host"],
        "workload": "Pod/web-7d9f8c-xk2p",
        "ar_repository": "projects/p1/locations/us-central1/repositories/app",
        "kubelet_reason": "Failed",
        "timestamp": failed["lastTimestamp"],
        "insert_id": failed["metadata"]["uid"],
        "reasons": out[2]["reasons"],
    }
    assert out[0]["cause"] == "not_a_pull_failure"  # the scheduler's Scheduled
    # The same events as the LogEntries Cloud Logging holds for them, cluster aside: one
    # diagnosis each way.
    entries = [
        {
            "jsonPayload": item,
            "resource": {
                "type": "k8s_pod",
                "labels": {"project_id": "p1", "location": "l1", "cluster_name": "c1"},
            },
            "timestamp": item["lastTimestamp"],
            "insertId": item["metadata"]["uid"],
        }
        for item in listing["items"]
    ]
    logged = run("classify", stdin="\n".join(json.dumps(e) for e in entries).encode())
    as_logged = [json.loads(line) for line in logged.stdout.splitlines()]
    assert [{**o, "cluster": None} for o in as_logged] == out
    # Compacted onto one line (`jq -c .`), and a single Event (`kubectl get event X -o json`).
    compact = run("classify", stdin=json.dumps(listing).encode())
    assert [json.loads(line) for line in compact.stdout.splitlines()] == out
    single = run("classify", stdin=json.dumps(failed, indent=4).encode())
    assert [json.loads(line) for line in single.stdout.splitlines()] == [out[2]]


def test_classify_reads_events_k8s_io_v1_events() -> None:
    failed = json.loads(KUBECTL_EVENTS.read_text())["items"][2]
    core = run("classify", stdin=json.dumps(failed).encode())
    # The same event as `kubectl get events.v1.events.k8s.io -o json` prints it.
    new = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": failed["metadata"],
        "regarding": failed["involvedObject"],
        "reason": failed["reason"],
        "note": failed["message"],
        "type": failed["type"],
        "eventTime": None,
        "reportingController": "kubelet",
        "reportingInstance": failed["reportingInstance"],
        "deprecatedSource": failed["source"],
        "deprecatedFirstTimestamp": failed["firstTimestamp"],
        "deprecatedLastTimestamp": failed["lastTimestamp"],
        "deprecatedCount": failed["count"],
    }
    listing = {"apiVersion": "v1", "kind": "List", "items": [new], "metadata": {}}
    done = run("classify", stdin=json.dumps(listing, indent=2).encode())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json.loads(core.stdout)


@pytest.mark.parametrize(
    ("document", "said"),
    [
        (  # kubectl get pods -o json, piped by mistake
            {"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "Pod"}]},
            "a kubectl List of Pod, not Events",
        ),
        ({"kind": "PodList", "items": []}, "a PodList over several lines"),
        ({"insertId": "x", "jsonPayload": {}}, "a JSON object over several lines"),
        ([{"a": 1}, "unterminated"], None),  # fine: an array of two bad elements
    ],
)
def test_classify_names_an_input_of_no_shape_it_reads(document: object, said: str | None) -> None:
    done = run("classify", stdin=json.dumps(document, indent=2).encode())
    if said is None:
        assert done.returncode == 0
        return
    assert done.returncode == 3
    assert done.stdout == b""
    assert said.encode() in done.stderr and b"JSON Lines" in done.stderr
    assert b"Traceback" not in done.stderr
    broken = run("classify", stdin=b'[{"a": 1},\n')
    assert broken.returncode == 3 and b"not a JSON array" in broken.stderr


def test_classify_json_lines_with_a_broken_first_line_are_still_json_lines() -> None:
    entry = json.dumps(_entry(pull_message("busybox:1", "403 Forbidden")))
    done = run("classify", stdin=f"{{not json\n{entry}\n".encode())
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert out[0]["error"].startswith("line 1: not JSON") and out[1]["cause"]


def test_replay_reads_an_array_and_kubectl_events(tmp_path: Path) -> None:
    world = str(SAMPLES / "world.yaml")
    lines = (SAMPLES / "events.jsonl").read_text().splitlines()
    as_lines = run("replay", "--world", world, "--json", str(SAMPLES / "events.jsonl"))
    array = tmp_path / "events.json"  # as gcloud logging read --format=json prints them
    array.write_text(json.dumps([json.loads(line) for line in lines if line.strip()], indent=2))
    as_array = run("replay", "--world", world, "--json", str(array))
    assert as_array.returncode == 0, as_array.stderr
    assert len(as_array.stdout.splitlines()) == len(lines) >= 10
    # The same results; an error names the element instead of the line.
    assert as_array.stdout.replace(b'"error":"element', b'"error":"line') == as_lines.stdout
    assert b'"error":"element' in as_array.stdout
    done = run("replay", "--world", world, "--json", str(KUBECTL_EVENTS))
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["action"] for r in results][:3] == ["ignored", "ignored", "ticket"]
    assert (
        results[2]["event"]["cluster"] is None and results[2]["event"]["pod"] == "web-7d9f8c-xk2p"
    )
    pods = tmp_path / "pods.json"
    pods.write_text(
        json.dumps({"apiVersion": "v1", "kind": "List", "items": [{"kind": "Pod"}]}, indent=1)
    )
    refused = run("replay", "--world", world, str(pods))
    assert refused.returncode == 3 and refused.stdout == b""
    assert b"not Events" in refused.stderr and b"Traceback" not in refused.stderr


def test_classify_into_a_closed_pipe_is_quiet(tmp_path: Path) -> None:
    # `pullfix classify big.jsonl | head -1`: the reader leaves after one line.
    entry = json.dumps(_entry(pull_message("busybox:1", "403 Forbidden")))
    big = tmp_path / "big.jsonl"
    big.write_text((entry + "\n") * 20000)
    process = subprocess.Popen(
        [PULLFIX, "classify", str(big)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()
    err = process.stderr.read()
    process.stderr.close()
    assert process.wait(timeout=120) == 0
    assert json.loads(first)["cause"]
    assert err == b""


def test_the_checks_listing_into_a_closed_pipe_is_quiet() -> None:
    # `python -m pullfix.checks | head`, the reader gone before the first line is written.
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pullfix.checks"],
            stdout=write,
            stderr=subprocess.PIPE,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (0, b"")


def test_every_command_has_examples_in_its_help() -> None:
    for command in (
        ["classify"],
        ["replay"],
        ["diagnose"],
        ["scan"],
        ["demo"],
        ["sandbox", "serve"],
        ["config", "validate"],
        ["config", "schema"],
    ):
        done = run(*command, "--help")
        assert done.returncode == 0
        assert b"examples:\n  pullfix " in done.stdout, command


def test_tables_fit_the_terminal_and_colour_respects_no_color(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io

    from pullfix.cli.tables import paint, render_table

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    rows = [["1", "payments/web", "x" * 300]]
    table = render_table(["#", "workload", "detail"], rows, width=60)
    assert max(len(line) for line in table.splitlines()) <= 60
    assert table.splitlines()[-1].endswith("…")
    assert paint("grant", "32", Terminal()) == "\033[32mgrant\033[0m"
    assert paint("grant", "32", io.StringIO()) == "grant"  # not a terminal
    monkeypatch.setenv("NO_COLOR", "1")
    assert paint("grant", "32", Terminal()) == "grant"
    coloured = render_table(["a"], [[paint("grant", "32", Terminal())]], width=60)
    assert coloured.splitlines()[0] == "a"  # the header is as wide as the visible text
    assert len(coloured.splitlines()[1]) == len("grant")


def test_tables_cut_an_image_in_its_path_and_keep_its_tag_or_digest() -> None:
    from pullfix.cli.tables import render_table

    digest = "sha256:" + "0123456789abcdef" * 4
    images = [
        "us-central1-docker.pkg.dev/shop-images-production/storefront/team-checkout/checkout-web:1.4.2-rc1",
        f"europe-west4-docker.pkg.dev/payments-platform/services/ledger@{digest}",
        "registry.example.com:5000/team/a-very-long-repository-name/and-a-longer-path/to/the/app",
    ]
    rows = [["shop/web", image, "role", "ticket", "x" * 40] for image in images]
    table = render_table(["workload", "image", "cause", "action", "detail"], rows, width=120)
    assert max(len(line) for line in table.splitlines()) <= 120
    start = table.splitlines()[0].index("image")
    cells = [line[start:].split("  ")[0] for line in table.splitlines()[2:]]
    assert cells[0].endswith("/checkout-web:1.4.2-rc1") and "…" in cells[0]
    assert cells[0].startswith("us-central1-")
    assert cells[1].endswith("edger@" + digest) and "…" in cells[1]
    assert cells[2].endswith("/app") and "…" in cells[2]
    # Narrower than the digest itself: still the end, never the start alone.
    narrow = render_table(["image"], [[images[1]]], width=20).splitlines()[-1]
    assert narrow == "…" + digest[-19:]
    # Other columns are cut at the end, as before.
    assert render_table(["detail"], [["x" * 30 + ":1"]], width=10).splitlines()[-1] == "x" * 9 + "…"


def test_table_width_follows_columns() -> None:
    done = subprocess.run(
        [PULLFIX, "replay", "--world", str(SAMPLES / "world.yaml"), str(SAMPLES / "events.jsonl")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "90"},
    )
    assert done.returncode == 0, done.stderr
    assert max(len(line) for line in done.stdout.splitlines()) <= 90


def test_replay_refuses_an_unwritable_world_out_before_it_runs(tmp_path: Path) -> None:
    done = run(
        "replay",
        "--world",
        str(SAMPLES / "world.yaml"),
        "--world-out",
        str(tmp_path / "missing" / "out.yaml"),
        str(SAMPLES / "events.jsonl"),
    )
    assert done.returncode == 3
    assert done.stdout == b""
    assert b"cannot write" in done.stderr and b"Traceback" not in done.stderr


def test_replay_formats_say_the_same(tmp_path: Path) -> None:
    base = ["replay", "--world", str(SAMPLES / "world.yaml"), str(SAMPLES / "events.jsonl")]
    as_json = [json.loads(line) for line in run(*base, "--format", "json").stdout.splitlines()]
    assert as_json == [json.loads(line) for line in run(*base, "--json").stdout.splitlines()]
    assert yaml.safe_load(run(*base, "--format", "yaml").stdout) == as_json


def _validate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PULLFIX, "config", "validate", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_config_validate_names_variables_never_values(tmp_path: Path) -> None:
    example = str(REPO / "examples" / "config.yaml")
    secret = "https://chat.googleapis.com/v1/spaces/AAA/messages?key=KEY123&token=TOKEN456"
    good = {
        "CHAT_PAYMENTS": secret + "\n",  # stored with echo: the newline is dropped
        "SLACK_NODES": "https://hooks.slack.com/services/T0/B0/XYZ",
        "SLACK_PLATFORM": "https://hooks.slack.com/services/T0/B1/XYZ",
        "GITHUB_TOKEN_PLATFORM": "ghp_" + "a" * 36,
    }
    env = {**os.environ, **good}
    done = _validate(example, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    bad = {
        **env,
        "CHAT_PAYMENTS": secret.replace("https", "http"),
        "GITHUB_TOKEN_PLATFORM": "ghp_ x\n",
    }
    done = _validate(example, "--format", "json", env=bad)
    assert done.returncode == 3
    report = json.loads(done.stdout)
    assert report["valid"] is False
    assert any("$CHAT_PAYMENTS must be https" in p for p in report["problems"])
    assert any("$GITHUB_TOKEN_PLATFORM is not a GitHub token" in p for p in report["problems"])
    assert "KEY123" not in done.stdout + done.stderr and "ghp_ x" not in done.stdout
    wide = tmp_path / "wide.yaml"
    wide.write_text("auto_grant: {repositories: ['projects/shop-*/locations/*/repositories/*']}\n")
    done = _validate(str(wide))
    assert done.returncode == 0
    assert "warning: auto_grant.repositories" in done.stdout
    broken = tmp_path / "broken.yaml"
    broken.write_text("auto_grant: {level: folder}\n")
    done = _validate(str(broken))
    assert done.returncode == 3 and "auto_grant.level" in done.stdout


def test_config_validate_offline_checks_the_file_alone(tmp_path: Path) -> None:
    example = str(REPO / "examples" / "config.yaml")
    # As in CI: none of the routes' variables, and a topic Pub/Sub would refuse.
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("CHAT_PAYMENTS", "SLACK_NODES", "SLACK_PLATFORM", "GITHUB_TOKEN_PLATFORM")
    }
    env["PULLFIX_OUTCOMES_TOPIC"] = "not a topic"
    online = _validate(example, env=env)
    assert online.returncode == 3 and "CHAT_PAYMENTS is not set" in online.stdout
    offline = _validate("--offline", example, env=env)
    assert offline.returncode == 0, offline.stdout + offline.stderr
    assert offline.stdout.endswith("valid (offline: environment not checked)\n")
    report = json.loads(_validate("--offline", example, "--json", env=env).stdout)
    assert report["valid"] is True and report["problems"] == []
    assert report["environment_checked"] is False
    # The file itself is checked as the functions would, and its warnings still apply.
    wide = tmp_path / "wide.yaml"
    wide.write_text("auto_grant: {repositories: ['projects/shop-*/locations/*/repositories/*']}\n")
    done = _validate("--offline", str(wide), env=env)
    assert done.returncode == 0 and "warning: auto_grant.repositories" in done.stdout
    for text in ("auto_grant: {level: folder}\n", "dry_run: true\ndry_run: false\n"):
        broken = tmp_path / "broken.yaml"
        broken.write_text(text)
        done = _validate("--offline", str(broken), env=env)
        assert done.returncode == 3 and "invalid" in done.stdout, text


def test_classify_formats_say_the_same() -> None:
    events = str(SAMPLES / "events.jsonl")
    lines = [json.loads(line) for line in run("classify", events).stdout.splitlines()]
    assert yaml.safe_load(run("classify", events, "--format", "yaml").stdout) == lines
    table = run("classify", events, "--format", "table").stdout.decode().splitlines()
    assert table[0].split() == ["cause", "image", "workload", "why"]
    assert [row.split()[0] for row in table[2:]] == [r.get("cause", "error") for r in lines]


def test_config_validate_warns_about_a_glob_that_matches_no_repository(tmp_path: Path) -> None:
    short = tmp_path / "short.yaml"
    short.write_text("auto_grant: {repositories: ['projects/shop-images']}\n")
    done = _validate(str(short))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "'projects/shop-images' matches no repository" in done.stdout
    full = tmp_path / "full.yaml"
    full.write_text("auto_grant: {repositories: ['projects/p/locations/*/repositories/*']}\n")
    assert "matches no repository" not in _validate(str(full)).stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"dry_run: true\nnamespace: caf\xe9\n", "is not UTF-8: line 2 has the byte 0xe9"),
        (b"dry_run: " + b"[" * 50_000 + b"\n", "line 1, column 41: nested deeper than 32 levels"),
        (b"dry_run: true\ndry_run: false\n", "dry_run is set twice, on line 1 and line 2"),
        (b"dedupe_window: 100000000d\n", "dedupe_window: expected 1m to 30d"),
        (b"lease: " + b"9" * 5000 + b"\n", "cannot read '9999"),
        (b"a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n", "aliases (*name) are not allowed"),
    ],
    ids=["not-utf8", "deep", "duplicate", "overflow", "long-int", "laughs"],
)
def test_config_validate_exits_3_without_a_traceback_on_hostile_files(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(content)
    done = _validate(str(path))
    assert done.returncode == 3, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and done.stderr == ""
    assert message in done.stdout and done.stdout.endswith(f"{path}: invalid\n")


def test_tables_spell_out_what_a_terminal_would_act_on() -> None:
    """An image or namespace from an event can carry escape sequences (clear the screen,
    an OSC 8 hyperlink, a bidi override): a table shows them, never sends them."""
    import io

    from pullfix.cli.tables import paint, render_table

    hostile = "ghcr.io/a\x1b[2J\x1b]8;;http://evil.example/\x1b\\b\u202ec:1"

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    action = paint("ticket", "33", Tty())
    table = render_table(["image", "action"], [[hostile, action]], 200)
    image_cell = table.splitlines()[2].split("  ")[0]
    assert "\x1b" not in image_cell and "\u202e" not in image_cell
    assert "\\x1b[2J" in image_cell and "\\u202e" in image_cell
    assert "\x1b[33mticket\x1b[0m" in table  # pullfix's own colour is kept
