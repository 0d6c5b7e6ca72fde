"""Google Chat as the Chat app: `remediate` asks approval, the outcome is pushed to `notify`
(functions-framework), which posts the card through the Chat API (the sandbox's
`spaces.messages.create`, real HTTP) in the incident's thread; a signed click on its button
reaches `approve`, whose grant is posted in the same thread."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from pullfix.dev.clicks import ChatSigner, chat_event, click
from pullfix.dev.events import eventarc_headers
from pullfix.dev.localrun import FunctionServer, post
from pullfix.dev.receivers import GitHubReceiver
from tests.integration.pipeline import PROD, Pipeline, event, pipeline, sa
from tests.integration.test_approve import APPROVER, AUDIENCE, IMAGE, config
from tests.integration.test_notify_event_text import MARKUP
from tests.markup import chat_card_live, chat_text_live

pytestmark = pytest.mark.integration

SPACE, OUTSIDE, GONE = "AAAAMpdlehY", "AAAAoutside", "AAAAgone000"
APPS = f"projects/{PROD}/locations/us-central1/repositories/apps"
TOKEN = "ghp_chatAppToken0123456789abcdefghijklm"


@dataclass
class Team:
    pipe: Pipeline
    notify: FunctionServer
    approve: FunctionServer
    signer: ChatSigner
    github: GitHubReceiver
    logs: Path

    def messages(self, space: str = SPACE) -> list[dict[str, Any]]:
        self.pipe.sandbox.drain(30)
        return list(self.pipe.sandbox.world.chat_spaces[space].messages)

    def outcomes(self) -> list[dict[str, Any]]:
        self.pipe.sandbox.drain(30)
        return [
            json.loads(base64.b64decode(d.message["data"]))
            for d in self.pipe.sandbox.pusher.deliveries
        ]

    def click(self, request: str, email: str = APPROVER) -> tuple[int, Any]:
        headers = {
            "Authorization": f"Bearer {self.signer.token(AUDIENCE)}",
            "Content-Type": "application/json",
        }
        return click(self.approve.url, chat_event(request, email), headers)

    def ask(self, pool: str) -> dict[str, Any]:
        """A failure on `pool`'s node: the approval request's outcome."""
        entry = event(pool, IMAGE)
        assert self.pipe.post(entry) == 200
        (asked,) = [o for o in self.outcomes() if o["event"]["insert_id"] == entry["insertId"]]
        assert asked["action"] == "approval_requested", asked
        return asked


def post_outcome(server: FunctionServer, outcome: dict[str, Any], message_id: str) -> int:
    body = {
        "message": {
            "data": base64.b64encode(json.dumps(outcome).encode()).decode(),
            "messageId": message_id,
            "publishTime": "2026-11-20T10:00:09Z",
        },
        "subscription": f"projects/{PROD}/subscriptions/pull-outcomes-push",
    }
    headers = eventarc_headers(message_id, f"projects/{PROD}/topics/pull-outcomes")
    return post(server.url, json.dumps(body).encode(), headers)


ROUTES = [
    {
        "namespace": "outsiders",
        "chat": "google",
        "google_chat_space": f"spaces/{OUTSIDE}",
        "tickets": "github",
        "github_repo": "shop/platform",
        "github_token_env": "GITHUB_TOKEN_PLATFORM",
    },
    {"namespace": "gone", "chat": "google", "google_chat_space": f"spaces/{GONE}"},
    {"chat": "google", "google_chat_space": f"spaces/{SPACE}"},
]


# Approvers by Google group: sre@ is a member of approvers@, and bob of sre@ (Cloud Identity's
# checkTransitiveMembership sees through the nesting).
GROUP, MEMBER, OUTSIDER = "approvers@example.com", "bob@example.com", "carol@example.com"


def _spaces(shape: dict[str, Any]) -> None:
    shape["chat_spaces"] = {SPACE: {}, OUTSIDE: {"app_member": False}}
    shape["groups"][GROUP] = {"members": ["group:sre@example.com"]}
    shape["groups"]["sre@example.com"] = {"members": [f"user:{MEMBER}"]}


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    tmp = tmp_path_factory.mktemp("chatapp")
    settings = config(notify={"routes": ROUTES})
    settings["auto_grant"]["approvers"].append(f"group:{GROUP}")
    with ExitStack() as stack:
        (pipe,) = stack.enter_context(pipeline(tmp, settings, ledger_firestore=True, world=_spaces))
        signer = stack.enter_context(ChatSigner())
        github = stack.enter_context(GitHubReceiver(TOKEN))
        env = {
            "PULLFIX_GCP_ENDPOINT": pipe.sandbox.endpoint,
            "PULLFIX_CONFIG": str(pipe.config_path),
            "PULLFIX_OUTCOMES_TOPIC": f"projects/{PROD}/topics/pull-outcomes",
        }
        notify = stack.enter_context(
            FunctionServer(
                "notify",
                log_path=tmp / "notify.log",
                env={
                    **env,
                    "GITHUB_TOKEN_PLATFORM": TOKEN,
                    "PULLFIX_GITHUB_API": github.url,
                },
            )
        )
        approve = stack.enter_context(
            FunctionServer(
                "approve",
                log_path=tmp / "approve.log",
                signature_type="http",
                env={
                    **env,
                    "PULLFIX_CHAT_AUDIENCE": AUDIENCE,
                    "PULLFIX_CHAT_CERTS_URL": signer.certs_url,
                },
            )
        )
        # Outcomes now go to notify, as the push subscription Terraform makes sends them.
        with pipe.sandbox.state.lock:
            pipe.sandbox.world.projects[PROD].topics["pull-outcomes"].push_endpoint = notify.url
        yield Team(pipe, notify, approve, signer, github, tmp)


def _buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        button
        for section in message["cardsV2"][0]["card"]["sections"]
        for widget in section["widgets"]
        for button in widget.get("buttonList", {}).get("buttons", [])
    ]


def test_the_approval_card_is_posted_as_the_app_and_its_click_grants_in_the_thread(
    team: Team,
) -> None:
    entry = event("storm-pool", IMAGE)
    assert team.pipe.post(entry) == 200
    (asked,) = [o for o in team.outcomes() if o["event"]["insert_id"] == entry["insertId"]]
    assert asked["action"] == "approval_requested"
    request, incident = asked["approval"]["id"], asked["fingerprint"]
    (card,) = [m for m in team.messages() if m["thread"].get("threadKey") == incident]
    assert card["sender"]["type"] == "BOT"  # posted as the app, not through a webhook
    assert card["name"].startswith(f"spaces/{SPACE}/messages/")
    # The buttons invoke the app with the request's id, and nothing else.
    assert [(b["text"], b["onClick"]["action"]) for b in _buttons(card)] == [
        (
            "Approve",
            {"function": "pullfix.approve", "parameters": [{"key": "request", "value": request}]},
        ),
        (
            "Deny",
            {"function": "pullfix.deny", "parameters": [{"key": "request", "value": request}]},
        ),
    ]
    status, answer = team.click(request)
    assert status == 200, answer
    assert f"serviceAccount:{sa('storm')}" in team.pipe.reader_members(
        f"projects/{PROD}/locations/us-central1/repositories/apps"
    )
    # The grant's outcome lands in the incident's thread, under the card.
    thread = [m for m in team.messages() if m["thread"]["name"] == card["thread"]["name"]]
    assert [m["cardsV2"][0]["card"]["header"]["title"] for m in thread] == [
        "pullfix asks approval to grant read access: role",
        "pullfix granted read access: role",
    ]
    assert f"approved in chat by {APPROVER}" in thread[1]["text"]


def test_a_post_made_again_after_its_answer_was_lost_is_one_message(
    team: Team, tmp_path: Path
) -> None:
    """Two `notify` instances that each lost the ledger's word (a memory ledger apiece: the
    first died between Chat's answer and its ledger write, the second took over) post the
    same delivery: the same requestId, so Chat returns the first message."""
    entry = event("dry-pool", IMAGE)
    assert team.pipe.post(entry) == 200
    (asked,) = [o for o in team.outcomes() if o["event"]["insert_id"] == entry["insertId"]]
    before = [m for m in team.messages() if m["thread"].get("threadKey") == asked["fingerprint"]]
    assert len(before) == 1
    memory = tmp_path / "memory.yaml"
    memory.write_text(yaml.safe_dump(config(notify={"routes": ROUTES})))
    creates = team.pipe.stats().get("chat.spaces.messages.create", 0)
    delivery = _delivery_of(team, entry)["message_id"]
    for name in ("first", "second"):
        with FunctionServer(
            "notify",
            log_path=tmp_path / f"{name}.log",
            env={"PULLFIX_GCP_ENDPOINT": team.pipe.sandbox.endpoint, "PULLFIX_CONFIG": str(memory)},
        ) as again:
            assert post_outcome(again, asked, delivery) == 200
    assert team.pipe.stats()["chat.spaces.messages.create"] == creates + 2  # Chat was asked
    after = [m for m in team.messages() if m["thread"].get("threadKey") == asked["fingerprint"]]
    assert after == before  # and answered with the first message


def _delivery_of(team: Team, entry: dict[str, Any]) -> dict[str, Any]:
    """The push delivery (to notify) of the outcome of `entry`."""
    team.pipe.sandbox.drain(30)
    ids = {
        d.message["messageId"]
        for d in team.pipe.sandbox.pusher.deliveries
        if json.loads(base64.b64decode(d.message["data"]))["event"]["insert_id"]
        == entry["insertId"]
    }
    (delivery,) = [d for d in team.pipe.sandbox.pusher.summary() if d["message_id"] in ids]
    return delivery


def test_a_space_without_the_app_is_a_logged_refusal_and_the_ticket_still_goes(
    team: Team,
) -> None:
    for index, namespace, space in ((0, "outsiders", OUTSIDE), (1, "gone", GONE)):
        entry = event(
            "default-pool",
            f"quay.io/team/{namespace}:1",
            "dial tcp 1.2.3.4:443: i/o timeout",
            namespace=namespace,
        )
        assert team.pipe.post(entry) == 200
        (outcome,) = [o for o in team.outcomes() if o["event"]["insert_id"] == entry["insertId"]]
        assert _delivery_of(team, entry)["statuses"] == [200]  # acknowledged: no retry helps
        logs = (team.logs / "notify.log").read_text()
        incident = outcome["fingerprint"]
        what = f"route {index} Google Chat app (spaces/{space})"
        assert f"{what} refused the ticket message of {incident}" in logs
        assert f"pullfix incidents show {incident}" in logs
    assert "HTTP 403 PERMISSION_DENIED: the Chat app is not a member of the space" in logs
    assert "HTTP 404 NOT_FOUND: there is no such space" in logs
    assert team.pipe.sandbox.world.chat_spaces[OUTSIDE].messages == []
    # The route's other destination still has the outcome: its ticket was filed.
    assert [i["labels"][1]["name"] for i in team.github.issues] == ["cause:network"]


def test_event_text_in_the_card_stays_text(team: Team) -> None:
    entry = event("late-pool", IMAGE)
    assert team.pipe.post(entry) == 200
    (asked,) = [o for o in team.outcomes() if o["event"]["insert_id"] == entry["insertId"]]
    hostile = copy.deepcopy(asked)
    text = " ".join(MARKUP)
    hostile["event"].update(workload=text, pod=text, image=text, message_id="hostile-1")
    hostile["reasons"] = [*asked["reasons"][:2], text]
    hostile["fingerprint"] = "grant-" + "e" * 32
    assert post_outcome(team.notify, hostile, "hostile-1") == 200
    (posted,) = [
        m for m in team.messages() if m["thread"].get("threadKey") == hostile["fingerprint"]
    ]
    assert chat_text_live(posted["text"]) == []
    assert chat_card_live(posted) == []
    assert "users/all" in posted["text"]  # shown, as text
    request = asked["approval"]["id"]
    assert {p["value"] for b in _buttons(posted) for p in b["onClick"]["action"]["parameters"]} == {
        request
    }


def test_a_chat_outage_is_retried_and_posts_once(team: Team) -> None:
    team.pipe.sandbox.add_fault(method="chat.spaces.messages.create", status=503, count=2)
    entry = event("flaky-pool", IMAGE)
    assert team.pipe.post(entry) == 200
    assert _delivery_of(team, entry)["statuses"] == [500, 500, 200]  # Pub/Sub redelivered
    (asked,) = [o for o in team.outcomes() if o["event"]["insert_id"] == entry["insertId"]]
    posted = [m for m in team.messages() if m["thread"].get("threadKey") == asked["fingerprint"]]
    assert len(posted) == 1
    assert "will be retried: route 2 Google Chat app" in (team.logs / "notify.log").read_text()


def test_a_member_of_an_approvers_group_approves_and_anyone_else_is_refused(team: Team) -> None:
    request = team.ask("race-pool")["approval"]["id"]
    status, answer = team.click(request, OUTSIDER)
    assert (status, answer) == (
        403,
        f"forbidden: {OUTSIDER} is not an approver of pullfix's grants",
    )
    assert f"serviceAccount:{sa('race')}" not in team.pipe.reader_members(APPS)
    status, answer = team.click(request, MEMBER)  # through sre@, nested in approvers@
    assert status == 200, answer
    assert f"serviceAccount:{sa('race')}" in team.pipe.reader_members(APPS)
    calls = team.pipe.stats()
    assert calls["cloudidentity.groups.lookup"] >= 2
    assert calls["cloudidentity.groups.memberships.checkTransitiveMembership"] >= 2


def test_a_group_lookup_that_is_denied_refuses_the_click(team: Team) -> None:
    request = team.ask("twice-pool")["approval"]["id"]
    team.pipe.sandbox.add_fault(method="cloudidentity.groups.lookup", status=403)
    status, answer = team.click(request, MEMBER)
    assert status == 403
    assert f"{MEMBER}'s membership in the approvers' group {GROUP} could not be checked" in answer
    assert f"serviceAccount:{sa('twice')}" not in team.pipe.reader_members(APPS)
    # The request is still pending: the next click, checked again, decides it.
    status, answer = team.click(request, MEMBER)
    assert status == 200, answer
    assert f"serviceAccount:{sa('twice')}" in team.pipe.reader_members(APPS)
