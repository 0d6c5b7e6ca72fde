"""Clicks on pullfix's Approve and Deny buttons: who sent them, and what they say.

Nothing in a click is believed before its sender is: a Google Chat click carries a bearer
token Google signs, a Slack click a signature made with the app's signing secret. Either is
checked first, and a click that fails the check is answered 401 with a short reason, having
read nothing else. Only then is the body parsed, and only the request id and the button are
taken from it, with the user the platform names.

Google Chat (https://developers.google.com/workspace/chat/verify-requests-from-chat): the
`Authorization: Bearer` token's audience is what the Chat app's "Authentication audience" is
set to. With the project number, the token is a JWT that chat@system.gserviceaccount.com
signs (issuer chat@system.gserviceaccount.com), checked against that account's certificates
(https://www.googleapis.com/service_accounts/v1/metadata/x509/chat@system.gserviceaccount.com).
With the app's URL, it is a Google ID token (issuer accounts.google.com) whose `email` is
chat@system.gserviceaccount.com, checked against Google's OAuth 2.0 certificates. Either way
google-auth checks the signature, the expiry and the audience (`id_token.verify_token`).

Slack (https://api.slack.com/authentication/verifying-requests-from-slack): `X-Slack-Signature`
is `v0=` and the hex HMAC-SHA256, keyed with the signing secret, of `v0:{timestamp}:{body}`
with `X-Slack-Request-Timestamp`; a timestamp more than five minutes from now is refused
(a replay), and the signatures are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "APPROVE",
    "AUDIENCE_VARIABLE",
    "CERTS_VARIABLE",
    "CHAT_ACCOUNT",
    "DENY",
    "SLACK_SECRET_VARIABLE",
    "BadClick",
    "Click",
    "Forged",
    "NotAClick",
    "chat_click",
    "slack_click",
    "verify_chat",
    "verify_slack",
]

APPROVE, DENY = "approve", "deny"


@dataclass(frozen=True, slots=True)
class Click:
    """An authenticated click: which button, on which request, by whom (an email, or
    `slack:USER_ID`)."""

    request: str
    verdict: str  # APPROVE or DENY
    user: str


CHAT_ACCOUNT = "chat@system.gserviceaccount.com"
CHAT_JWT_CERTS = f"https://www.googleapis.com/service_accounts/v1/metadata/x509/{CHAT_ACCOUNT}"
GOOGLE_ID_TOKEN_CERTS = "https://www.googleapis.com/oauth2/v1/certs"  # noqa: S105 - a URL
_GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")
# The approve function's settings (docs/deploy.md): the Chat app's authentication audience
# (its project number, or the function's URL), the Slack app's signing secret, and, for
# tests and the demo only, where the certificates of Chat's tokens are fetched from.
AUDIENCE_VARIABLE = "PULLFIX_CHAT_AUDIENCE"
SLACK_SECRET_VARIABLE = "PULLFIX_SLACK_SIGNING_SECRET"  # noqa: S105 - its name
CERTS_VARIABLE = "PULLFIX_CHAT_CERTS_URL"
SLACK_MAX_AGE = 300  # seconds: "more than five minutes" is a replay
# The ids the buttons carry (`pullfix.engine.approval.request_id`).
_REQUEST_RE = re.compile(r"approval-[0-9a-f]{8,64}")
MAX_BODY = 64 * 1024
CHAT_FUNCTIONS = {"pullfix.approve": APPROVE, "pullfix.deny": DENY}
SLACK_ACTIONS = {"pullfix_approve": APPROVE, "pullfix_deny": DENY}


class Forged(Exception):
    """The click's sender is not proven (401): `reason` says why, briefly."""


class BadClick(Exception):
    """An authenticated click that is not a click on pullfix's buttons (400)."""


class NotAClick(BadClick):
    """An authenticated Chat event that is no click (the app added to a space, a message):
    answered 200 with a line of help, as Chat shows an error for anything else."""


@dataclass(frozen=True, slots=True)
class SlackClick:
    click: Click
    response_url: str | None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = {k.lower(): v for k, v in headers.items()}.get(name.lower())
    return value


