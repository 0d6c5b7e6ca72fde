"""`notify` under hostile conditions, over real HTTP: secrets stored carelessly, redirects to
other origins, GitHub's rate limits, permanent refusals, and outcomes of the wrong shape."""

from __future__ import annotations

import base64
import copy
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from pullfix.core.outcome import OUTCOME_SCHEMA, outcome_problem
from pullfix.dev.events import eventarc_headers
from pullfix.dev.localrun import FunctionServer
from pullfix.dev.receivers import Answer, ChatReceiver, GitHubReceiver
from pullfix.dev.sandbox import Sandbox
from tests.integration.conftest import TEST_WORLD

pytestmark = pytest.mark.integration

TOKEN = "ghp_hostileTestToken0123456789abcdefghij"
CHAT_KEY = "chat-key-SECRET-5f1e"
OUTCOME: dict[str, Any] = {
    "schema": OUTCOME_SCHEMA,
    "event": {
        "message_id": "m-1",
        "insert_id": "i-1",
        "timestamp": "2026-11-20T10:00:07Z",
        "cluster": "projects/shop-prod/locations/us-central1/clusters/checkout",
        "namespace": "storefront",
        "workload": "Deployment/api",
        "pod": "api-1",
        "container": "api",
        "node": "gke-checkout-default-pool-1a2b3c4d-x7k9",
        "image": "quay.io/team/app:1",
        "kubelet_reason": "Failed",
    },
    "cause": "network",
    "action": "ticket",
    "grant": None,
    "ticket": {
        "title": "[pullfix] network: quay.io/team/app:1",
        "steps": ["Check the route to quay.io from the node."],
        "commands": ["kubectl describe pod api-1 -n storefront"],
        "terraform": None,
        "reproduce": "sudo crictl pull quay.io/team/app:1",
    },
    "reasons": ["dial tcp 1.2.3.4:443: i/o timeout"],
    "fingerprint": "ticket-0123456789abcdef0123456789abcdef",
    "dry_run": False,
    "escalation": False,
    "evidence": {"repository": None},
    "remediation": None,
}


@dataclass
class Notify:
    server: FunctionServer
    log: Path

    def post(self, outcome: dict[str, Any], message_id: str) -> tuple[int, str]:
        """Deliver as Eventarc does; the HTTP status and body notify answered."""
        body = {
            "message": {
                "data": base64.b64encode(json.dumps(outcome).encode()).decode(),
                "messageId": message_id,
                "publishTime": "2026-11-20T10:00:09Z",
            },
            "subscription": "projects/shop-prod/subscriptions/pull-outcomes-push",
        }
        headers = eventarc_headers(message_id, "projects/shop-prod/topics/pull-outcomes")
        request = urllib.request.Request(
            self.server.url, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as exc:
            text = exc.read().decode()
            exc.close()
            return exc.code, text
        except OSError:  # the function died with the request open
            return 0, ""

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"message": line})
        return out

    def text(self) -> str:
        return self.log.read_text()


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "notify": {
                    "routes": [
                        {
                            "chat": "google",
                            "webhook_url_env": "CHAT_HOOK",
                            "tickets": "github",
                            "github_repo": "shop/platform",
                            "github_token_env": "GITHUB_TOKEN",
                        }
                    ]
                }
            }
        )
    )
    return path


@pytest.fixture
def receivers() -> Iterator[tuple[ChatReceiver, GitHubReceiver, ChatReceiver]]:
    """The team's chat, its tracker, and another origin that must never hear from notify."""
    with ExitStack() as stack:
        elsewhere = stack.enter_context(ChatReceiver())
        chat = stack.enter_context(ChatReceiver())
        github = stack.enter_context(GitHubReceiver(TOKEN))
        yield chat, github, elsewhere


def _notify(stack: ExitStack, tmp_path: Path, env: dict[str, str]) -> Notify:
    log = tmp_path / "notify.log"
    server = stack.enter_context(
        FunctionServer(
            "notify", env={"PULLFIX_CONFIG": str(_config(tmp_path)), **env}, log_path=log
        )
    )
    return Notify(server, log)


def _env(chat: ChatReceiver, github: GitHubReceiver, **overrides: str) -> dict[str, str]:
    return {
        "CHAT_HOOK": f"{chat.url}/v1/spaces/AAA/messages?key={CHAT_KEY}&token=t",
        "GITHUB_TOKEN": TOKEN,
        "PULLFIX_GITHUB_API": github.url,
        **overrides,
    }


