"""The Cloud Functions `remediate`, `notify`, `verify` and `approve`, and what each does.

`functions/main.py` (the source Cloud Functions builds) only imports the two entry points from
here, so the installed package serves them as well (the demo and the local runner do).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, Protocol

import flask
import functions_framework
from cloudevents.http import CloudEvent

from pullfix.core.intake import (
    PullFailure,
    Rejection,
    RejectionKind,
    decode_push,
    format_timestamp,
    parse_cloudevent,
)
from pullfix.logs import log

__all__ = [
    "CloudEventLike",
    "approve",
    "handle_click",
    "handle_outcome",
    "handle_pull_failure",
    "handle_verification",
    "notify",
    "remediate",
    "verify",
]


# Events dated further ahead than this are refused (clocks drift; kubelet's by seconds).
MAX_SKEW = 300


class CloudEventLike(Protocol):
    """What pullfix reads of a `cloudevents.http.CloudEvent`."""

    data: Any

    def get_attributes(self) -> Any: ...


def handle_pull_failure(cloud_event: CloudEventLike) -> dict[str, Any]:
    """Remediate one pull-failure event.

    Bad or irrelevant input is logged and acknowledged (returns normally): retrying it
    cannot help. Transient Google errors raise, so that Pub/Sub redelivers the event.
    """
    from pullfix.core.config import ConfigError
    from pullfix.core.model import TransientError
    from pullfix.engine.runtime import runtime

    attributes = dict(cloud_event.get_attributes())
    result = parse_cloudevent(attributes, cloud_event.data)
    event_id = attributes.get("id")
    if not isinstance(result, PullFailure):
        severity = "WARNING" if result.kind is RejectionKind.MALFORMED else "DEBUG"
        ignored: dict[str, Any] = {
            "event_id": event_id,
            "action": "ignored",
            "rejection": result.kind.value,
            "detail": result.detail,
        }
        log(severity, f"pullfix: event {event_id} ignored: {result.detail}", ignored)
        return ignored
    try:
        rt = runtime()
    except ConfigError as exc:
        # Events are kept (redelivered, then dead-lettered) until the configuration is fixed.
        log("CRITICAL", f"pullfix: invalid configuration: {exc}", {"event_id": event_id})
        raise
    now = datetime.now(UTC)
    if result.timestamp is not None and (result.timestamp - now).total_seconds() > MAX_SKEW:
        # A clock far ahead, or a forged entry: it would hold its incident's claim until then.
        future = {
            "event_id": event_id,
            "action": "ignored",
            "rejection": "future",
            "detail": f"event is dated {format_timestamp(result.timestamp)}, more than "
            f"{MAX_SKEW}s ahead of this clock",
        }
        log("WARNING", f"pullfix: event {event_id} ignored: {future['detail']}", future)
        return future
    if result.timestamp is not None:
        age = (now - result.timestamp).total_seconds()
        if age > rt.config.max_event_age:
            dropped = {
                "event_id": event_id,
                "action": "ignored",
                "rejection": "too_old",
                "detail": f"event is {int(age)}s old; max_event_age is {rt.config.max_event_age}s",
            }
            log("INFO", f"pullfix: event {event_id} dropped: {dropped['detail']}", dropped)
            return dropped
    try:
        outcome = rt.remediator.handle(result, now)
    except TransientError as exc:
        log("WARNING", f"pullfix: event {event_id} will be retried: {exc}", {"event_id": event_id})
        raise
    summary = outcome.to_dict()
    summary["event_id"] = event_id
    log(
        "INFO",
        f"pullfix: {result.image or 'image'} in {result.namespace}: "
        f"{outcome.cause.value} -> {outcome.action.value}",
        summary,
    )
    return summary


def handle_outcome(cloud_event: CloudEventLike) -> dict[str, Any]:
    """Deliver one remediation outcome to the owning team (chat, tickets).

    A malformed outcome is logged and acknowledged; a destination that fails transiently
    raises, so that Pub/Sub redelivers (destinations already reached are not posted again).
    """
    from pullfix.core.config import ConfigError
    from pullfix.core.model import TransientError
    from pullfix.core.outcome import outcome_problem
    from pullfix.engine.runtime import notifier
    from pullfix.notify.delivery import DeliveryFailed

    attributes = dict(cloud_event.get_attributes())
    event_id = attributes.get("id")
    outcome = decode_push(cloud_event.data)
    problem = outcome.detail if isinstance(outcome, Rejection) else outcome_problem(outcome)
    if problem is not None or not isinstance(outcome, dict):
        ignored = {"event_id": event_id, "action": "ignored", "detail": problem}
        log("WARNING", f"notify: event {event_id} ignored: {problem}", ignored)
        return ignored
    try:
        delivered = notifier().handle(outcome, datetime.now(UTC), event_id)
    except ConfigError as exc:
        log("CRITICAL", f"notify: invalid configuration: {exc}", {"event_id": event_id})
        raise
    except (DeliveryFailed, TransientError) as exc:
        log("WARNING", f"notify: event {event_id} will be retried: {exc}", {"event_id": event_id})
        raise
    result = {"event_id": event_id, "fingerprint": outcome["fingerprint"], "delivered": delivered}
    log("INFO", f"notify: {outcome['fingerprint']} delivered to {delivered or 'no route'}", result)
    return result


def handle_verification(cloud_event: CloudEventLike) -> dict[str, Any]:
    """One verification pass over the open incidents (the scheduler's tick is the event).

    Each verdict is published like any outcome (notify updates the team's thread and
    ticket); a transient error raises, so the tick is redelivered. Cloud Logging's 429 is not
    one: the pass ends early without an error and the next tick goes on from there.
    """
    from pullfix.core.config import ConfigError
    from pullfix.core.model import TransientError
    from pullfix.engine.runtime import runtime
    from pullfix.engine.verify import PassReport, logging_query, run_verification

    event_id = dict(cloud_event.get_attributes()).get("id")
    try:
        rt = runtime()
    except ConfigError as exc:
        log("CRITICAL", f"pullfix verify: invalid configuration: {exc}", {"event_id": event_id})
        raise
    remediator, config = rt.remediator, rt.config
    report = PassReport()
    try:
        verdicts = run_verification(
            remediator.ledger,
            logging_query(rt.clients),
            datetime.now(UTC),
            config,
            collector=remediator.collector,
            publish=remediator.publisher.publish if remediator.publisher else None,
            report=report,
        )
    except TransientError as exc:
        log("WARNING", f"pullfix verify: will be retried: {exc}", {"event_id": event_id})
        raise
    for verdict in verdicts:
        record = verdict.to_dict()
        log(
            "NOTICE",
            f"pullfix verify: {verdict.incident.fingerprint} {verdict.action}",
            {"verification": record},
        )
    # What the pass cost in Cloud Logging's read quota, and whether it ended early (budget or
    # 429): the next pass starts with the incidents it did not reach.
    summary = {
        "event_id": event_id,
        "verdicts": len(verdicts),
        "incidents": report.incidents,
        "checked": len(report.checked),
        "queries": report.queries,
        "logging_requests": report.requests,
        "stopped": report.stopped,
    }
    log(
        "INFO",
        f"pullfix verify: {len(verdicts)} incidents closed or escalated; "
        f"{len(report.checked)} of {report.incidents} checked, {report.requests} Logging requests",
        summary,
    )
    return summary


@functions_framework.cloud_event
def remediate(cloud_event: CloudEvent) -> None:
    """Pub/Sub "pull-failures" → diagnose one image-pull failure."""
    handle_pull_failure(cloud_event)


@functions_framework.cloud_event
def notify(cloud_event: CloudEvent) -> None:
    """Pub/Sub "pull-outcomes" → tell the owning team (chat, tickets)."""
    handle_outcome(cloud_event)


@functions_framework.cloud_event
def verify(cloud_event: CloudEvent) -> None:
    """Pub/Sub "verify" (Cloud Scheduler) → check that fixes worked; close the loop."""
    handle_verification(cloud_event)


# A signed click is good once: the same request again is a replay. Slack's are refused after
# five minutes anyway; Google's Chat tokens live an hour at most.
_REPLAY_WINDOW = 3600


def handle_click(
    headers: dict[str, str], body: bytes, now: datetime
) -> tuple[int, dict[str, Any] | str]:
    """Decide one click on an Approve or Deny button: (HTTP status, the answer).

    Before anything else the sender is proven (a Google Chat token, or a Slack signature):
    401 with a short reason when it is not, or when its token or signature was used before.
    Then the click (400 when it is not one of pullfix's buttons), the user against the
    approvers (403), the request and the grant (`pullfix.engine.approval`). The answer
    updates the card (Chat) or replaces the message (Slack).
    """
    import os

    from pullfix.core.config import ConfigError
    from pullfix.core.model import TransientError
    from pullfix.engine.approval import Approvals, Click
    from pullfix.engine.runtime import runtime
    from pullfix.ids import fingerprint
    from pullfix.notify import interactions
    from pullfix.notify.render import approval_chat_update, approval_slack_update

    lower = {k.lower(): v for k, v in headers.items()}
    slack = "x-slack-signature" in lower
    try:
        if slack:
            proof = interactions.verify_slack(
                lower, body, os.environ.get(interactions.SLACK_SECRET_VARIABLE), now.timestamp()
            )
        elif "authorization" in lower:
            proof = lower["authorization"]
            interactions.verify_chat(
                lower, os.environ.get(interactions.AUDIENCE_VARIABLE), _verify_token, _certs_url()
            )
        else:
            raise interactions.Forged("no Google Chat token and no Slack signature")
    except interactions.Forged as exc:
        log("WARNING", f"pullfix approve: refused: {exc}", {"approval": {"refused": str(exc)}})
        return 401, f"unauthorized: {exc}"
    try:
        rt = runtime()
    except ConfigError as exc:
        log("CRITICAL", f"pullfix approve: invalid configuration: {exc}", {})
        return 500, "pullfix is misconfigured"
    # A hash of the proof and the body, never the proof itself, names the request in the
    # ledger: the same signed request twice is a replay. (A Chat token covers no body, and
    # Google may send one token with several requests while it lasts: the body tells them
    # apart. Slack's signature covers the body already.)
    replay = fingerprint("click", hashlib.sha256(proof.encode() + b"\x00" + body).hexdigest())
    try:
        if not rt.remediator.ledger.claim(replay, now, _REPLAY_WINDOW, {"state": "done"}).new:
            log("WARNING", "pullfix approve: refused: a replayed request", {})
            return 401, "unauthorized: this request was received before (a replay)"
        response_url = None
        try:
            if slack:
                parsed = interactions.slack_click(body)
                click: Click = parsed.click
                response_url = parsed.response_url
            else:
                click = interactions.chat_click(body)
        except interactions.NotAClick:
            return 200, {"text": "pullfix posts approval requests here; only their buttons act."}
        except interactions.BadClick as exc:
            return 400, f"bad request: {exc}"
        answer = Approvals(rt.remediator).decide(click, now)
    except TransientError as exc:
        log("WARNING", f"pullfix approve: failed, click again: {exc}", {})
        return 503, "pullfix could not reach Google just now: click again in a minute"
    log(
        "INFO",
        f"pullfix approve: {click.verdict} of {click.request} by {click.user}: {answer.text}",
        {"approval": {"request": click.request, "user": click.user, "status": answer.status}},
    )
    if answer.status != 200:
        return answer.status, f"forbidden: {answer.text}"
    if slack:
        update = approval_slack_update(click.request, answer.text, done=answer.done)
        _post_slack_response(response_url, update)
        return 200, update
    return 200, approval_chat_update(click.request, answer.text, done=answer.done)


def _certs_url() -> str | None:
    """PULLFIX_CHAT_CERTS_URL, honoured only beside a sandbox (PULLFIX_GCP_ENDPOINT): a
    deployment that set it by mistake still checks Chat's tokens against Google's keys."""
    import os

    from pullfix.gcp.endpoints import ENDPOINT_VARIABLE
    from pullfix.notify.interactions import CERTS_VARIABLE

    url = os.environ.get(CERTS_VARIABLE) or None
    if url is not None and not os.environ.get(ENDPOINT_VARIABLE):
        log("WARNING", f"pullfix approve: {CERTS_VARIABLE} is ignored without a sandbox", {})
        return None
    return url


def _verify_token(token: str, *, audience: str, certs_url: str) -> Any:
    """google-auth's verification of a Google-signed token, its certificates fetched over
    pullfix's transport (google.oauth2.id_token takes any google.auth.transport.Request)."""
    from google.oauth2 import id_token

    from pullfix.gcp.transport import auth_request

    request = auth_request(_http(), timeout=_CERTS_TIMEOUT)
    return id_token.verify_token(token, request, audience=audience, certs_url=certs_url)


# How long the certificates of Chat's tokens may take to arrive (google-auth's requests
# transport waited up to 120 s; a click's answer is awaited by a person).
_CERTS_TIMEOUT = 10.0
_approve_http: Any = None


def _http() -> Any:
    """The approve function's HTTP transport (`pullfix.gcp.transport.HttpTransport`), made on
    its first call: the certificates of Chat's tokens and Slack's response URLs."""
    global _approve_http  # noqa: PLW0603 - one transport per function instance, by design
    if _approve_http is None:
        from pullfix.gcp.transport import HttpTransport

        _approve_http = HttpTransport()
    return _approve_http


# Slack's response URLs (https://api.slack.com/interactivity/handling#message_responses):
# only these are posted to, so that a click cannot make the function call anywhere else.
_SLACK_RESPONSE_PREFIX = "https://hooks.slack.com/"


def _post_slack_response(url: str | None, message: dict[str, Any]) -> None:
    """Replace the clicked message through the click's `response_url` (Slack takes a block
    action's answer from there, not from the HTTP response); best effort: the decision is
    made and recorded already."""
    from pullfix.core.config import ConfigError

    if not url or not url.startswith(_SLACK_RESPONSE_PREFIX):
        return
    body = json.dumps(message).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "pullfix"}
    try:
        answer = _http().request("POST", url, headers=headers, body=body, timeout=5)
    # No answer; a URL the transport will not send (white space, not ASCII); a CA bundle
    # that cannot be read.
    except (OSError, ValueError, ConfigError) as exc:
        log(
            "WARNING",
            f"pullfix approve: the Slack message was not updated: {type(exc).__name__}",
            {},
        )
        return
    if answer.status >= 300:
        log(
            "WARNING",
            f"pullfix approve: the Slack message was not updated: HTTP {answer.status}",
            {},
        )


@functions_framework.http
def approve(request: flask.Request) -> flask.Response:
    """HTTPS (public) ← a click on Approve or Deny in Google Chat or Slack."""
    if request.method != "POST":
        return flask.Response("method not allowed", status=405)
    body = request.get_data(cache=True)
    status, answer = handle_click(dict(request.headers), body, datetime.now(UTC))
    if isinstance(answer, str):
        return flask.Response(answer, status=status, mimetype="text/plain")
    return flask.Response(json.dumps(answer), status=status, mimetype="application/json")
