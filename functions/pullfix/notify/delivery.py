"""The team-facing half: route each outcome to the owning team's chat, and file tickets.

Webhook URLs and tokens come only from the environment variables a route names
(`pullfix.core.secrets` checks them); they are never logged, and no error that could carry
one (a URL, a header) reaches a log line. Redirects are never followed: a webhook or API
that answers 3xx is refused, so a token is never sent on to another origin. A failed
delivery (5xx, 408, 429, a timeout, GitHub's rate limits) raises so Pub/Sub redelivers; a
permanent 4xx is logged and acknowledged. Each (outcome, destination) is claimed in the
ledger, so a redelivered outcome never posts twice.

A Google Chat route that names a space (`google_chat_space`) posts as the Chat app through
the Chat API (`ChatApp`, which `pullfix.gcp.chat` implements with the function's own
credentials): its approval cards' buttons reach the `approve` function, which a webhook's
cannot. Each post carries a `requestId` made from the delivery's ledger key, so a post made
again after its answer was lost returns the first message instead of a second one.

An incident's GitHub issue is the one pullfix opened for it: its number is kept in the
ledger when it is opened. Only when the ledger has none (a `notify` killed between GitHub's
answer and that write, or a record past its time) does `notify` search, and then it trusts
an issue only if pullfix's marker is the body's first line (`render.github_marker`, which
no escaped event text can write) and the issue's author is the token's own user: text that
merely contains an incident's key never steers where its ticket goes.
"""

from __future__ import annotations

import fnmatch
import json
import os
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from pullfix.clock import SYSTEM, Clock
from pullfix.core.config import Config, ConfigError, Route
from pullfix.core.ledger import Ledger
from pullfix.core.lifecycle import State, Step, lease_fields, next_step
from pullfix.core.model import GoogleApiError
from pullfix.core.secrets import github_token, slack_token, webhook_url
from pullfix.errors import PullfixError
from pullfix.ids import fingerprint
from pullfix.logs import log
from pullfix.notify.render import (
    FINGERPRINT_MARKER,
    github_comment,
    github_issue,
    google_chat_message,
    read_github_marker,
    slack_message,
    visible,
)

if TYPE_CHECKING:
    from pullfix.gcp.transport import Transport

__all__ = ["ChatApp", "DeliveryFailed", "Notifier", "route_for"]

GITHUB_API_VARIABLE = "PULLFIX_GITHUB_API"
DEFAULT_GITHUB_API = "https://api.github.com"
SLACK_API_VARIABLE = "PULLFIX_SLACK_API"
DEFAULT_SLACK_API = "https://slack.com/api"
# How long an incident's Slack thread is remembered (its replies land under the first post).
SLACK_THREAD_SECONDS = 30 * 86400
# How long the number of an incident's GitHub issue is remembered (then: a trusted search).
GITHUB_ISSUE_SECONDS = 90 * 86400
HTTP_TIMEOUT = 10.0


class DeliveryFailed(PullfixError):
    """A destination failed in a way a retry can fix: Pub/Sub redelivers the outcome."""


class ChatApp(Protocol):
    """Google Chat's `spaces.messages.create` as the Chat app (`pullfix.gcp.chat`)."""

    def create(self, space: str, message: Mapping[str, Any], request_id: str) -> dict[str, Any]:
        """The Message Chat answers with; GoogleApiError when Chat refuses, TransientError
        when it cannot be reached."""
        ...


# Why Chat refuses an app's message, by HTTP status, in words an operator can act on.
_CHAT_REFUSALS = {
    401: "the notify function's credentials were not accepted for the chat.bot scope",
    403: (
        "the Chat app is not a member of the space (add it to the space: docs/deploy.md, "
        '"Approval in chat"), or the notify function\'s service account is not in the project '
        "where the Chat app is configured"
    ),
    404: "there is no such space (check the route's google_chat_space: spaces/ID)",
}


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), "")


def _transient(status: int) -> bool:
    return status in (408, 429) or status >= 500


