"""`notify` end to end: remediate → sandbox topic → notify → chat receivers and a GitHub-API
shaped tracker, all real HTTP servers on loopback."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from pullfix.core.outcome import outcome_problem
from pullfix.dev.events import eventarc_headers
from pullfix.dev.localrun import FunctionServer, post
from pullfix.dev.receivers import ChatReceiver, GitHubReceiver
from pullfix.dev.sandbox import Sandbox
from pullfix.dev.sandbox.world import world_from_dict
from tests.integration.pipeline import CONFIG, IMAGES, LOCATION, PROD, Pipeline, event, world_dict
from tests.integration.test_remediate import CAUSES, cause_event
from tests.keys import self_signed

pytestmark = pytest.mark.integration

TOKEN = "ghp_test_token_value_0123456789"
CHAT_SECRET = "chat-webhook-secret-token"
SLACK_SECRET = "slack-webhook-secret-XXXX"
APPS = f"{LOCATION}-docker.pkg.dev/{PROD}/apps"
SHARED = f"us-docker.pkg.dev/{IMAGES}/shared"


@dataclass
class Team:
    pipe: Pipeline
    notify: FunctionServer
    chat: ChatReceiver
    slack: ChatReceiver
    github: GitHubReceiver

    def deliveries(self) -> list[dict[str, Any]]:
        self.pipe.sandbox.drain(30)
        return self.pipe.sandbox.pusher.summary()

    def post_outcome(self, outcome: dict[str, Any], message_id: str) -> int:
        body = {
            "message": {
                "data": base64.b64encode(json.dumps(outcome).encode()).decode(),
                "messageId": message_id,
                "publishTime": "2026-11-20T10:00:09Z",
            },
            "subscription": f"projects/{PROD}/subscriptions/pull-outcomes-push",
        }
        return post(
            self.notify.url,
            json.dumps(body).encode(),
            eventarc_headers(message_id, f"projects/{PROD}/topics/pull-outcomes"),
        )


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    config = dict(CONFIG)
    config["notify"] = {
        "routes": [
            {"namespace": "payments-*", "chat": "google", "webhook_url_env": "CHAT_PAYMENTS"},
            {
                "chat": "slack",
                "webhook_url_env": "SLACK_PLATFORM",
                "tickets": "github",
                "github_repo": "shop/platform",
                "github_token_env": "GITHUB_TOKEN_PLATFORM",
            },
        ]
    }
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    with ExitStack() as stack:
        chat = stack.enter_context(ChatReceiver())
        slack = stack.enter_context(ChatReceiver())
        github = stack.enter_context(GitHubReceiver(TOKEN))
        notify = stack.enter_context(
            FunctionServer(
                "notify",
                log_path=tmp_path / "notify.log",
                env={
                    "PULLFIX_CONFIG": str(config_path),
                    "CHAT_PAYMENTS": f"{chat.url}/v1/spaces/AAA/messages?key=k&token={CHAT_SECRET}",
                    "SLACK_PLATFORM": f"{slack.url}/services/T0/B0/{SLACK_SECRET}",
                    "GITHUB_TOKEN_PLATFORM": TOKEN,
                    "PULLFIX_GITHUB_API": github.url,
                },
            )
        )
        sandbox = stack.enter_context(
            Sandbox(world_from_dict(world_dict(notify.url)), strict=True, push_min_backoff=0.01)
        )
        remediate = stack.enter_context(
            FunctionServer(
                "remediate",
                log_path=tmp_path / "remediate.log",
                env={
                    "PULLFIX_GCP_ENDPOINT": sandbox.endpoint,
                    "PULLFIX_CONFIG": str(config_path),
                    "PULLFIX_OUTCOMES_TOPIC": f"projects/{PROD}/topics/pull-outcomes",
                },
            )
        )
        pipe = Pipeline(sandbox, remediate, None, config_path)  # type: ignore[arg-type]
        yield Team(pipe, notify, chat, slack, github)


def test_every_cause_reaches_the_team(team: Team) -> None:
    entries = []
    for pool, image, detail, _, _ in CAUSES:
        entry = cause_event(pool, image, detail)
        assert team.pipe.post(entry) == 200
        entries.append(entry)
    team.deliveries()
    # Pushes are concurrent, so messages arrive in any order: compare them as collections.
    headers = sorted(p.body["blocks"][0]["text"]["text"] for p in team.slack.posts)
    expected = [(cause, action) for _, _, _, cause, action in CAUSES]
    verbs = {"grant": "granted read access", "ticket": "needs a human"}
    assert headers == sorted(f"pullfix {verbs[action]}: {cause}" for cause, action in expected)
    tickets = [cause for cause, action in expected if action == "ticket"]
    labels = sorted(i["labels"][1]["name"] for i in team.github.issues)
    assert labels == sorted(f"cause:{c}" for c in tickets)
    assert all(i["body"].count("pullfix-fingerprint:") == 2 for i in team.github.issues)
    assert team.chat.posts == []  # no payments-* namespace among these
    # What remediate published is what notify's one outcome schema accepts.
    published = [
        json.loads(base64.b64decode(d.message["data"])) for d in team.pipe.sandbox.pusher.deliveries
    ]
    assert len(published) == len(CAUSES)
    assert [outcome_problem(o) for o in published] == [None] * len(CAUSES)


def test_google_chat_threads_by_incident(team: Team) -> None:
    entry = event("custom-pool", f"{SHARED}/web:1.4", namespace="payments-api")
    assert team.pipe.post(entry) == 200
    team.deliveries()
    (post,) = team.chat.posts
    assert post.query["messageReplyOption"] == "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"
    assert post.query["requestId"].startswith("pullfix-notify-")  # idempotent on retry
    assert post.query["token"] == CHAT_SECRET
    assert post.body["thread"]["threadKey"].startswith("grant-")
    assert (
        post.body["cardsV2"][0]["card"]["header"]["title"]
        == "pullfix granted read access: cross_project"
    )


def test_a_failing_webhook_is_retried_and_posts_once(team: Team) -> None:
    team.slack.statuses = [503, 500]
    entry = event("default-pool", "quay.io/team/app:1", "dial tcp 1.2.3.4:443: i/o timeout")
    assert team.pipe.post(entry) == 200
    (delivery,) = team.deliveries()
    assert delivery["statuses"] == [500, 500, 200]
    assert len(team.slack.posts) == 1
    assert len(team.github.issues) == 1  # the ticket was filed once, not once per attempt


def test_a_permanent_refusal_is_acknowledged(team: Team, tmp_path: Path) -> None:
    team.slack.statuses = [404]
    entry = event("default-pool", "quay.io/team/app:2", "dial tcp 1.2.3.4:443: i/o timeout")
    assert team.pipe.post(entry) == 200
    (delivery,) = team.deliveries()
    assert delivery["statuses"] == [200]
    assert team.slack.posts == []
    assert "refused the message: HTTP 404" in (tmp_path / "notify.log").read_text()


def test_a_redelivered_outcome_never_posts_twice(team: Team) -> None:
    entry = event("default-pool", "quay.io/team/app:3", "dial tcp 1.2.3.4:443: i/o timeout")
    assert team.pipe.post(entry) == 200
    (delivery,) = team.deliveries()
    outcome = next(
        json.loads(base64.b64decode(d.message["data"])) for d in team.pipe.sandbox.pusher.deliveries
    )
    for _ in range(3):
        assert team.post_outcome(outcome, delivery["message_id"]) == 200
    assert len(team.slack.posts) == 1
    assert len(team.github.issues) == 1


def test_github_comments_on_the_open_issue_of_an_incident(team: Team) -> None:
    entry = event("default-pool", "quay.io/team/app:4", "dial tcp 1.2.3.4:443: i/o timeout")
    assert team.pipe.post(entry) == 200
    team.deliveries()
    outcome = next(
        json.loads(base64.b64decode(d.message["data"])) for d in team.pipe.sandbox.pusher.deliveries
    )
    again = dict(outcome, event=dict(outcome["event"], message_id="later", insert_id="later"))
    assert team.post_outcome(again, "outcome-later") == 200
    (issue,) = team.github.issues
    assert len(issue["comments"]) == 1 and "Seen again" in issue["comments"][0]
    # The first delivery searched (the ledger knew no issue), the second asked for the issue
    # the ledger recorded: one search in all.
    searches = [r for r in team.github.requests if r.startswith("GET /search/issues")]
    assert len(searches) == 1
    assert "GET /repos/shop/platform/issues/1" in team.github.requests


def test_bad_outcomes_are_acknowledged(team: Team) -> None:
    assert team.post_outcome({"schema": "something-else"}, "bad-1") == 200
    assert team.post_outcome({"schema": "pullfix.outcome/v1"}, "bad-2") == 200
    assert team.slack.posts == []


def test_no_secret_reaches_the_logs(team: Team, tmp_path: Path) -> None:
    team.slack.statuses = [503]
    entry = event("default-pool", "quay.io/team/app:5", "dial tcp 1.2.3.4:443: i/o timeout")
    assert team.pipe.post(entry) == 200
    team.deliveries()
    logs = (tmp_path / "notify.log").read_text() + (tmp_path / "remediate.log").read_text()
    assert "will be retried" in logs
    for secret in (TOKEN, CHAT_SECRET, SLACK_SECRET, team.slack.url, team.github.url):
        assert secret not in logs


def test_a_missing_webhook_variable_is_retried_not_lost(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {"notify": {"routes": [{"chat": "slack", "webhook_url_env": "NOT_SET_ANYWHERE"}]}}
        )
    )
    with FunctionServer(
        "notify", env={"PULLFIX_CONFIG": str(config)}, log_path=tmp_path / "notify.log"
    ) as notify:
        team = Team(None, notify, None, None, None)  # type: ignore[arg-type]
        outcome = {
            "schema": "pullfix.outcome/v1",
            "event": {"message_id": "x"},
            "cause": "network",
            "action": "ticket",
            "fingerprint": "ticket-x",
            "reasons": [],
            "ticket": None,
        }
        assert team.post_outcome(outcome, "m1") == 500
    assert "NOT_SET_ANYWHERE is not set" in (tmp_path / "notify.log").read_text()


def test_a_generic_webhook_gets_the_outcome_json(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {"notify": {"routes": [{"chat": "webhook", "webhook_url_env": "INCIDENTS_HOOK"}]}}
        )
    )
    with (
        ChatReceiver() as hook,
        FunctionServer(
            "notify",
            env={"PULLFIX_CONFIG": str(config), "INCIDENTS_HOOK": f"{hook.url}/hooks/pullfix"},
            log_path=tmp_path / "notify.log",
        ) as notify,
    ):
        team = Team(None, notify, None, None, None)  # type: ignore[arg-type]
        outcome = {
            "schema": "pullfix.outcome/v1",
            "event": {"message_id": "x", "namespace": "n"},
            "cause": "network",
            "action": "ticket",
            "fingerprint": "ticket-x",
            "reasons": ["i/o timeout"],
            "ticket": {"title": "t"},
        }
        assert team.post_outcome(outcome, "m1") == 200
        assert team.post_outcome(outcome, "m1") == 200  # redelivered: not posted again
    (posted,) = hook.posts
    assert posted.path == "/hooks/pullfix"
    assert posted.body == outcome


CA_OUTCOME = {
    "schema": "pullfix.outcome/v1",
    "event": {"message_id": "x", "namespace": "n"},
    "cause": "network",
    "action": "ticket",
    "fingerprint": "ticket-ca",
    "reasons": ["i/o timeout"],
    "ticket": {"title": "t"},
}


def _webhook_route(tmp_path: Path) -> Path:
    """A config whose one route posts outcomes to the URL in $HOOK."""
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump({"notify": {"routes": [{"chat": "webhook", "webhook_url_env": "HOOK"}]}})
    )
    return config


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", None])
def test_notify_trusts_the_ca_bundle_the_environment_names(
    tmp_path: Path, variable: str | None
) -> None:
    """A webhook behind a private CA (a corporate proxy, a self-hosted chat): notify trusts
    the bundle REQUESTS_CA_BUNDLE (or CURL_CA_BUNDLE) names, as pullfix's Google calls do;
    without it the certificate is refused and the outcome kept for redelivery."""
    import ssl

    cert, key = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with _webhook_server(context) as (port, posts):
        config = _webhook_route(tmp_path)
        env = {"PULLFIX_CONFIG": str(config), "HOOK": f"https://127.0.0.1:{port}/"}
        # (This machine's own environment may name the system's bundle: set both, empty.)
        env |= {"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": ""}
        if variable is not None:
            env[variable] = str(cert)
        with FunctionServer("notify", env=env, log_path=tmp_path / "notify.log") as notify:
            status = Team(None, notify, None, None, None).post_outcome(CA_OUTCOME, "m1")  # type: ignore[arg-type]
    if variable is None:
        assert status == 500 and posts == []  # refused, kept for redelivery
    else:
        assert status == 200 and len(posts) == 1


def test_a_ca_bundle_that_cannot_be_read_is_a_configuration_error(tmp_path: Path) -> None:
    env = {
        "PULLFIX_CONFIG": str(_webhook_route(tmp_path)),
        "HOOK": "https://127.0.0.1:9/",
        "REQUESTS_CA_BUNDLE": str(tmp_path / "missing.pem"),
    }
    with FunctionServer("notify", env=env, log_path=tmp_path / "notify.log") as notify:
        status = Team(None, notify, None, None, None).post_outcome(CA_OUTCOME, "m1")  # type: ignore[arg-type]
    assert status == 500  # kept until the bundle is fixed
    log = (tmp_path / "notify.log").read_text()
    assert "notify: invalid configuration: REQUESTS_CA_BUNDLE" in log


def test_a_first_outcome_posted_loads_neither_requests_nor_grpc(tmp_path: Path) -> None:
    """notify's first post goes through pullfix's own transport: the function's import trace
    (PYTHONPROFILEIMPORTTIME) names no requests, urllib3, google-auth requests transport or
    grpc."""
    log = tmp_path / "notify.log"
    with _webhook_server() as (port, posts):
        env = {
            "PULLFIX_CONFIG": str(_webhook_route(tmp_path)),
            "HOOK": f"http://127.0.0.1:{port}/hook",
            "PYTHONPROFILEIMPORTTIME": "1",
        }
        with FunctionServer("notify", env=env, log_path=log) as notify:
            status = Team(None, notify, None, None, None).post_outcome(CA_OUTCOME, "m1")  # type: ignore[arg-type]
    assert status == 200 and len(posts) == 1
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in log.read_text().splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "pullfix.notify.delivery" in modules  # the trace covers the event's own imports
    assert (
        sorted(
            m
            for m in modules
            if m.split(".")[0] in ("requests", "urllib3", "charset_normalizer", "grpc")
            or m.startswith("google.auth.transport.requests")
        )
        == []
    )


@contextlib.contextmanager
def _webhook_server(context: Any = None) -> Iterator[tuple[int, list[bytes]]]:
    """A webhook receiver on loopback (TLS with `context`): its port and the bodies posted."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    posts: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            posts.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server.server_address[1], posts
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
