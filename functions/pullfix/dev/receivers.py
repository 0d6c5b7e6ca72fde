"""Local stand-ins for where notifications go, for `pullfix demo` and the tests: a chat
webhook receiver and a GitHub-API-shaped issue tracker, both real HTTP servers on loopback.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Answer", "ChatReceiver", "GitHubReceiver", "Posted"]


@dataclass
class Posted:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


class _Server:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def start(self) -> _Server:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True, kwargs={"poll_interval": 0.05}
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _read(handler: BaseHTTPRequestHandler) -> tuple[str, dict[str, str], Any]:
    parsed = urllib.parse.urlsplit(handler.path)
    query = dict(urllib.parse.parse_qsl(parsed.query))
    length = int(handler.headers.get("Content-Length") or 0)
    raw = handler.rfile.read(length) if length else b""
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode(errors="replace")
    return parsed.path, query, body


# A canned answer: status, extra headers, JSON body.
Answer = tuple[int, dict[str, str], Any]


def _answer(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: Any,
    headers: dict[str, str] | None = None,
) -> None:
    data = json.dumps(body).encode()
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):
        # The caller hung up before the answer (a notify process killed while a receiver
        # held its post): the request is kept, and there is no one left to answer.
        handler.close_connection = True


class ChatReceiver(_Server):
    """Accepts webhook POSTs (Google Chat, Slack or plain JSON) and keeps them.

    `statuses`: answers to give first, in order (then 200); `on_post` sees each one.
    `location`: the Location header of a 3xx answer. `hold`: seconds to wait before the
    next answer (once), as a slow chat service does. Every request, answered or not, is kept
    in `seen` (a GET too: a client that follows a redirect may send one); `posts` holds the
    messages created. Like Google Chat's spaces.messages.create, a POST whose `requestId`
    created a message before creates none: it is answered with that message.
    """

    def __init__(
        self,
        statuses: list[int] | None = None,
        on_post: Callable[[Posted], None] | None = None,
        location: str | None = None,
    ) -> None:
        super().__init__()
        self.posts: list[Posted] = []
        self.seen: list[Posted] = []
        self.statuses = list(statuses or [])
        self.on_post = on_post
        self.location = location
        self.hold = 0.0
        self.request_ids: dict[str, str] = {}  # requestId -> the message it created

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                path, query, body = _read(self)
                posted = Posted(path, query, dict(self.headers.items()), body)
                with receiver.lock:
                    receiver.seen.append(posted)
                    hold, receiver.hold = receiver.hold, 0.0
                if hold:
                    time.sleep(hold)
                request_id = query.get("requestId")
                created = False
                with receiver.lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    name = receiver.request_ids.get(request_id or "")
                    if status == 200 and name is None:
                        receiver.posts.append(posted)
                        created = True
                        name = f"spaces/demo/messages/{len(receiver.posts)}"
                        if request_id:
                            receiver.request_ids[request_id] = name
                if created and receiver.on_post is not None:
                    receiver.on_post(posted)
                redirect = 300 <= status < 400 and receiver.location
                _answer(
                    self,
                    status,
                    {"name": name} if status == 200 else {"error": {"code": status}},
                    {"Location": receiver.location} if redirect and receiver.location else None,
                )

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


class SlackApiReceiver(_Server):
    """Slack's chat.postMessage: a bot token, a channel; answers ok with the message's ts.

    `messages` holds every message posted (with its `thread_ts`, if any)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.messages: list[dict[str, Any]] = []

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                path, _, body = _read(self)
                if self.headers.get("Authorization") != f"Bearer {receiver.token}":
                    _answer(self, 200, {"ok": False, "error": "invalid_auth"})
                    return
                if path != "/chat.postMessage" or not isinstance(body, dict):
                    _answer(self, 404, {"ok": False, "error": "unknown_method"})
                    return
                if not body.get("channel"):
                    _answer(self, 200, {"ok": False, "error": "channel_not_found"})
                    return
                with receiver.lock:
                    ts = f"1732870000.{len(receiver.messages) + 1:06d}"
                    receiver.messages.append({**body, "ts": ts})
                _answer(self, 200, {"ok": True, "channel": body["channel"], "ts": ts})

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _words(text: str) -> str:
    """Text as GitHub's search matches it: case and punctuation ignored."""
    return " ".join(re.findall(r"[0-9a-z]+", text.lower()))