def http_json(
    transport: Transport,
    method: str,
    url: str,
    payload: Any | None,
    headers: Mapping[str, str],
    what: str,
) -> Response:
    """One HTTP request on `transport`, which follows no redirect (a 3xx is an answer: a
    webhook's token or GitHub's Authorization header never goes on to another origin) and
    trusts the environment's CA bundle (REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE replaces the
    system's CAs, as for pullfix's Google calls; SSL_CERT_FILE is OpenSSL's own; one that
    cannot be read is a ConfigError). `what` names the destination in errors (never the
    URL)."""
    data = json.dumps(payload).encode() if payload is not None else None
    sent = {"Content-Type": "application/json; charset=UTF-8", "User-Agent": "pullfix", **headers}
    try:
        # URLs are checked to be https (or http on loopback) where they are read.
        answer = transport.request(method, url, headers=sent, body=data, timeout=HTTP_TIMEOUT)
    except ConfigError:
        raise
    except Exception as exc:
        reason = exc.__cause__ or exc  # the transport's error chains what the socket said
        raise DeliveryFailed(f"{what}: {type(reason).__name__}") from None
    return Response(answer.status, answer.body, answer.headers)


def github_rate_limit(response: Response, now: float | None = None) -> str | None:
    """How long GitHub asks to wait, when a 403/429 is a rate limit rather than a refusal.

    GitHub: a primary limit answers 403 or 429 with `x-ratelimit-remaining: 0` (wait until
    `x-ratelimit-reset`, epoch seconds); a secondary limit answers 403 or 429 with a message
    saying so, and `retry-after` when it knows how long (https://docs.github.com/en/rest/
    using-the-rest-api/rate-limits-for-the-rest-api#exceeding-the-rate-limit).
    """
    if response.status not in (403, 429):
        return None
    retry_after = response.header("retry-after")
    if retry_after.isdigit():
        return f"{retry_after}s (retry-after)"
    if response.header("x-ratelimit-remaining") == "0":
        reset = response.header("x-ratelimit-reset")
        if reset.isdigit():
            wait = max(0, int(reset) - int(now if now is not None else time.time()))
            return f"{wait}s (x-ratelimit-reset)"
        return "until the rate limit resets"
    body = response.json()
    message = str(body.get("message") or "") if isinstance(body, dict) else ""
    if "rate limit" in message.lower():
        return "a few minutes (secondary rate limit)"
    return None


def route_for(routes: tuple[Route, ...], outcome: dict[str, Any]) -> tuple[int, Route] | None:
    """The first route whose filters all match the outcome."""
    event = outcome.get("event") or {}
    cluster = event.get("cluster") or ""
    repository = (outcome.get("evidence") or {}).get("repository") or (
        (outcome.get("grant") or {}).get("resource") or ""
    )
    repository_project = repository.split("/")[1] if repository.count("/") >= 1 else ""
    for index, route in enumerate(routes):
        if route.namespace and not fnmatch.fnmatchcase(
            event.get("namespace") or "", route.namespace
        ):
            continue
        if route.cluster and not (
            fnmatch.fnmatchcase(cluster, route.cluster)
            or fnmatch.fnmatchcase(cluster.rsplit("/", 1)[-1], route.cluster)
        ):
            continue
        if route.cause and route.cause != outcome.get("cause"):
            continue
        if route.repository_project and not fnmatch.fnmatchcase(
            repository_project, route.repository_project
        ):
            continue
        return index, route
    return None


class _RateLimit:
    """A token bucket: bursts of `burst` calls, refilled at `per_minute` (GitHub's search
    API allows 30 a minute); waits briefly for a token, else asks for a redelivery."""

    def __init__(
        self, per_minute: int, burst: int = 10, max_wait: float = 5.0, clock: Clock = SYSTEM
    ) -> None:
        self.clock = clock
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_wait = max_wait
        self._tokens = float(burst)
        self._stamp = clock.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = self.clock.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            wait = (1.0 - self._tokens) / self.rate if self._tokens < 1.0 else 0.0
            if wait > self.max_wait:
                raise DeliveryFailed("GitHub search rate limit: retry later")
            self._tokens -= 1.0
        if wait > 0:
            self.clock.sleep(wait)


