"""Approval in chat: `remediate` asks, the `approve` function (functions-framework, real HTTP)
decides, once, and only for a click whose sender is proven and whose user is an approver.

Chat tokens are signed with a local key whose certificate is served on loopback, where
google-auth fetches it (`PULLFIX_CHAT_CERTS_URL`); Slack clicks are signed with a test signing
secret. The ledger is Firestore (the sandbox's), shared by `remediate` and `approve`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from pullfix.dev.clicks import ChatSigner, chat_event, click, slack_body, slack_headers
from pullfix.dev.localrun import FunctionServer
from tests.integration.pipeline import CONFIG, PROD, Pipeline, event, pipeline, sa

pytestmark = pytest.mark.integration

AUDIENCE = "123456789012"  # the Chat app's project number
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # a test signing secret
APPROVER, SLACK_APPROVER = "alice@example.com", "U0APPROVER"
APPS = f"projects/{PROD}/locations/us-central1/repositories/apps"
IMAGE = f"us-central1-docker.pkg.dev/{PROD}/apps/web:1.0"
LIFETIME = 20  # seconds a request can be approved (the expiry test waits it out)


def config(**changes: Any) -> dict[str, Any]:
    auto = {
        **CONFIG["auto_grant"],
        "approval": "required",
        "approvers": [APPROVER, f"slack:{SLACK_APPROVER}"],
        "approval_expires_after": f"{LIFETIME}s",
    }
    return {**CONFIG, "auto_grant": auto, **changes}


@dataclass
class Approve:
    pipe: Pipeline
    server: FunctionServer
    signer: ChatSigner
    dry_server: FunctionServer  # the same, under a config that turned dry run on

    def request(self, pool: str) -> dict[str, Any]:
        """A failure on `pool`'s node: remediate asks approval; its outcome."""
        entry = event(pool, IMAGE)
        assert self.pipe.post(entry) == 200
        outcome = self.pipe.one_outcome(entry)
        assert outcome["action"] == "approval_requested", outcome
        return outcome

    def chat(
        self, request: str, email: str = APPROVER, verdict: str = "approve", **token: Any
    ) -> tuple[int, Any]:
        headers = {
            "Authorization": f"Bearer {self.signer.token(AUDIENCE, **token)}",
            "Content-Type": "application/json",
        }
        return click(self.server.url, chat_event(request, email, verdict), headers)

    def slack(
        self, request: str, user: str = SLACK_APPROVER, verdict: str = "approve"
    ) -> tuple[int, Any]:
        body = slack_body(request, user, verdict)
        return click(self.server.url, body, slack_headers(body, SECRET))

    def readers(self) -> set[str]:
        return self.pipe.reader_members(APPS)

    def iam_writes(self) -> int:
        return sum(n for method, n in self.pipe.stats().items() if method.endswith("setIamPolicy"))


@pytest.fixture(scope="module")
def approve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Approve]:
    tmp = tmp_path_factory.mktemp("approve")
    with ExitStack() as stack:
        (pipe,) = stack.enter_context(pipeline(tmp, config(), ledger_firestore=True))
        signer = stack.enter_context(ChatSigner())
        env = {
            "PULLFIX_GCP_ENDPOINT": pipe.sandbox.endpoint,
            "PULLFIX_CONFIG": str(pipe.config_path),
            "PULLFIX_OUTCOMES_TOPIC": f"projects/{PROD}/topics/pull-outcomes",
            "PULLFIX_CHAT_AUDIENCE": AUDIENCE,
            "PULLFIX_CHAT_CERTS_URL": signer.certs_url,
            "PULLFIX_SLACK_SIGNING_SECRET": SECRET,
        }
        dry = config(dry_run=True, ledger={"firestore": {"project": PROD}})
        (tmp / "dry.yaml").write_text(yaml.safe_dump(dry))
        servers = [
            stack.enter_context(
                FunctionServer(
                    "approve", env=variables, log_path=tmp / f"{name}.log", signature_type="http"
                )
            )
            for name, variables in (
                ("approve", env),
                ("approve-dry", {**env, "PULLFIX_CONFIG": str(tmp / "dry.yaml")}),
            )
        ]
        yield Approve(pipe, servers[0], signer, servers[1])


def card_text(answer: dict[str, Any]) -> str:
    """The text of a Chat card update (the `approve` function's answer)."""
    assert answer["actionResponse"] == {"type": "UPDATE_MESSAGE"}
    return str(answer["cardsV2"][0]["card"]["sections"][0]["widgets"][0]["textParagraph"]["text"])


def buttons(answer: dict[str, Any]) -> int:
    widgets = answer["cardsV2"][0]["card"]["sections"][0]["widgets"]
    return sum(len(w["buttonList"]["buttons"]) for w in widgets if "buttonList" in w)


