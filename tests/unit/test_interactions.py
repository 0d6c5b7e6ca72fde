"""Who sent a click (a Google Chat token, a Slack signature) and what it says."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from pullfix.dev.clicks import ChatSigner, chat_event, slack_body, slack_headers
from pullfix.entrypoints import _verify_token
from pullfix.notify.interactions import (
    BadClick,
    Forged,
    chat_click,
    slack_click,
    verify_chat,
    verify_slack,
)

URL = "https://us-central1-p.cloudfunctions.net/pullfix-approve"
REQUEST = "approval-0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def signer() -> Iterator[ChatSigner]:
    with ChatSigner() as running:
        yield running


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_an_app_url_audience_takes_googles_id_token_for_chat_only(signer: ChatSigner) -> None:
    # With the app's URL as audience, Chat sends a Google ID token whose email is Chat's.
    good = {"email": "chat@system.gserviceaccount.com", "email_verified": True}
    token = signer.token(URL, issuer="https://accounts.google.com", extra=good)
    claims = verify_chat(bearer(token), URL, _verify_token, signer.certs_url)
    assert claims["email"] == "chat@system.gserviceaccount.com"
    for other in (
        {"email": "someone@example.com", "email_verified": True},
        {"email": "chat@system.gserviceaccount.com", "email_verified": False},
    ):
        token = signer.token(URL, issuer="https://accounts.google.com", extra=other)
        with pytest.raises(Forged, match=r"not chat@system\.gserviceaccount\.com's"):
            verify_chat(bearer(token), URL, _verify_token, signer.certs_url)


def test_chat_clicks_are_refused_when_no_audience_is_configured(signer: ChatSigner) -> None:
    token = signer.token("123")
    with pytest.raises(Forged, match="PULLFIX_CHAT_AUDIENCE is not set"):
        verify_chat(bearer(token), None, _verify_token, signer.certs_url)
    with pytest.raises(Forged, match="does not verify: malformed"):
        verify_chat(bearer("not.a.jwt"), "123", _verify_token, signer.certs_url)


def test_a_slack_signature_is_checked_over_the_exact_body_and_recent_time() -> None:
    body = slack_body(REQUEST, "U1")
    now = time.time()
    assert verify_slack(slack_headers(body, "s3cret", now), body, "s3cret", now).startswith("v0=")
    with pytest.raises(Forged, match="does not match"):
        verify_slack(slack_headers(body, "s3cret", now), body + b"&x=1", "s3cret", now)
    with pytest.raises(Forged, match="five minutes"):
        verify_slack(slack_headers(body, "s3cret", now - 301), body, "s3cret", now)
    with pytest.raises(Forged, match="not set"):
        verify_slack(slack_headers(body, "s3cret", now), body, None, now)
    headers = slack_headers(body, "s3cret", now) | {
        "X-Slack-Request-Timestamp": "\uff11\uff12\uff13"
    }
    with pytest.raises(Forged, match="Timestamp"):
        verify_slack(headers, body, "s3cret", now)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"type": "MESSAGE"}, "not a card click"),
        (
            {"common": {"invokedFunction": "other", "parameters": {}}, "action": {}},
            "not an Approve",
        ),
        ({"user": {"email": "a@b.co", "type": "BOT"}}, "no human user"),
        (
            {"common": {"invokedFunction": "pullfix.approve", "parameters": {"request": "x"}}},
            "no request id",
        ),
    ],
)
def test_a_chat_event_that_is_no_click_on_pullfixs_buttons_is_a_bad_click(
    change: dict[str, object], problem: str
) -> None:
    import json

    event = json.loads(chat_event(REQUEST, "a@b.co")) | change
    if "common" in change:
        event["action"] = {}
    with pytest.raises(BadClick, match=problem):
        chat_click(json.dumps(event).encode())


def test_clicks_name_the_platforms_user_and_the_buttons_request() -> None:
    click = chat_click(chat_event(REQUEST, "Alice@Example.com", "deny"))
    assert (click.request, click.verdict, click.user) == (REQUEST, "deny", "Alice@Example.com")
    slack = slack_click(slack_body(REQUEST, "U0ABC"))
    assert (slack.click.user, slack.click.verdict) == ("slack:U0ABC", "approve")
    with pytest.raises(BadClick, match="no Slack user"):
        slack_click(slack_body(REQUEST, "<@U1>"))


def test_the_certificates_url_is_honoured_only_beside_a_sandbox(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pullfix.entrypoints import _certs_url

    monkeypatch.setenv("PULLFIX_CHAT_CERTS_URL", "http://127.0.0.1:9/certs")
    monkeypatch.delenv("PULLFIX_GCP_ENDPOINT", raising=False)
    assert _certs_url() is None  # a deployment: Google's keys, whatever the variable says
    monkeypatch.setenv("PULLFIX_GCP_ENDPOINT", "http://127.0.0.1:8")
    assert _certs_url() == "http://127.0.0.1:9/certs"
