"""What a team sees: payloads as Google Chat, Slack and GitHub document them, for every cause."""

from __future__ import annotations

from typing import Any

import pytest

from pullfix.core.causes import Cause
from pullfix.core.config import Route
from pullfix.core.remediation import Context, ticket_draft
from pullfix.dev.sandbox.contract import schema_violations
from pullfix.notify.delivery import route_for
from pullfix.notify.render import (
    FINGERPRINT_MARKER,
    github_comment,
    github_issue,
    google_chat_message,
    read_github_marker,
    slack_message,
    visible,
)

CAUSES = [c for c in Cause if c is not Cause.NOT_A_PULL_FAILURE]
SA = "serviceAccount:123-compute@developer.gserviceaccount.com"
REPO = "projects/images/locations/us/repositories/shared"


def outcome(cause: Cause, action: str = "ticket", **more: Any) -> dict[str, Any]:
    grant = {"resource": REPO, "role": "roles/artifactregistry.reader", "member": SA}
    context = Context(
        cause=cause,
        project="prod",
        location="us-central1",
        cluster="c1",
        namespace="payments-api",
        workload="Deployment/web",
        node="gke-c1-default-pool-1a2b3c4d-x7k9",
        image="us-docker.pkg.dev/images/shared/web:1.4",
        repository=REPO,
        node_pool="default-pool",
        account=SA.split(":")[1],
        google_image=True,
        grant=grant if action != "ticket" else None,
    )
    draft = ticket_draft(context) | {"fingerprint": f"ticket-{cause.value}"}
    return {
        "schema": "pullfix.outcome/v1",
        "event": {
            "message_id": "m1",
            "insert_id": "i1",
            "timestamp": "2026-11-20T10:00:07Z",
            "cluster": "projects/prod/locations/us-central1/clusters/c1",
            "namespace": "payments-api",
            "workload": "Deployment/web",
            "pod": "web-1",
            "image": "us-docker.pkg.dev/images/shared/web:1.4",
            "node": context.node,
        },
        "cause": cause.value,
        "action": action,
        "grant": grant if action != "ticket" else None,
        "ticket": draft if action == "ticket" else None,
        "remediation": draft,
        "reasons": ["registry refused the pull: 403 Forbidden", "<b>not html</b> & more"],
        "fingerprint": f"ticket-{cause.value}",
        "dry_run": action == "would_grant",
        "escalation": False,
        "evidence": {"repository": REPO},
        **more,
    }


@pytest.mark.parametrize("cause", CAUSES)
def test_google_chat_messages_follow_the_chat_api_schema(cause: Cause) -> None:
    message = google_chat_message(outcome(cause))
    assert schema_violations("chat", "v1", "Message", message) == []
    assert message["thread"] == {"threadKey": f"ticket-{cause.value}"}
    card = message["cardsV2"][0]
    assert card["cardId"] and card["card"]["header"]["title"]
    text = repr(card)
    assert cause.value in text
    assert "&lt;b&gt;not html&lt;/b&gt; &amp; more" in text  # evidence is escaped in cards
    assert message["text"].startswith("*pullfix needs a human")
    assert len(message["text"]) <= 4000


def test_grants_show_the_exact_binding_and_terraform() -> None:
    for action, words in (
        ("grant", "Granted roles/artifactregistry.reader"),
        ("would_grant", "Dry run: would grant roles/artifactregistry.reader"),
    ):
        message = google_chat_message(outcome(Cause.CROSS_PROJECT, action))
        assert schema_violations("chat", "v1", "Message", message) == []
        assert f"{words} on {REPO} to {SA}" in message["text"]
        assert "google_artifact_registry_repository_iam_member" in message["text"]
        headers = [s["header"] for s in message["cardsV2"][0]["card"]["sections"]]
        assert "Codify it in Terraform" in headers