def test_a_grant_routed_to_approval_asks_and_changes_nothing(approve: Approve) -> None:
    outcome = approve.request("dry-pool")
    member = f"serviceAccount:{sa('dry')}"
    assert outcome["grant"] == {
        "resource": APPS,
        "role": "roles/artifactregistry.reader",
        "member": member,
    }
    assert outcome["approval"]["id"].startswith("approval-")
    assert outcome["approval"]["approvers"] == [APPROVER, f"slack:{SLACK_APPROVER}"]
    assert member not in approve.readers()
    # The next failure of the incident joins the request: one request, one card.
    again = event("dry-pool", IMAGE)
    assert approve.pipe.post(again) == 200
    assert approve.pipe.outcomes_for(again) == []


def test_an_approvers_chat_click_grants_once_and_updates_the_card(approve: Approve) -> None:
    outcome = approve.request("storm-pool")
    request, member = outcome["approval"]["id"], f"serviceAccount:{sa('storm')}"
    writes = approve.iam_writes()
    status, answer = approve.chat(request)
    assert status == 200, answer
    assert f"approved by {APPROVER}" in card_text(answer)
    assert buttons(answer) == 0
    assert member in approve.readers()
    assert approve.iam_writes() == writes + 1
    # The grant's outcome goes to the incident's thread, saying who approved it.
    granted = [
        o
        for o in approve.pipe.outcomes()
        if o["fingerprint"] == outcome["fingerprint"] and o["action"] == "grant"
    ]
    assert len(granted) == 1
    assert f"approved in chat by {APPROVER}" in granted[0]["reasons"]
    # A second click (a new token) and a Slack click: told, and nothing written.
    status, answer = approve.chat(request)
    assert (status, card_text(answer).startswith("already approved by")) == (200, True)
    status, answer = approve.slack(request)
    assert status == 200 and "already approved by" in answer["text"]
    assert approve.iam_writes() == writes + 1


def test_a_double_click_and_a_redelivery_give_one_grant(approve: Approve) -> None:
    request = approve.request("redeliver-pool")["approval"]["id"]
    writes = approve.iam_writes()
    token = approve.signer.token(AUDIENCE)
    body = chat_event(request, APPROVER)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    answers: list[tuple[int, Any]] = []

    def double() -> None:
        answers.append(approve.chat(request))

    threads = [threading.Thread(target=double) for _ in range(3)]
    for thread in threads:
        thread.start()
    answers.append(click(approve.server.url, body, headers))
    for thread in threads:
        thread.join()
    assert [status for status, _ in answers] == [200] * 4
    # The very same request delivered again: a replay, refused before anything is read.
    status, text = click(approve.server.url, body, headers)
    assert status == 401 and "replay" in text
    assert f"serviceAccount:{sa('redeliver')}" in approve.readers()
    assert approve.iam_writes() == writes + 1


@pytest.mark.parametrize(
    ("case", "pool", "reason"),
    [
        ("basic auth", "hot-0", "no Google Chat bearer token"),
        ("another key", "hot-1", "does not verify"),
        ("expired", "hot-2", "does not verify: expired"),
        ("issued later", "hot-3", "does not verify"),
        ("another audience", "hot-4", "does not verify: audience"),
        ("another issuer", "hot-5", "not issued by chat@system.gserviceaccount.com"),
    ],
)
def test_a_forged_chat_click_is_refused_and_changes_nothing(
    approve: Approve, case: str, pool: str, reason: str
) -> None:
    request = approve.request(pool)["approval"]["id"]
    writes = approve.iam_writes()
    body = chat_event(request, APPROVER)
    now = time.time()
    if case == "another key":
        with ChatSigner() as other:  # same key id, another key: the signature fails
            token = other.token(AUDIENCE)
    else:
        token = approve.signer.token(
            "999999999999" if case == "another audience" else AUDIENCE,
            issuer="someone@example.iam.gserviceaccount.com"
            if case == "another issuer"
            else "chat@system.gserviceaccount.com",
            issued={"expired": now - 7200, "issued later": now + 3600}.get(case, now),
        )
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    if case == "basic auth":
        headers["Authorization"] = "Basic YWxpY2VAZXhhbXBsZS5jb206cGFzcw=="
    status, text = click(approve.server.url, body, headers)
    assert status == 401, text
    assert reason in text
    assert token not in text
    assert approve.iam_writes() == writes
    # The request is untouched: the approver's real click still decides it.
    status, answer = approve.chat(request, verdict="deny")
    assert status == 200 and f"denied by {APPROVER}" in card_text(answer)


