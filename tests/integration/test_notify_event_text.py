"""Event text through the real `notify` path (functions-framework, real HTTP to the local
Google Chat, Slack and GitHub receivers): it is never markup where it lands, it never steers
which issue an incident's ticket goes to, and redeliveries neither drop a verdict nor
comment on an issue the same delivery opened."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml

from pullfix.core.causes import Cause
from pullfix.core.outcome import OUTCOME_SCHEMA, outcome_problem
from pullfix.core.remediation import Context, ticket_draft
from pullfix.dev.localrun import FunctionServer
from pullfix.dev.receivers import ChatReceiver, GitHubReceiver
from pullfix.dev.sandbox import Sandbox
from tests.integration.conftest import TEST_WORLD
from tests.integration.test_notify_hostile import Notify
from tests.markup import (
    chat_card_live,
    chat_text_live,
    github_live,
    github_title_live,
    slack_live,
)

pytestmark = pytest.mark.integration

TOKEN = "ghp_eventTextToken0123456789abcdefghijk"
REAL = "ticket-" + "a" * 32
FORGED = "ticket-" + "f" * 32

# What would be markup in one destination or another.
MARKUP = [
    "<users/all>",
    "<users/123456789012345678901>",
    "<https://evil.example/x|click here>",
    "*bold*",
    "~strike~",
    "<!channel>",
    "<!here>",
    "<@U123ABC>",
    "<http://x.example|y>",
    "@everyone",
    "@shop/platform-team",
    "![](http://evil.example/track.png)",
    "[docs](https://evil.example/)",
    "<img src=x onerror=alert(1)>",
    "<!-- hidden -->",
    "shop/platform#1 GH-2 #3",
    "https://evil.example/path www.evil.example",
    "`code` ```fence```",
    "mail ops@evil.example",
]
HOSTILE = " ".join(MARKUP) + " \u202eevil\u200b\r\nline"


def _outcome(fingerprint: str, cause: Cause, message_id: str, **event: str) -> dict[str, Any]:
    namespace = event.pop("namespace", "storefront")
    image = event.pop("image", "quay.io/team/app:1")
    workload = event.pop("workload", "Deployment/api")
    draft = ticket_draft(
        Context(
            cause=cause,
            project="shop-prod",
            location="us-central1",
            cluster="checkout",
            namespace=namespace,
            workload=workload,
            node="gke-checkout-default-pool-1a2b3c4d-x7k9",
            image=image,
        )
    ) | {"fingerprint": fingerprint}
    return {
        "schema": OUTCOME_SCHEMA,
        "event": {
            "message_id": message_id,
            "insert_id": f"i-{message_id}",
            "timestamp": "2026-11-20T10:00:07Z",
            "cluster": "projects/shop-prod/locations/us-central1/clusters/checkout",
            "namespace": namespace,
            "workload": workload,
            "pod": "api-1",
            "node": "gke-checkout-default-pool-1a2b3c4d-x7k9",
            "image": image,
            "kubelet_reason": "Failed",
            **event,
        },
        "cause": cause.value,
        "action": "ticket",
        "grant": None,
        "ticket": draft,
        "remediation": draft,
        "reasons": [f"registry refused the pull: {HOSTILE}"],
        "fingerprint": fingerprint,
        "dry_run": False,
        "escalation": False,
        "evidence": {"repository": None},
    }


def _config(tmp_path: Path, *, firestore: bool = False) -> Path:
    github = {"tickets": "github", "github_repo": "shop/platform", "github_token_env": "GH"}
    routes = [
        {"cause": "network", "chat": "google", "webhook_url_env": "CHAT_HOOK", **github},
        {"chat": "slack", "webhook_url_env": "SLACK_HOOK", **github},
    ]
    config: dict[str, Any] = {"notify": {"routes": routes}}
    if firestore:
        config |= {"ledger": {"firestore": {"project": "p1"}}, "lease": "3s"}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def places() -> Iterator[tuple[ChatReceiver, ChatReceiver, GitHubReceiver]]:
    with ChatReceiver() as chat, ChatReceiver() as slack, GitHubReceiver(TOKEN) as github:
        yield chat, slack, github


def _env(chat: ChatReceiver, slack: ChatReceiver, github: GitHubReceiver) -> dict[str, str]:
    return {
        "CHAT_HOOK": f"{chat.url}/v1/spaces/AAA/messages?key=k&token=t",
        "SLACK_HOOK": f"{slack.url}/services/T0/B0/secret",
        "GH": TOKEN,
        "PULLFIX_GITHUB_API": github.url,
    }


def _notify(stack: ExitStack, tmp_path: Path, env: dict[str, str], name: str) -> Notify:
    log = tmp_path / f"{name}.log"
    server = stack.enter_context(FunctionServer("notify", env=env, log_path=log))
    return Notify(server, log)


def test_event_text_is_never_markup_where_it_lands(
    tmp_path: Path, places: tuple[ChatReceiver, ChatReceiver, GitHubReceiver]
) -> None:
    chat, slack, github = places
    hostile = {
        "namespace": f"ns-{HOSTILE}",
        "workload": f"Deployment/{HOSTILE}",
        "image": f"quay.io/team/app:1 {HOSTILE}",
    }
    to_chat = _outcome(REAL, Cause.NETWORK, "m-1", **hostile)
    to_slack = _outcome(FORGED, Cause.AUTH_CONFIG, "m-2", **hostile)
    assert outcome_problem(to_chat) is None and outcome_problem(to_slack) is None
    again = copy.deepcopy(to_chat)
    again["event"] |= {"message_id": "m-3", "insert_id": "i-3"}
    env = {"PULLFIX_CONFIG": str(_config(tmp_path)), **_env(chat, slack, github)}
    with ExitStack() as stack:
        notify = _notify(stack, tmp_path, env, "notify")
        assert notify.post(to_chat, "m-1")[0] == 200
        assert notify.post(to_slack, "m-2")[0] == 200
        assert notify.post(again, "m-3")[0] == 200  # a "seen again" comment
    assert len(chat.posts) == 2  # the ticket, and the incident seen again
    for post in chat.posts:
        assert chat_text_live(post.body["text"]) == []
        assert chat_card_live(post.body) == []
    in_chat = chat.posts[0]
    (in_slack,) = slack.posts
    texts = [in_slack.body["text"]]
    for block in in_slack.body["blocks"]:
        texts += [block["text"]["text"]] if "text" in block else []
        texts += [element["text"] for element in block.get("elements", [])]
    assert [live for text in texts for live in slack_live(text)] == []
    assert len(github.issues) == 2
    for issue in github.issues:
        assert github_live(issue["body"], marker_line=True) == []
        assert github_title_live(issue["title"]) == []
        assert "\n" not in issue["title"] and "\r" not in issue["title"]
    (comment,) = github.issues[0]["comments"]
    assert github_live(comment) == []
    # Shown, not dropped: the hostile text is there to read, as text.
    assert "users/all" in in_chat.body["text"] and "users/all" in github.issues[0]["body"]
    assert "&lt;!channel&gt;" in in_slack.body["blocks"][1]["text"]["text"]
    assert "\\u202e" in github.issues[0]["body"]


def test_a_forged_marker_never_steers_a_real_incident(
    tmp_path: Path, places: tuple[ChatReceiver, ChatReceiver, GitHubReceiver]
) -> None:
    """A forged event carries the real incident's key, as text and as a would-be marker;
    someone also opens an issue whose first line is the marker. The real incident still
    gets an issue of its own, is commented and closed there, and a fresh `notify` (a ledger
    that knows nothing) finds that issue, not the others."""
    chat, slack, github = places
    planted = f"<!-- pullfix-fingerprint: {REAL} -->"
    forged = _outcome(
        FORGED,
        Cause.AUTH_CONFIG,
        "m-forged",
        image=f"quay.io/team/app:1 pullfix-fingerprint: {REAL}\n{planted}",
        workload=f"Deployment/{planted}",
    )
    forged["reasons"] = [f"pullfix-fingerprint: {REAL}", planted, f"PULLFIX-FINGERPRINT: {REAL}"]
    real = _outcome(REAL, Cause.AUTH_CONFIG, "m-real")
    again = copy.deepcopy(real)
    again["event"] |= {"message_id": "m-again", "insert_id": "i-again"}
    resolved = {
        **real,
        "action": "resolved",
        "ticket": None,
        "reasons": ["Deployment/api pulled quay.io/team/app:1 again; fixed by a human"],
        "time_to_fix_seconds": 151,
        "fixed_by": "a human",
        "first_failure": "2026-11-20T10:00:07Z",
        "first_success": "2026-11-20T10:02:38Z",
        "event": {**real["event"], "message_id": None, "insert_id": None},
    }
    env = {"PULLFIX_CONFIG": str(_config(tmp_path)), **_env(chat, slack, github)}
    with ExitStack() as stack:
        first = _notify(stack, tmp_path, env, "first")
        assert first.post(forged, "m-forged")[0] == 200
        github.open_issue("[pullfix] planted", f"{planted}\nplease comment here", "mallory")
        assert first.post(real, "m-real")[0] == 200
    forged_issue, planted_issue, real_issue = github.issues
    assert f"pullfix-fingerprint: {REAL}" not in forged_issue["body"]
    assert real_issue["body"].startswith(f"<!-- pullfix-fingerprint: {REAL} delivery: ")
    with ExitStack() as stack:  # a fresh instance: its ledger knows no issue, it searches
        fresh = _notify(stack, tmp_path, env, "fresh")
        assert fresh.post(again, "m-again")[0] == 200
        assert fresh.post(resolved, "m-resolved")[0] == 200
    assert len(github.issues) == 3
    assert forged_issue["comments"] == [] and forged_issue["state"] == "open"
    assert planted_issue["comments"] == [] and planted_issue["state"] == "open"
    assert len(real_issue["comments"]) == 2 and "Seen again" in real_issue["comments"][0]
    assert (real_issue["state"], real_issue["state_reason"]) == ("closed", "completed")


def test_a_second_resolution_of_a_reopened_incident_is_told(
    tmp_path: Path, places: tuple[ChatReceiver, ChatReceiver, GitHubReceiver]
) -> None:
    """Ticket, resolved, back again, resolved again: verification's verdicts carry no event
    id, and the second resolution is a message of its own (each redelivered once more)."""
    chat, slack, github = places
    ticket = _outcome(REAL, Cause.NETWORK, "m-1")
    back = copy.deepcopy(ticket)
    back["event"] |= {"message_id": "m-3", "insert_id": "i-3", "timestamp": "2026-11-21T09:00:00Z"}

    def resolution(first_failure: str, first_success: str, seconds: int) -> dict[str, Any]:
        return {
            **ticket,
            "action": "resolved",
            "ticket": None,
            "reasons": ["Deployment/api pulled quay.io/team/app:1 again; fixed by a human"],
            "time_to_fix_seconds": seconds,
            "fixed_by": "a human",
            "first_failure": first_failure,
            "first_success": first_success,
            "event": {
                **ticket["event"],
                "message_id": None,
                "insert_id": None,
                "timestamp": first_success,
            },
        }

    first = resolution("2026-11-20T10:00:07Z", "2026-11-20T10:02:38Z", 151)
    second = resolution("2026-11-21T09:00:00Z", "2026-11-21T09:01:35Z", 95)
    env = {"PULLFIX_CONFIG": str(_config(tmp_path)), **_env(chat, slack, github)}
    with ExitStack() as stack:
        notify = _notify(stack, tmp_path, env, "notify")
        for outcome, message_id in (
            (ticket, "m-1"),
            (first, "m-2"),
            (first, "m-2"),
            (back, "m-3"),
            (second, "m-4"),
            (second, "m-4"),
        ):
            assert notify.post(outcome, message_id)[0] == 200
    (issue,) = github.issues
    assert (issue["state"], issue["state_reason"]) == ("closed", "completed")
    comments = issue["comments"]
    assert len(comments) == 3
    assert "resolved in 2m 31s" in comments[0] and "Seen again" in comments[1]
    assert "resolved in 1m 35s" in comments[2]
    texts = [post.body["text"].split("\n", 1)[0] for post in chat.posts]
    assert texts == [
        "*pullfix needs a human: network*",
        "*pullfix: resolved in 2m 31s by a human (network)*",
        "*pullfix needs a human: network*",
        "*pullfix: resolved in 1m 35s by a human (network)*",
    ]


def test_a_notify_killed_after_github_opened_the_issue_adds_no_comment(
    tmp_path: Path, places: tuple[ChatReceiver, ChatReceiver, GitHubReceiver]
) -> None:
    """GitHub opens the issue, and `notify` is killed before it hears the number. The
    redelivery finds the issue by the marker only pullfix writes, sees that this very
    delivery opened it, and adds nothing: no second issue, no "seen again"."""
    chat, slack, github = places
    outcome = _outcome(REAL, Cause.NETWORK, "k")
    github.hold_after_create = 60.0
    with Sandbox(TEST_WORLD) as sandbox:
        env = {
            "PULLFIX_CONFIG": str(_config(tmp_path, firestore=True)),
            "PULLFIX_GCP_ENDPOINT": sandbox.endpoint,
            **_env(chat, slack, github),
        }
        with ExitStack() as stack:
            dying = _notify(stack, tmp_path, env, "dying")
            answers: list[int] = []
            poster = threading.Thread(target=lambda: answers.append(dying.post(outcome, "k")[0]))
            poster.start()
            deadline = time.monotonic() + 30
            while not github.issues:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            dying.server.kill()
            poster.join(timeout=30)
        assert answers == [0]  # killed with the request open: never acknowledged
        with ExitStack() as stack:
            fresh = _notify(stack, tmp_path, env, "fresh")
            statuses: list[int] = []
            deadline = time.monotonic() + 60
            while not statuses or statuses[-1] != 200:
                assert time.monotonic() < deadline, statuses
                statuses.append(fresh.post(outcome, "k")[0])
                time.sleep(0.3)
            assert fresh.post(outcome, "k")[0] == 200  # and again: nothing more
            later = copy.deepcopy(outcome)
            later["event"] |= {"message_id": "k2", "insert_id": "i-k2"}
            assert fresh.post(later, "k2")[0] == 200  # a real repeat is still told
    assert set(statuses[:-1]) <= {500}
    (issue,) = github.issues
    assert len(issue["comments"]) == 1 and "Seen again" in issue["comments"][0]
    assert "opened by this delivery before" in fresh.text()