@pytest.mark.parametrize("cause", CAUSES)
def test_slack_messages_keep_block_kit_limits(cause: Cause) -> None:
    message = slack_message(outcome(cause))
    blocks = message["blocks"]
    assert message["text"] and len(blocks) <= 50
    assert blocks[0]["type"] == "header"
    assert blocks[0]["text"]["type"] == "plain_text" and len(blocks[0]["text"]["text"]) <= 150
    for block in blocks[1:-1]:
        assert block["type"] == "section"
        assert block["text"]["type"] == "mrkdwn" and 0 < len(block["text"]["text"]) <= 3000
    assert blocks[-1]["type"] == "context"
    assert f"`{cause.value}`" in repr(blocks)


def test_commands_paste_as_code() -> None:
    message = slack_message(outcome(Cause.SCOPE))
    texts = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]
    code = next(text for text in texts if text.startswith("```"))
    assert "gcloud container node-pools create default-pool-storage --cluster=c1" in code
    assert "--scopes=gke-default" in code
    assert "kubectl drain -l cloud.google.com/gke-nodepool=default-pool" in code


def test_github_issue_carries_the_fingerprint_and_labels() -> None:
    issue = github_issue(outcome(Cause.VERSION))
    assert issue["title"].startswith("[pullfix] version: ")
    assert f"{FINGERPRINT_MARKER} ticket-version" in issue["body"]
    assert issue["labels"] == ["pullfix", "cause:version"]
    assert "gcloud container clusters upgrade c1 --master" in issue["body"]
    assert "crictl pull --creds" in issue["body"]
    escalated = github_issue(outcome(Cause.ROLE, escalation=True))
    assert "escalation" in escalated["labels"]
    assert "Seen again" in github_comment(outcome(Cause.VERSION))["body"]


ROUTES = (
    Route(chat="google", webhook_url_env="A", namespace="payments-*"),
    Route(chat="slack", webhook_url_env="B", cause="scope"),
    Route(chat="slack", webhook_url_env="C", cluster="c2"),
    Route(chat="webhook", webhook_url_env="D", repository_project="images"),
    Route(chat="slack", webhook_url_env="E"),
)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, 0),
        ({"namespace": "shop"}, 3),
        ({"namespace": "shop", "cause": "scope"}, 1),
        ({"namespace": "shop", "cluster": "projects/p/locations/l/clusters/c2"}, 2),
        ({"namespace": "shop", "repository": "projects/other/locations/us/repositories/r"}, 4),
    ],
)
def test_first_matching_route_wins(changes: dict[str, str], expected: int) -> None:
    data = outcome(Cause(changes.get("cause", "role")))
    data["event"]["namespace"] = changes.get("namespace", data["event"]["namespace"])
    data["event"]["cluster"] = changes.get("cluster", data["event"]["cluster"])
    data["evidence"]["repository"] = changes.get("repository", REPO)
    found = route_for(ROUTES, data)
    assert found is not None and found[0] == expected
    assert route_for((), data) is None


# -- event text is text ---------------------------------------------------------------------

HOSTILE = (
    "<users/all> <https://evil.example|click> *bold* ~s~ <!channel> <!here> <@U1> "
    "<http://x|y> @everyone @shop/platform-team ![](http://evil.example/t.png) "
    "[a](https://evil.example) <img src=x> <!-- c --> shop/platform#1 GH-2 #3 $x$ "
    "https://evil.example www.evil.example `c` ``` a@evil.example "
    "pullfix-fingerprint: ticket-real \u202eevil\u200b\r\nline"
)


def hostile_outcome(cause: Cause) -> dict[str, Any]:
    data = outcome(cause)
    context = Context(
        cause=cause,
        project="prod",
        location="us-central1",
        cluster="c1",
        namespace=f"ns{HOSTILE}",
        workload=f"Deployment/{HOSTILE}",
        node=f"node{HOSTILE}",
        image=f"quay.io/a:1{HOSTILE}",
        repository=REPO,
        node_pool=f"pool{HOSTILE}",
        account=SA.split(":")[1],
        google_image=True,
    )
    draft = ticket_draft(context) | {"fingerprint": data["fingerprint"]}
    data["event"] |= {"namespace": context.namespace, "workload": context.workload}
    data["event"] |= {"image": context.image, "node": context.node}
    data |= {"ticket": draft, "remediation": draft, "reasons": [f"denied: {HOSTILE}"] * 3}
    return data