def test_secrets_stored_with_a_trailing_newline_work(
    tmp_path: Path, receivers: tuple[ChatReceiver, GitHubReceiver, ChatReceiver]
) -> None:
    chat, github, _ = receivers
    env = _env(chat, github)
    env = {**env, "CHAT_HOOK": env["CHAT_HOOK"] + "\n", "GITHUB_TOKEN": f"  {TOKEN}\n"}
    with ExitStack() as stack:
        notify = _notify(stack, tmp_path, env)
        assert notify.post(OUTCOME, "m-1")[0] == 200
    assert len(chat.posts) == 1
    (issue,) = github.issues
    assert issue["title"] == OUTCOME["ticket"]["title"]


@pytest.mark.parametrize(
    ("variable", "value", "leak"),
    [
        ("CHAT_HOOK", "{chat}/v1/spaces/AAA/messages?key=SECRET%s x&token=t", "SECRET%s"),
        ("CHAT_HOOK", "{chat}/v1/spaces/AAA/messages?key=SECRET%s\x07&token=t", "SECRET%s"),
        ("CHAT_HOOK", "ftp://SECRET%s@127.0.0.1/hook", "SECRET%s"),
        ("CHAT_HOOK", "{chat}/v1/spaces/AAA/messages?key=SECRET%s\u00a0&token=t", "SECRET%s"),
        ("CHAT_HOOK", "http://hook:SECRET%s@{netloc}/v1/spaces/AAA/messages", "SECRET%s"),
        ("CHAT_HOOK", "http://127.0.0.1:99999/v1/spaces/AAA/messages?key=SECRET%s", "SECRET%s"),
        ("GITHUB_TOKEN", "ghp_SECRET%s token", "SECRET%s"),
        ("GITHUB_TOKEN", "ghp_SECRET%s\ntoken", "SECRET%s"),
    ],
    ids=[
        "url-space",
        "url-control",
        "url-scheme",
        "url-no-break-space",
        "url-userinfo",
        "url-port",
        "token-space",
        "token-newline-inside",
    ],
)
def test_a_malformed_secret_is_named_never_shown(
    tmp_path: Path,
    receivers: tuple[ChatReceiver, GitHubReceiver, ChatReceiver],
    variable: str,
    value: str,
    leak: str,
) -> None:
    chat, github, _ = receivers
    marker = f"{time.time_ns()}"
    value = value.replace("{chat}", chat.url).replace("{netloc}", chat.url.split("//")[1])
    env = _env(chat, github, **{variable: value % marker})
    with ExitStack() as stack:
        notify = _notify(stack, tmp_path, env)
        status, body = notify.post(OUTCOME, "m-1")
        again, body_again = notify.post(OUTCOME, "m-1")
    # A configuration error: kept (redelivered) until fixed, reported by the variable's name.
    assert status == again == 500
    assert f"${variable}" in notify.text() or f"{variable} " in notify.text()
    # ... at CRITICAL, as a configuration error, not retried as if the destination had failed.
    critical = [line for line in notify.lines() if line.get("severity") == "CRITICAL"]
    assert critical and critical[0]["message"].startswith("notify: invalid configuration: ")
    secret = leak % marker
    for text in (notify.text(), body, body_again):
        assert secret not in text
    assert chat.seen == [] or variable == "GITHUB_TOKEN"
    assert github.issues == []


def test_no_redirect_is_followed_with_credentials(
    tmp_path: Path, receivers: tuple[ChatReceiver, GitHubReceiver, ChatReceiver]
) -> None:
    chat, github, elsewhere = receivers
    # The tracker's search answers with a redirect to another origin, over plain http.
    github.answers = [(302, {"Location": f"{elsewhere.url}/search/issues?q=x"}, {})]
    chat.statuses = [302]
    chat.location = f"{elsewhere.url}/hook"
    with ExitStack() as stack:
        notify = _notify(stack, tmp_path, _env(chat, github))
        status, _ = notify.post(OUTCOME, "m-1")
    assert status == 200  # refused for good: retrying cannot make a redirect safe
    assert elsewhere.seen == []  # no request at all, so no Authorization header, no token
    assert github.issues == [] and chat.posts == []
    done = [line for line in notify.lines() if "delivered" in line]
    assert done and done[-1]["delivered"] == []
    assert "a redirect): not followed" in notify.text()


RATE_LIMITS: list[Answer] = [
    (
        403,
        {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.time()) + 3600)},
        {"message": "API rate limit exceeded for user ID 1."},
    ),
    (
        403,
        {},
        {
            "message": "You have exceeded a secondary rate limit. Please wait a few minutes "
            "before you try again."
        },
    ),
    (429, {"retry-after": "7"}, {"message": "Too many requests"}),
]