class Notifier:
    def __init__(
        self,
        config: Config,
        ledger: Ledger,
        environ: Mapping[str, str] | None = None,
        search_per_minute: int = 30,
        chat_app: ChatApp | None = None,
        *,
        http: Transport,
    ) -> None:
        """`http` sends every webhook post and API call (`pullfix.gcp.transport`: the
        process's one transport)."""
        self.config = config
        self.http = http
        self.ledger = ledger
        self.chat_app = chat_app
        self.environ = environ if environ is not None else os.environ
        self._search_limit = _RateLimit(search_per_minute, burst=search_per_minute)
        self._github_logins: dict[tuple[str, str], str | None] = {}  # (api, token) -> login

    def handle(
        self, outcome: dict[str, Any], now: datetime, message_id: str | None = None
    ) -> list[str]:
        """Deliver one outcome (Pub/Sub message `message_id`); the destinations it reached
        (or had reached before)."""
        if outcome.get("action") in ("suppressed", "ignored"):
            return []
        found = route_for(self.config.routes, outcome)
        if found is None:
            log(
                "INFO",
                f"notify: no route for {outcome['fingerprint']}",
                {"fingerprint": outcome["fingerprint"], "cause": outcome.get("cause")},
            )
            return []
        index, route = found
        delivered = [
            self._once(
                outcome,
                now,
                message_id,
                f"chat:{index}",
                lambda key: self._chat(outcome, route, index, key),
            )
        ]
        closing = outcome.get("action") in ("resolved", "abandoned")
        if route.tickets == "github" and (outcome.get("ticket") or closing):
            delivered.append(
                self._once(
                    outcome,
                    now,
                    message_id,
                    f"github:{index}",
                    lambda key: self._github(outcome, route, index, key),
                )
            )
        return [d for d in delivered if d]

    def _once(
        self,
        outcome: dict[str, Any],
        now: datetime,
        message_id: str | None,
        destination: str,
        send: Callable[[str], str],
    ) -> str:
        """Send once per (outcome, destination): a lease while sending (see
        `pullfix.core.lifecycle`), then `sent` or `refused` for the dedupe window."""
        event = outcome.get("event") or {}
        origin = event.get("message_id") or event.get("insert_id")
        parts = [origin, outcome["fingerprint"], outcome.get("action")]
        parts += [str(outcome.get("escalation")), destination]
        if origin is None:
            # A verdict of verification comes from no event: it is one per episode of the
            # incident (an incident that comes back is a new episode, with its own first
            # failure), and a resolution one per first successful pull.
            parts += [
                str(outcome.get("first_failure") or event.get("timestamp")),
                str(outcome.get("first_success")),
            ]
        key = fingerprint("notify", *parts)
        window = max(self.config.dedupe_window, 86400)
        wall = time.time()
        mine = lease_fields(State.SENDING, message_id, wall, self.config.lease)
        claim = self.ledger.claim(key, now, window, mine)
        if not claim.new:
            step = next_step(claim.record, message_id, wall)
            if step is Step.RETRY:
                raise DeliveryFailed(f"{destination}: this message is being delivered already")
            if step is Step.SUPPRESS:
                return destination if claim.record.get("state") == State.SENT.value else ""
            # A sender that died mid-post: take over and send (at least once, never zero).
            if not self.ledger.take_over(key, now, window, mine, wall).new:
                raise DeliveryFailed(f"{destination}: another delivery just took this over")
        try:
            result = send(key)
        except BaseException:
            self.ledger.release(key)
            raise
        # A permanent refusal is remembered (retrying cannot help) but is no delivery.
        accepted = not result.startswith("refused")
        state = State.SENT if accepted else State.REFUSED
        self.ledger.update(key, {"state": state.value, "result": result})
        return destination if accepted else ""

    def _url(self, name: str | None, what: str) -> str:
        """A URL from the environment: https, or http to this machine (local receivers)."""
        return webhook_url(self.environ, name, what)

    def _deliver(self, what: str, response: Response) -> str:
        if 200 <= response.status < 300:
            return f"{response.status}"
        if _transient(response.status):
            raise DeliveryFailed(f"{what}: HTTP {response.status}")
        if 300 <= response.status < 400:
            log(
                "ERROR",
                f"notify: {what} answered HTTP {response.status} (a redirect): not followed, "
                "so no credential leaves for another address; fix the URL",
                {"destination": what, "status": response.status},
            )
            return f"refused {response.status}"
        # A permanent refusal: retrying cannot help; log it (without the URL) and move on.
        log(
            "ERROR",
            f"notify: {what} refused the message: HTTP {response.status}",
            {"destination": what, "status": response.status},
        )
        return f"refused {response.status}"

    def _slack_api(self, outcome: dict[str, Any], route: Route, index: int) -> str:
        """chat.postMessage: the incident's first message opens a thread, whose ts the ledger
        keeps; every later message of the incident (a repeat, an escalation, its resolution)
        is a reply in it (https://api.slack.com/methods/chat.postMessage)."""
        what = f"route {index} Slack API (${route.slack_token_env})"
        token = slack_token(self.environ, route.slack_token_env, f"route {index}")
        api = DEFAULT_SLACK_API
        if self.environ.get(SLACK_API_VARIABLE):
            api = self._url(SLACK_API_VARIABLE, f"route {index}")
        now = datetime.now(UTC)
        thread_key = fingerprint("slack-thread", outcome["fingerprint"], str(index))
        thread = self.ledger.get(thread_key, now)
        payload = {**slack_message(outcome), "channel": route.slack_channel}
        if thread and thread.get("ts"):
            payload["thread_ts"] = thread["ts"]
        headers = {"Authorization": f"Bearer {token}"}
        response = http_json(self.http, "POST", f"{api}/chat.postMessage", payload, headers, what)
        answer = response.json() if 200 <= response.status < 300 else None
        if isinstance(answer, dict) and answer.get("ok") is False:
            error = str(answer.get("error"))
            if error in ("ratelimited", "internal_error", "service_unavailable"):
                raise DeliveryFailed(f"{what}: Slack answered {error}")
            log(
                "ERROR",
                f"notify: {what} refused the message: {error}",
                {"destination": what, "error": error},
            )
            return f"refused {error}"
        result = self._deliver(what, response)
        ts = answer.get("ts") if isinstance(answer, dict) else None
        if not thread and isinstance(ts, str) and ts:
            self.ledger.claim(thread_key, now, SLACK_THREAD_SECONDS, {"ts": ts})
        return result

    def _chat_api(self, outcome: dict[str, Any], route: Route, index: int, key: str) -> str:
        """Post as the Chat app in the route's space, in the incident's thread (the message's
        `thread.threadKey` is the incident's key); `requestId` makes a post made again after
        its answer was lost return the first message instead of a second."""
        space = str(route.google_chat_space)
        what = f"route {index} Google Chat app ({space})"
        if self.chat_app is None:
            raise ConfigError(f"notify.routes[{index}]: no Google Chat API client to post with")
        incident = outcome["fingerprint"]
        try:
            posted = self.chat_app.create(
                space, google_chat_message(outcome), request_id=f"pullfix-{key}"
            )
        except GoogleApiError as exc:
            if exc.code in (408, 429) or exc.code >= 500:
                raise DeliveryFailed(f"{what}: HTTP {exc.code} {exc.status}".rstrip()) from None
            # Permanent: retrying cannot help. Logged with the incident, so that what the
            # team did not see can be found (`pullfix incidents show`), and acknowledged.
            reason = _CHAT_REFUSALS.get(exc.code) or (
                f"Chat refused the message: {visible(exc.message)[:300]}"
            )
            log(
                "ERROR",
                f"notify: {what} refused the {outcome.get('action')} message of {incident}: "
                f"HTTP {exc.code} {exc.status}: {reason}. It was not posted; "
                f"`pullfix incidents show {incident}` has it",
                {
                    "destination": what,
                    "status": exc.code,
                    "google_status": exc.status,
                    "fingerprint": incident,
                    "action": outcome.get("action"),
                },
            )
            return f"refused {exc.code}"
        thread = posted.get("thread") if isinstance(posted, dict) else None
        log(
            "INFO",
            f"notify: {outcome['cause']} {outcome['action']} posted to {what}",
            {
                "fingerprint": incident,
                "destination": what,
                "message": posted.get("name") if isinstance(posted, dict) else None,
                "thread": thread.get("name") if isinstance(thread, dict) else None,
            },
        )
        return "200"

    def _chat(self, outcome: dict[str, Any], route: Route, index: int, key: str) -> str:
        if route.chat == "slack" and route.slack_token_env:
            return self._slack_api(outcome, route, index)
        if route.chat == "google" and route.google_chat_space:
            return self._chat_api(outcome, route, index, key)
        what = f"route {index} {route.chat} webhook (${route.webhook_url_env})"
        url = self._url(route.webhook_url_env, f"route {index}")
        if route.chat == "google":
            separator = "&" if "?" in url else "?"
            # requestId makes the post idempotent: "Specifying an existing request ID returns
            # the message created with that ID instead of creating a new message"
            # (https://developers.google.com/chat/api/reference/rest/v1/spaces.messages/create).
            # A sender that died after Chat received its post is retried with the same id, so
            # the team sees one message, not two.
            url += (
                f"{separator}messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"
                f"&requestId=pullfix-{key}"
            )
            payload = google_chat_message(outcome)
        elif route.chat == "slack":
            payload = slack_message(outcome)
        else:
            payload = outcome
        result = self._deliver(what, http_json(self.http, "POST", url, payload, {}, what))
        log(
            "INFO",
            f"notify: {outcome['cause']} {outcome['action']} posted to {what}: {result}",
            {"fingerprint": outcome["fingerprint"], "destination": what},
        )
        return result

    def _github(self, outcome: dict[str, Any], route: Route, index: int, key: str) -> str:
        """File, update or close the incident's issue; `key` is this delivery's (outcome and
        destination), written into the marker of an issue it opens."""
        what = f"route {index} GitHub issues ({route.github_repo})"
        token = github_token(self.environ, route.github_token_env, f"route {index}")
        api = DEFAULT_GITHUB_API
        if self.environ.get(GITHUB_API_VARIABLE):
            api = self._url(GITHUB_API_VARIABLE, f"route {index}")
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        incident = outcome["fingerprint"]
        closing = outcome["action"] in ("resolved", "abandoned")
        found = self._github_issue_of(api, route, incident, (token, headers), what)
        if isinstance(found, str):
            return found  # the search itself was refused
        issue = f"{api}/repos/{route.github_repo}/issues"
        if found is not None:
            number, state, opened_by = found
            if opened_by == key and not closing:
                # This very delivery opened it, and died before the ledger knew: done.
                log(
                    "INFO",
                    f"notify: {route.github_repo}#{number} for {incident} was opened by this "
                    "delivery before it was cut short: nothing more to do",
                    {"fingerprint": incident, "issue": number},
                )
                return f"issue #{number} (opened by this delivery before)"
            if closing:
                if state != "open":
                    return "no open issue"
                return self._github_close(api, route, number, outcome, headers, what)
            if state != "open":
                # The incident came back after verification closed its issue: reopen it.
                result = self._github_step(
                    "PATCH",
                    f"{issue}/{number}",
                    {"state": "open"},
                    headers,
                    what,
                    "reopened",
                    route,
                    number,
                    incident,
                )
                if result.startswith("refused"):
                    return result
            result = self._github_step(
                "POST",
                f"{issue}/{number}/comments",
                github_comment(outcome),
                headers,
                what,
                "commented on",
                route,
                number,
                incident,
            )
            if result.startswith("refused"):
                return result
            return f"comment #{number} {result}"
        if closing:
            return "no open issue"
        response = self._github_call("POST", issue, github_issue(outcome, key), headers, what)
        result = self._deliver(what, response)
        if result.startswith("refused"):
            return result
        opened = (response.json() or {}).get("number") if 200 <= response.status < 300 else None
        if isinstance(opened, int):
            self._remember_issue(route, incident, opened)
        log(
            "INFO",
            f"notify: opened {route.github_repo}#{opened} for {incident}",
            {"fingerprint": incident, "issue": opened},
        )
        return f"issue #{opened} {result}"

    def _issue_key(self, route: Route, incident: str) -> str:
        return fingerprint("github-issue", route.github_repo, incident)

    def _remember_issue(self, route: Route, incident: str, number: int) -> None:
        key = self._issue_key(route, incident)
        now = datetime.now(UTC)
        if not self.ledger.claim(key, now, GITHUB_ISSUE_SECONDS, {"number": str(number)}).new:
            self.ledger.update(key, {"number": str(number)})

    def _github_issue_of(
        self,
        api: str,
        route: Route,
        incident: str,
        credentials: tuple[str, Mapping[str, str]],
        what: str,
    ) -> tuple[int, str, str | None] | str | None:
        """The incident's issue as (number, state, the delivery that opened it); None when
        it has none; a delivery result when GitHub refused to say. The ledger's number
        first; else a search whose hits count only with pullfix's marker as their first
        line, written by the token's own user."""
        token, headers = credentials
        record = self.ledger.get(self._issue_key(route, incident), datetime.now(UTC))
        number = record.get("number") if record else None
        if number and number.isdigit():
            got = self._github_call(
                "GET", f"{api}/repos/{route.github_repo}/issues/{number}", None, headers, what
            )
            if 200 <= got.status < 300 and isinstance(got.json(), dict):
                item = got.json()
                marker = read_github_marker(item.get("body"))
                return int(number), str(item.get("state") or "open"), marker and marker[1]
            if got.status not in (404, 410):  # deleted or moved: search, else a new issue
                return self._deliver(what, got)
        login, refused = self._github_login(api, token, headers, what)
        if refused is not None:
            return refused
        query = f'"{FINGERPRINT_MARKER} {incident}" repo:{route.github_repo} is:issue in:body'
        if login:
            query += f" author:{login}"
        self._search_limit.acquire()
        found = self._github_call(
            "GET",
            f"{api}/search/issues?q={urllib.parse.quote(query)}&sort=created&order=asc"
            "&per_page=100",
            None,
            headers,
            what,
        )
        if not 200 <= found.status < 300:
            return self._deliver(what, found)
        trusted = []
        for item in (found.json() or {}).get("items", []):
            marker = read_github_marker(item.get("body"))
            author = item.get("user") or {}
            by_pullfix = (
                author.get("login") == login
                if login
                else author.get("type") == "Bot" and str(author.get("login")).endswith("[bot]")
            )
            if (
                marker
                and marker[0] == incident
                and by_pullfix
                and isinstance(item.get("number"), int)
            ):
                trusted.append((item["number"], str(item.get("state") or "open"), marker[1]))
        if not trusted:
            return None
        first = min(trusted)  # the first issue pullfix opened for it
        self._remember_issue(route, incident, first[0])
        return first

    def _github_login(
        self, api: str, token: str, headers: Mapping[str, str], what: str
    ) -> tuple[str | None, str | None]:
        """(the token's own login, from GET /user, once per process; a delivery result when
        GitHub refused to say). The login is None for a GitHub App's installation token,
        which /user answers 403 or 404: then only a bot's issues are trusted."""
        if (api, token) in self._github_logins:
            return self._github_logins[(api, token)], None
        got = self._github_call("GET", f"{api}/user", None, headers, what)
        if got.status in (403, 404):
            login = None
        elif 200 <= got.status < 300:
            answer = got.json()
            login = answer.get("login") if isinstance(answer, dict) else None
            login = login if isinstance(login, str) and login else None
        else:
            return None, self._deliver(what, got)  # a redirect, bad credentials: refused
        self._github_logins[(api, token)] = login
        return login, None

    def _github_step(
        self,
        method: str,
        url: str,
        payload: Any,
        headers: Mapping[str, str],
        what: str,
        done: str,
        route: Route,
        number: int,
        incident: str,
    ) -> str:
        """One change to an incident's issue; logged (`done`) unless it was refused."""
        result = self._deliver(what, self._github_call(method, url, payload, headers, what))
        if not result.startswith("refused"):
            log(
                "INFO",
                f"notify: {done} {route.github_repo}#{number} for {incident}",
                {"fingerprint": incident, "issue": number},
            )
        return result

    def _github_close(
        self,
        api: str,
        route: Route,
        number: int,
        outcome: dict[str, Any],
        headers: Mapping[str, str],
        what: str,
    ) -> str:
        """Comment how the incident ended, then close its issue (GitHub's state_reason:
        completed when resolved, not_planned when abandoned)."""
        issue = f"{api}/repos/{route.github_repo}/issues/{number}"
        incident = outcome["fingerprint"]
        result = self._github_step(
            "POST",
            f"{issue}/comments",
            github_comment(outcome),
            headers,
            what,
            "commented on",
            route,
            number,
            incident,
        )
        if result.startswith("refused"):
            return result
        reason = "completed" if outcome["action"] == "resolved" else "not_planned"
        result = self._github_step(
            "PATCH",
            issue,
            {"state": "closed", "state_reason": reason},
            headers,
            what,
            f"closed ({reason})",
            route,
            number,
            incident,
        )
        return f"closed #{number} {result}"

    def _github_call(
        self, method: str, url: str, payload: Any, headers: Mapping[str, str], what: str
    ) -> Response:
        """One GitHub API request; its rate limits are transient (Pub/Sub redelivers)."""
        response = http_json(self.http, method, url, payload, headers, what)
        wait = github_rate_limit(response)
        if wait is not None:
            log(
                "WARNING",
                f"notify: {what}: GitHub rate limit (HTTP {response.status}); it asks to wait "
                f"{wait}; the outcome will be redelivered",
                {"destination": what, "status": response.status, "wait": wait},
            )
            raise DeliveryFailed(f"{what}: GitHub rate limit, wait {wait}")
        return response