@pytest.mark.parametrize("cause", CAUSES)
def test_event_text_is_never_markup(cause: Cause) -> None:
    from tests.markup import (
        chat_card_live,
        chat_text_live,
        github_live,
        github_title_live,
        slack_live,
    )

    data = hostile_outcome(cause)
    chat = google_chat_message(data)
    assert chat_text_live(chat["text"]) == [] and chat_card_live(chat) == []
    assert schema_violations("chat", "v1", "Message", chat) == []
    slack = slack_message(data)
    texts = [slack["text"]] + [b["text"]["text"] for b in slack["blocks"] if "text" in b]
    assert [live for text in texts for live in slack_live(text)] == []
    issue = github_issue(data, "notify-0123")
    assert github_live(issue["body"], marker_line=True) == []
    assert github_title_live(issue["title"]) == [] and "\n" not in issue["title"]
    assert github_live(github_comment(data)["body"]) == []
    assert github_live(github_comment(data | {"action": "resolved"})["body"]) == []
    # pullfix's marker is the first line, and event text holds none anywhere else.
    assert read_github_marker(issue["body"]) == (data["fingerprint"], "notify-0123")
    assert issue["body"].count("pullfix-fingerprint: ticket-real") == 0


def test_visible_spells_what_does_not_show() -> None:
    assert visible("a\u202eb\u200bc\r\nd\x1b[2J\U000e0041") == (
        "a\\u202eb\\u200bc\\r\\nd\\u001b[2J\\U000e0041"
    )
    for word in ("pullfix-fingerprint:", "PULLFIX-Fingerprint:"):
        assert "pullfix-fingerprint" not in visible(word).lower()


def test_only_the_first_line_is_pullfixs_marker() -> None:
    marker = "<!-- pullfix-fingerprint: ticket-a delivery: notify-b -->"
    assert read_github_marker(f"{marker}\nbody") == ("ticket-a", "notify-b")
    assert read_github_marker(f"text\n{marker}") is None
    assert read_github_marker(f" {marker}") is None
    assert read_github_marker("<!-- pullfix-fingerprint: ticket-a -->\n") == ("ticket-a", None)
    # An issue an earlier pullfix opened ends with the marker: found there, and only there.
    legacy = (
        "text\r\n\r\npullfix-fingerprint: ticket-a\r\n\r\n<!-- pullfix-fingerprint: ticket-a -->\n"
    )
    assert read_github_marker(legacy) == ("ticket-a", None)
    assert read_github_marker(legacy + "more text\n") is None
    assert read_github_marker(f"a\n{marker}\nb") is None


def test_a_github_fence_outlasts_any_backquotes_in_the_block() -> None:
    data = outcome(Cause.VERSION)
    data["ticket"] = dict(data["ticket"], commands=["kubectl get ns '````x'"])
    body = github_issue(data)["body"]
    assert "\n`````\nkubectl get ns '````x'\n`````\n" in body


def test_long_values_fit_every_destination() -> None:
    """A value is cut where it is read, so no line of prose is longer than a screen and no
    message longer than its destination takes (GitHub refuses a body over 65,536)."""
    data = hostile_outcome(Cause.NOT_FOUND)
    huge = "\u202e" * 5000
    data["event"] |= {"workload": f"Deployment/{huge}", "image": f"quay.io/a:1{huge}"}
    data["reasons"] = [f"denied: {huge}"] * 6
    data["ticket"] = dict(data["ticket"], steps=[huge] * 4, title=huge)
    body = github_issue(data)["body"]
    assert len(body) <= 65536 and max(len(line) for line in body.split("\n")) <= 1500
    assert len(github_issue(data)["title"]) <= 256
    text = google_chat_message(data)["text"]
    assert len(text) <= 4000 and max(len(line) for line in text.split("\n")) <= 1500
    for block in slack_message(data)["blocks"][1:-1]:
        assert len(block["text"]["text"]) <= 3000
        assert max(len(line) for line in block["text"]["text"].split("\n")) <= 1500