@pytest.mark.parametrize("limit", RATE_LIMITS, ids=["primary", "secondary", "retry-after"])
def test_github_rate_limits_are_retried_until_the_ticket_is_filed(
    tmp_path: Path,
    receivers: tuple[ChatReceiver, GitHubReceiver, ChatReceiver],
    limit: Answer,
) -> None:
    chat, github, _ = receivers
    github.answers = [limit]
    with ExitStack() as stack:
        notify = _notify(stack, tmp_path, _env(chat, github))
        first, _ = notify.post(OUTCOME, "m-1")
        second, _ = notify.post(OUTCOME, "m-1")  # Pub/Sub's redelivery
        third, _ = notify.post(OUTCOME, "m-1")  # and a duplicate one
    assert (first, second, third) == (500, 200, 200)
    assert "GitHub rate limit" in notify.text() and "asks to wait" in notify.text()
    assert len(github.issues) == 1
    assert len(chat.posts) == 1  # the chat message went out once, on the first delivery


def test_a_permanent_refusal_is_acknowledged_and_not_called_delivered(
    tmp_path: Path, receivers: tuple[ChatReceiver, GitHubReceiver, ChatReceiver]
) -> None:
    chat, github, _ = receivers
    github.answers = [(422, {}, {"message": "Validation Failed"})]
    with ExitStack() as stack:
        notify = _notify(stack, tmp_path, _env(chat, github))
        assert notify.post(OUTCOME, "m-1")[0] == 200
        assert notify.post(OUTCOME, "m-1")[0] == 200  # redelivered: not retried, not re-sent
    assert len(chat.posts) == 1 and github.issues == []
    delivered = [line["delivered"] for line in notify.lines() if "delivered" in line]
    assert delivered == [["chat:0"], ["chat:0"]]
    assert "refused the message: HTTP 422" in notify.text()


WRONG_TYPES = [
    (("fingerprint",), 12345, "outcome.fingerprint"),
    (("reasons",), None, "outcome.reasons"),
    (("event",), "storefront", "outcome.event"),
    (("evidence",), ["a", "b"], "outcome.evidence"),
    (("ticket",), "fix it", "outcome.ticket"),
    (("ticket", "steps"), "one step", "outcome.ticket.steps"),
    (("grant",), {"resource": "r"}, "outcome.grant.role"),
    (("event", "namespace"), 7, "outcome.event.namespace"),
    (("cause",), "gremlins", "outcome.cause"),
    (("escalation",), "yes", "outcome.escalation"),
]


@pytest.mark.parametrize(
    ("path", "value", "field"),
    WRONG_TYPES,
    ids=[w[2].removeprefix("outcome.") for w in WRONG_TYPES],
)
def test_an_outcome_of_the_wrong_shape_is_acknowledged_naming_the_field(
    tmp_path: Path,
    receivers: tuple[ChatReceiver, GitHubReceiver, ChatReceiver],
    path: tuple[str, ...],
    value: Any,
    field: str,
) -> None:
    chat, github, _ = receivers
    outcome = copy.deepcopy(OUTCOME)
    target = outcome
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with ExitStack() as stack:
        notify = _notify(stack, tmp_path, _env(chat, github))
        assert notify.post(outcome, "m-bad")[0] == 200
    ignored = [line for line in notify.lines() if line.get("action") == "ignored"]
    assert ignored and ignored[0]["detail"].startswith(field)
    assert chat.seen == [] and github.issues == []


def test_the_sample_outcome_is_one_remediate_would_publish() -> None:
    assert outcome_problem(OUTCOME) is None


def test_a_notify_killed_mid_post_delivers_on_redelivery(
    tmp_path: Path, receivers: tuple[ChatReceiver, GitHubReceiver, ChatReceiver]
) -> None:
    """SIGKILL while the chat service holds the post: the redelivery is not acknowledged
    until a fresh instance has delivered it (the Firestore ledger outlives the process)."""
    chat, github, _ = receivers
    config = yaml.safe_load(_config(tmp_path).read_text())
    config |= {"ledger": {"firestore": {"project": "p1"}}, "lease": "3s"}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    chat.hold = 60.0
    with Sandbox(TEST_WORLD) as sandbox:
        env = {
            **_env(chat, github),
            "PULLFIX_CONFIG": str(tmp_path / "config.yaml"),
            "PULLFIX_GCP_ENDPOINT": sandbox.endpoint,
        }
        with ExitStack() as stack:
            first = Notify(
                stack.enter_context(
                    FunctionServer("notify", env=env, log_path=tmp_path / "first.log")
                ),
                tmp_path / "first.log",
            )
            answers: list[int] = []
            poster = threading.Thread(target=lambda: answers.append(first.post(OUTCOME, "k")[0]))
            poster.start()
            deadline = time.monotonic() + 30
            while not chat.seen:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            first.server.kill()
            poster.join(timeout=30)
        assert answers == [0]  # died mid-post: never acknowledged
        with FunctionServer("notify", env=env, log_path=tmp_path / "fresh.log") as server:
            fresh = Notify(server, tmp_path / "fresh.log")
            statuses = []
            deadline = time.monotonic() + 60
            while not statuses or statuses[-1] != 200:
                assert time.monotonic() < deadline, statuses
                statuses.append(fresh.post(OUTCOME, "k")[0])
                time.sleep(0.3)
            assert fresh.post(OUTCOME, "k")[0] == 200  # and again: nothing more is sent
    assert set(statuses[:-1]) <= {500}
    # Chat received the dead sender's post and the retry: both carried one requestId, so
    # Chat created one message (the receiver does as spaces.messages.create documents).
    posted = [s for s in chat.seen if s.path.startswith("/v1/spaces")]
    assert len(posted) == 2 and len({s.query["requestId"] for s in posted}) == 1
    assert len(chat.posts) == 1
    assert len(github.issues) == 1
    done = [line["delivered"] for line in fresh.lines() if "delivered" in line]
    assert done[0] == ["chat:0", "github:0"]