class GitHubReceiver(_Server):
    """The part of the GitHub REST API pullfix uses: the token's user (`GET /user`), issue
    search (a quoted phrase matched as GitHub does, ignoring case and punctuation; `is:open`,
    `is:closed`, `author:`), get, create, comment, and update (close, reopen). Every issue
    has its author (`user.login`): the token's `login`, or whoever `open_issue` names.

    `answers`: canned answers to give first, in order, to any request (rate limits,
    redirects, refusals); then the API as usual. `hold_after_create`: seconds to wait, once,
    after creating an issue and before answering (a `notify` killed meanwhile never learns
    the number).
    """

    def __init__(
        self, token: str, answers: list[Answer] | None = None, login: str = "pullfix-bot"
    ) -> None:
        super().__init__()
        self.token = token
        self.login = login
        self.answers = list(answers or [])
        self.issues: list[dict[str, Any]] = []
        self.requests: list[str] = []
        self.on_change: Callable[[str, dict[str, Any]], None] | None = None
        self.hold_after_create = 0.0

    def open_issue(self, title: str, body: str, login: str) -> dict[str, Any]:
        """An issue someone else opened (not through the API's token)."""
        with self.lock:
            return self._new_issue("shop/platform", title, body, [], login)

    def _new_issue(
        self, repo: str, title: str, body: str, labels: list[str], login: str
    ) -> dict[str, Any]:
        number = len(self.issues) + 1
        issue = {
            "number": number,
            "state": "open",
            "title": title,
            "body": body,
            "user": {"login": login, "type": "Bot" if login.endswith("[bot]") else "User"},
            "labels": [{"name": n} for n in labels],
            "comments": [],
            "html_url": f"{self.url}/{repo}/issues/{number}",
        }
        self.issues.append(issue)
        return issue

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        tracker = self

        class Handler(BaseHTTPRequestHandler):
            def _authorized(self) -> bool:
                with tracker.lock:
                    canned = tracker.answers.pop(0) if tracker.answers else None
                if canned is not None:
                    status, headers, body = canned
                    _answer(self, status, body, headers)
                    return False
                if self.headers.get("Authorization") != f"Bearer {tracker.token}":
                    _answer(self, 401, {"message": "Bad credentials"})
                    return False
                return True

            def do_GET(self) -> None:
                path, query, _ = _read(self)
                with tracker.lock:
                    tracker.requests.append(f"GET {path}")
                if not self._authorized():
                    return
                parts = path.strip("/").split("/")
                if path == "/user":
                    _answer(self, 200, {"login": tracker.login, "type": "User"})
                    return
                if len(parts) == 5 and parts[0] == "repos" and parts[3] == "issues":
                    with tracker.lock:
                        found = [i for i in tracker.issues if str(i["number"]) == parts[4]]
                    if found:
                        _answer(self, 200, found[0])
                    else:
                        _answer(self, 404, {"message": "Not Found"})
                    return
                if path != "/search/issues":
                    _answer(self, 404, {"message": "Not Found"})
                    return
                terms = query.get("q", "")
                phrase = _words(terms.split('"')[1] if terms.count('"') >= 2 else terms)
                states = {"open", "closed"}
                if "is:open" in terms.split():
                    states = {"open"}
                elif "is:closed" in terms.split():
                    states = {"closed"}
                authors = [t.split(":", 1)[1] for t in terms.split() if t.startswith("author:")]
                with tracker.lock:
                    items = [
                        i
                        for i in tracker.issues
                        if i["state"] in states
                        and phrase in _words(i["body"])
                        and (not authors or i["user"]["login"] in authors)
                    ]
                _answer(
                    self,
                    200,
                    {"total_count": len(items), "incomplete_results": False, "items": items},
                )

            def do_POST(self) -> None:
                path, _, body = _read(self)
                with tracker.lock:
                    tracker.requests.append(f"POST {path}")
                if not self._authorized():
                    return
                parts = path.strip("/").split("/")
                if len(parts) == 4 and parts[0] == "repos" and parts[3] == "issues":
                    with tracker.lock:
                        issue = tracker._new_issue(
                            "/".join(parts[1:3]),
                            body["title"],
                            body["body"],
                            body.get("labels", []),
                            tracker.login,
                        )
                        hold, tracker.hold_after_create = tracker.hold_after_create, 0.0
                    if tracker.on_change:
                        tracker.on_change("opened", issue)
                    if hold:
                        time.sleep(hold)
                    _answer(self, 201, issue)
                elif len(parts) == 6 and parts[3] == "issues" and parts[5] == "comments":
                    number = int(parts[4])
                    with tracker.lock:
                        issue = tracker.issues[number - 1]
                        issue["comments"].append(body["body"])
                    if tracker.on_change:
                        tracker.on_change("commented", issue)
                    _answer(self, 201, {"id": len(issue["comments"]), "body": body["body"]})
                else:
                    _answer(self, 404, {"message": "Not Found"})

            def do_PATCH(self) -> None:
                path, _, body = _read(self)
                with tracker.lock:
                    tracker.requests.append(f"PATCH {path}")
                if not self._authorized():
                    return
                parts = path.strip("/").split("/")
                if not (len(parts) == 5 and parts[0] == "repos" and parts[3] == "issues"):
                    _answer(self, 404, {"message": "Not Found"})
                    return
                with tracker.lock:
                    issue = tracker.issues[int(parts[4]) - 1]
                    if body.get("state") in ("open", "closed"):
                        issue["state"] = body["state"]
                        issue["state_reason"] = body.get("state_reason")
                if tracker.on_change:
                    tracker.on_change(str(body.get("state")), issue)
                _answer(self, 200, issue)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