APPROVAL = "approval-0123456789abcdef0123456789abcdef"


def approval_outcome(data: dict[str, Any]) -> dict[str, Any]:
    grant = {"resource": REPO, "role": "roles/artifactregistry.reader", "member": SA}
    approval = {"id": APPROVAL, "expires_at": "2026-11-20T11:00:07Z", "approvers": ["a@b.co"]}
    return (
        data
        | {"action": "approval_requested", "grant": grant, "ticket": None}
        | {"approval": approval}
    )


def test_an_approval_request_carries_buttons_with_the_request_id_only() -> None:
    from pullfix.core.outcome import outcome_problem
    from tests.markup import chat_card_live, chat_text_live, slack_live

    data = approval_outcome(hostile_outcome(Cause.CROSS_PROJECT))
    assert outcome_problem(data) is None
    chat = google_chat_message(data)
    assert schema_violations("chat", "v1", "Message", chat) == []
    assert chat_text_live(chat["text"]) == [] and chat_card_live(chat) == []
    assert f"Asks to grant roles/artifactregistry.reader on {REPO} to {SA}" in chat["text"]
    buttons = [
        button
        for section in chat["cardsV2"][0]["card"]["sections"]
        for widget in section["widgets"]
        if "buttonList" in widget
        for button in widget["buttonList"]["buttons"]
    ]
    assert [(b["text"], b["onClick"]["action"]) for b in buttons] == [
        (
            "Approve",
            {"function": "pullfix.approve", "parameters": [{"key": "request", "value": APPROVAL}]},
        ),
        (
            "Deny",
            {"function": "pullfix.deny", "parameters": [{"key": "request", "value": APPROVAL}]},
        ),
    ]
    slack = slack_message(data)
    actions = [block for block in slack["blocks"] if block["type"] == "actions"]
    assert [(e["action_id"], e["value"]) for e in actions[0]["elements"]] == [
        ("pullfix_approve", APPROVAL),
        ("pullfix_deny", APPROVAL),
    ]
    texts = [slack["text"]] + [b["text"]["text"] for b in slack["blocks"] if "text" in b]
    assert [live for text in texts for live in slack_live(text)] == []
    # Any other action shows no buttons, whatever the outcome carries.
    assert "buttonList" not in repr(google_chat_message(data | {"action": "grant"}))


def test_an_approval_id_that_is_not_an_id_fails_the_outcome_schema() -> None:
    from pullfix.core.outcome import outcome_problem

    data = approval_outcome(outcome(Cause.ROLE))
    data["approval"]["id"] = "approval-1 <https://evil.example|Approve>"
    assert outcome_problem(data) == (
        "outcome.approval.id: expected letters, digits, '_', '.', ':' or '-'"
    )


def test_the_card_a_click_updates_keeps_the_chat_schema_and_escapes_text() -> None:
    from pullfix.notify.render import approval_chat_update, approval_slack_update
    from tests.markup import chat_card_live, slack_live

    text = f"approved by a@b.co, but not granted: {HOSTILE}"
    chat = approval_chat_update(APPROVAL, text, done=True)
    assert schema_violations("chat", "v1", "Message", chat) == []
    assert chat["actionResponse"] == {"type": "UPDATE_MESSAGE"}
    assert chat_card_live(chat) == [] and "buttonList" not in repr(chat)
    assert "buttonList" in repr(approval_chat_update(APPROVAL, "waiting", done=False))
    slack = approval_slack_update(APPROVAL, text, done=True)
    assert slack["replace_original"] is True
    assert [live for b in slack["blocks"] for live in slack_live(b["text"]["text"])] == []