def test_verification_outcomes_close_the_issue_and_land_in_the_thread(
    tmp_path: Path, receivers: tuple[ChatReceiver, GitHubReceiver, ChatReceiver]
) -> None:
    """A ticket, then verification's `resolved`: Chat replies in the incident's thread and
    the GitHub issue is closed with a comment; the incident coming back reopens it."""
    chat, github, _ = receivers
    resolved = {
        **OUTCOME,
        "action": "resolved",
        "ticket": None,
        "reasons": ["Deployment/api pulled quay.io/team/app:1 again; fixed by a human"],
        "time_to_fix_seconds": 151,
        "fixed_by": "a human",
        "event": {**OUTCOME["event"], "message_id": None, "timestamp": "2026-11-20T10:02:38Z"},
    }
    back = {**OUTCOME, "event": {**OUTCOME["event"], "message_id": "m-9", "insert_id": "i-9"}}
    with ExitStack() as stack:
        notify = _notify(stack, tmp_path, _env(chat, github))
        assert notify.post(OUTCOME, "m-1")[0] == 200
        assert notify.post(resolved, "m-2")[0] == 200
        assert notify.post(resolved, "m-2")[0] == 200  # redelivered: nothing more is done
        (issue,) = github.issues
        assert (issue["state"], issue["state_reason"]) == ("closed", "completed")
        assert len(issue["comments"]) == 1
        assert "resolved in 2m 31s by a human" in issue["comments"][0]
        assert notify.post(back, "m-3")[0] == 200
    assert github.issues[0]["state"] == "open"  # reopened, not a second issue
    assert len(github.issues) == 1 and len(github.issues[0]["comments"]) == 2
    threads = {post.body["thread"]["threadKey"] for post in chat.posts}
    assert len(chat.posts) == 3 and threads == {OUTCOME["fingerprint"]}
    assert "resolved in 2m 31s" in chat.posts[1].body["text"]


def test_slack_through_the_web_api_threads_an_incident(tmp_path: Path) -> None:
    """With a bot token (chat.postMessage), the incident's later messages — its resolution
    included — are replies in the thread of its first, by the ts Slack answered."""
    from pullfix.dev.receivers import SlackApiReceiver

    bot = "xoxb-1234567890-abcdefghij"
    config = tmp_path / "config.yaml"
    route = {"chat": "slack", "slack_token_env": "SLACK_BOT", "slack_channel": "C0PLATFORM"}
    config.write_text(yaml.safe_dump({"notify": {"routes": [route]}}))
    resolved = {
        **OUTCOME,
        "action": "resolved",
        "ticket": None,
        "reasons": ["fixed"],
        "time_to_fix_seconds": 95,
        "fixed_by": "a human",
    }
    with SlackApiReceiver(bot) as slack, ExitStack() as stack:
        log = tmp_path / "notify.log"
        server = stack.enter_context(
            FunctionServer(
                "notify",
                env={
                    "PULLFIX_CONFIG": str(config),
                    "SLACK_BOT": bot,
                    "PULLFIX_SLACK_API": slack.url,
                },
                log_path=log,
            )
        )
        notify = Notify(server, log)
        assert notify.post(OUTCOME, "m-1")[0] == 200
        assert notify.post(resolved, "m-2")[0] == 200
        assert notify.post(resolved, "m-2")[0] == 200  # redelivered: not posted again
        first, reply = slack.messages
    assert first["channel"] == reply["channel"] == "C0PLATFORM"
    assert "thread_ts" not in first and reply["thread_ts"] == first["ts"]
    assert "resolved in 1m 35s by a human" in json.dumps(reply)
    assert bot not in log.read_text()


def test_a_slack_route_needs_its_token_and_channel_together() -> None:
    from pullfix.core.config import ConfigError, config_from_dict

    with pytest.raises(ConfigError, match="slack_token_env and slack_channel go together"):
        config_from_dict(
            {"notify": {"routes": [{"chat": "slack", "slack_token_env": "SLACK_BOT"}]}}
        )