def test_slack_clicks_signed_wrong_stale_or_replayed_are_refused(approve: Approve) -> None:
    request = approve.request("race-pool")["approval"]["id"]
    writes = approve.iam_writes()
    body = slack_body(request, SLACK_APPROVER)
    refused = {
        "wrong secret": slack_headers(body, "not-the-secret"),
        "stale": slack_headers(body, SECRET, time.time() - 301),
        "ahead": slack_headers(body, SECRET, time.time() + 301),
        "another body": slack_headers(slack_body(request, "U0SOMEONE"), SECRET),
    }
    for case, headers in refused.items():
        status, text = click(approve.server.url, body, headers)
        assert status == 401, (case, text)
        assert SECRET not in text
    assert approve.iam_writes() == writes
    signed = slack_headers(body, SECRET)
    status, answer = click(approve.server.url, body, signed)
    assert status == 200, answer
    assert answer["replace_original"] is True
    assert f"approved by slack:{SLACK_APPROVER}" in answer["text"]
    assert f"serviceAccount:{sa('race')}" in approve.readers()
    status, text = click(approve.server.url, body, signed)
    assert status == 401 and "replay" in text
    assert approve.iam_writes() == writes + 1


def test_a_click_by_someone_not_an_approver_is_forbidden(approve: Approve) -> None:
    request = approve.request("flaky-pool")["approval"]["id"]
    status, text = approve.chat(request, email="mallory@example.com")
    assert status == 403 and "mallory@example.com is not an approver" in text
    status, text = approve.slack(request, user="U0MALLORY")
    assert status == 403 and "not an approver" in text
    assert f"serviceAccount:{sa('flaky')}" not in approve.readers()
    # Still pending: the buttons stay for an approver.
    status, answer = approve.chat(request, verdict="deny")
    assert status == 200 and "denied" in card_text(answer)


def test_a_denied_request_stays_denied(approve: Approve) -> None:
    outcome = approve.request("slow-pool")
    request = outcome["approval"]["id"]
    status, answer = approve.slack(request, verdict="deny")
    assert status == 200 and f"denied by slack:{SLACK_APPROVER}" in answer["text"]
    assert "actions" not in [block["type"] for block in answer["blocks"]]
    writes = approve.iam_writes()
    status, answer = approve.chat(request)
    assert status == 200 and card_text(answer).startswith("already denied by")
    # Later failures of the incident do not ask again while the denial stands.
    again = event("slow-pool", IMAGE)
    assert approve.pipe.post(again) == 200
    assert approve.pipe.outcomes_for(again) == []
    assert approve.iam_writes() == writes
    assert f"serviceAccount:{sa('slow')}" not in approve.readers()


def test_an_approval_after_the_config_turned_dry_run_on_grants_nothing(approve: Approve) -> None:
    request = approve.request("late-pool")["approval"]["id"]
    writes = approve.iam_writes()
    headers = {
        "Authorization": f"Bearer {approve.signer.token(AUDIENCE)}",
        "Content-Type": "application/json",
    }
    status, answer = click(approve.dry_server.url, chat_event(request, APPROVER), headers)
    assert status == 200, answer
    text = card_text(answer)
    assert "but not granted" in text and "dry run" in text
    assert approve.iam_writes() == writes
    assert f"serviceAccount:{sa('late')}" not in approve.readers()


def test_an_expired_request_grants_nothing(approve: Approve) -> None:
    request = approve.request("twice-pool")["approval"]["id"]
    time.sleep(LIFETIME + 1)
    writes = approve.iam_writes()
    status, answer = approve.chat(request)
    assert status == 200 and card_text(answer).startswith("expired at")
    assert buttons(answer) == 0
    assert approve.iam_writes() == writes
    assert f"serviceAccount:{sa('twice')}" not in approve.readers()


def test_bad_requests_are_refused_without_a_trace_of_the_secret(approve: Approve) -> None:
    status, text = click(approve.server.url, b"{}", {"Content-Type": "application/json"})
    assert status == 401 and "no Google Chat token and no Slack signature" in text
    headers = {"Authorization": f"Bearer {approve.signer.token(AUDIENCE)}"}
    # The app added to a space: a line of help, nothing decided.
    body = json.dumps({"type": "ADDED_TO_SPACE", "space": {"name": "spaces/A"}}).encode()
    status, answer = click(approve.server.url, body, headers)
    assert status == 200 and "only their buttons act" in answer["text"]
    # A click on something that is not pullfix's button.
    body = json.dumps({"type": "CARD_CLICKED", "common": {"invokedFunction": "x"}}).encode()
    status, text = click(approve.server.url, body, headers)
    assert status == 400 and "not an Approve or Deny button of pullfix" in text
    log = Path(str(approve.server.log_path)).read_text()
    assert SECRET not in log
    assert "Bearer" not in log