def verify_chat(
    headers: Mapping[str, str],
    audience: str | None,
    verify: Callable[..., Mapping[str, Any]],
    certs_url: str | None = None,
) -> Mapping[str, Any]:
    """The claims of the click's Chat token, once google-auth verified it; else Forged.

    `verify` is `google.oauth2.id_token.verify_token` with its transport bound (tests give
    it too: the real function, certificates served on loopback)."""
    if not audience:
        raise Forged(f"Google Chat clicks are not accepted: {AUDIENCE_VARIABLE} is not set")
    authorization = _header(headers, "Authorization") or ""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Forged("no Google Chat bearer token")
    project_number = audience.isdigit()
    url = certs_url or (CHAT_JWT_CERTS if project_number else GOOGLE_ID_TOKEN_CERTS)
    try:
        claims = verify(token.strip(), audience=audience, certs_url=url)
    except Exception as exc:  # google-auth says ValueError, or a transport error
        # The reason names the check, never the token.
        raise Forged(f"the Google Chat token does not verify: {_reason(exc)}") from None
    if project_number:
        if claims.get("iss") != CHAT_ACCOUNT:
            raise Forged(f"the Google Chat token is not issued by {CHAT_ACCOUNT}")
    elif (
        claims.get("iss") not in _GOOGLE_ISSUERS
        or claims.get("email") != CHAT_ACCOUNT
        or claims.get("email_verified") is not True
    ):
        raise Forged(f"the Google Chat token is not {CHAT_ACCOUNT}'s")
    return claims


def _reason(exc: Exception) -> str:
    text = str(exc).split("\n", 1)[0]
    for word in ("expired", "audience", "signature", "Token used too early", "certificate"):
        if word.lower() in text.lower():
            return {"Token used too early": "not yet valid"}.get(word, word)
    return "malformed or unverifiable"


def verify_slack(headers: Mapping[str, str], body: bytes, secret: str | None, now: float) -> str:
    """Check the click's Slack signature; its value (the replay guard's key) if good, else
    Forged."""
    if not secret:
        raise Forged(f"Slack clicks are not accepted: {SLACK_SECRET_VARIABLE} is not set")
    signature = _header(headers, "X-Slack-Signature") or ""
    stamp = _header(headers, "X-Slack-Request-Timestamp") or ""
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        raise Forged("no valid X-Slack-Request-Timestamp")
    if abs(now - int(stamp)) > SLACK_MAX_AGE:
        raise Forged("the Slack request is more than five minutes old (or ahead)")
    base = b"v0:" + stamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        raise Forged("the Slack signature does not match")
    return signature


def chat_click(body: bytes) -> Click:
    """The click of a Google Chat CARD_CLICKED event (a Chat app's interaction event)."""
    event = _json(body)
    if event.get("type") != "CARD_CLICKED":
        raise NotAClick(f"not a card click: {str(event.get('type'))[:40]!r}")
    common, action = _object(event, "common"), _object(event, "action")
    function = common.get("invokedFunction") or action.get("actionMethodName")
    parameters = dict(common.get("parameters") or {})
    for item in action.get("parameters") or []:
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            parameters.setdefault(item["key"], item.get("value"))
    verdict = CHAT_FUNCTIONS.get(function) if isinstance(function, str) else None
    if verdict is None:
        raise BadClick("not an Approve or Deny button of pullfix")
    user = _object(event, "user")
    email = user.get("email")
    if not isinstance(email, str) or "@" not in email or user.get("type", "HUMAN") != "HUMAN":
        raise BadClick("the click names no human user's email")
    return Click(_request(parameters.get("request")), verdict, email)


def slack_click(body: bytes) -> SlackClick:
    """The click of a Slack `block_actions` payload (form-encoded `payload=`)."""
    form = urllib.parse.parse_qs(body.decode("utf-8", "replace"), max_num_fields=4)
    payloads = form.get("payload") or []
    if len(payloads) != 1:
        raise BadClick("no payload")
    event = _json(payloads[0].encode())
    if event.get("type") != "block_actions":
        raise BadClick(f"not a block action: {str(event.get('type'))[:40]!r}")
    actions = event.get("actions")
    if not isinstance(actions, list) or len(actions) != 1 or not isinstance(actions[0], dict):
        raise BadClick("expected one action")
    verdict = SLACK_ACTIONS.get(actions[0].get("action_id"))  # type: ignore[arg-type]
    if verdict is None:
        raise BadClick("not an Approve or Deny button of pullfix")
    user = _object(event, "user")
    user_id = user.get("id")
    if not isinstance(user_id, str) or not re.fullmatch(r"[A-Z0-9]{2,40}", user_id):
        raise BadClick("the click names no Slack user")
    url = event.get("response_url")
    return SlackClick(
        Click(_request(actions[0].get("value")), verdict, f"slack:{user_id}"),
        url if isinstance(url, str) else None,
    )


def _object(event: dict[str, Any], name: str) -> dict[str, Any]:
    value = event.get(name)
    return value if isinstance(value, dict) else {}


def _json(body: bytes) -> dict[str, Any]:
    if len(body) > MAX_BODY:
        raise BadClick("the body is too large")
    try:
        value = json.loads(body)
    except ValueError:
        raise BadClick("the body is not JSON") from None
    if not isinstance(value, dict):
        raise BadClick("the body is not a JSON object")
    return value


def _request(value: object) -> str:
    if not isinstance(value, str) or not _REQUEST_RE.fullmatch(value):
        raise BadClick("the button carries no request id")
    return value
