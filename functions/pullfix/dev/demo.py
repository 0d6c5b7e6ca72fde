"""`pullfix demo`: the whole pipeline on this machine, on bundled events.

The sandbox serves the bundled world; `remediate` and `notify` run under functions-framework
on loopback; the sandbox's outcomes topic pushes to `notify`, which posts to the payments
team's Google Chat space as the Chat app (the sandbox's Chat API), a local Slack receiver and
a local GitHub-API-shaped issue tracker. Each
event's journey is printed, then a summary table. Last, grants on the `releases` repository
wait for approval: `approve` runs too, one request is approved with a Google Chat click
(a token signed by a local key whose certificate is served on loopback) and one denied with
a signed Slack click. Nothing is left running afterwards.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

import yaml

from pullfix.cli.tables import render_table
from pullfix.core.imageref import parse_image
from pullfix.core.intake import format_timestamp, parse_timestamp
from pullfix.dev.clicks import ChatSigner, chat_event, click, slack_body, slack_headers
from pullfix.dev.events import (
    eventarc_headers,
    log_entry,
    pull_message,
    pulled_message,
    push_body,
)
from pullfix.dev.localrun import FunctionServer, post
from pullfix.dev.receivers import ChatReceiver, GitHubReceiver, Posted
from pullfix.dev.sandbox.world import ChatSpace

__all__ = ["run_demo", "sample_events"]

# The local tracker checks that notify sends the token it was given; it guards nothing.
DEMO_GITHUB_TOKEN = "ghp_pullfixDemoTokenForTheLocalTracker"  # noqa: S105
CONFIG = {
    "auto_grant": {
        "repositories": ["projects/shop-*/locations/*/repositories/*"],
        "cluster_projects": ["shop-prod"],
        "max_per_hour": 20,
        # Grants on `releases` wait for an approver's click (the demo's last scene).
        "approval_repositories": ["projects/shop-prod/locations/*/repositories/releases"],
        "approvers": ["alice@shop.example", "slack:U0BOBSRE"],
    },
    "max_event_age": "36500d",  # the bundled events keep their timestamps
    "abandon_after": "36500d",  # nor are their incidents abandoned for being old
    # One ledger for the four functions: the sandbox's Firestore.
    "ledger": {"firestore": {"project": "shop-prod"}},
    "notify": {
        "routes": [
            # As the Chat app, through the (sandbox's) Chat API: its approval cards can be
            # clicked, which a webhook's cannot.
            {"namespace": "payments-*", "chat": "google", "google_chat_space": "spaces/DEMO"},
            {
                "chat": "slack",
                "webhook_url_env": "PULLFIX_DEMO_SLACK",
                "tickets": "github",
                "github_repo": "shop/platform",
                "github_token_env": "PULLFIX_DEMO_GITHUB_TOKEN",
            },
        ]
    },
}


def sample_events() -> list[bytes]:
    """The bundled sample events, one JSON document per line."""
    text = resources.files("pullfix").joinpath("dev/samples/events.jsonl").read_bytes()
    return [line for line in text.splitlines() if line.strip()]


def _deliver(url: str, raw: bytes, number: int) -> int:
    """POST one bundled line to `remediate` the way Eventarc would."""
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if isinstance(value, dict) and "specversion" in value:
        return post(url, raw, {"Content-Type": "application/cloudevents+json"})
    if isinstance(value, dict) and "jsonPayload" in value:
        value = push_body(value, message_id=f"demo-{number}", project="shop-prod")
    body = json.dumps(value).encode() if value is not None else raw
    return post(
        url, body, eventarc_headers(f"demo-{number}", "projects/shop-prod/topics/pull-failures")
    )


def _last_result(log: Path, offset: int) -> dict[str, Any] | None:
    """What remediate logged about the event it just handled (its last structured line)."""
    with log.open("rb") as lines:
        lines.seek(offset)
        found = None
        for line in lines:
            if line.startswith(b"{"):
                entry = json.loads(line)
                if "schema" in entry or entry.get("action") == "ignored":
                    found = entry
    return found


def run_demo(out: TextIO) -> int:
    """Run the pipeline on the bundled world and events; print the journey and a summary."""
    from pullfix.dev.sandbox import Sandbox, load_world

    started = time.perf_counter()
    events = [*sample_events(), _api_disabled_event()]
    seen: list[str] = []

    def on_chat(kind: str) -> Any:
        def record(posted: Posted) -> None:
            text = posted.body.get("text", "") if isinstance(posted.body, dict) else ""
            seen.append(f"{kind}: {text.splitlines()[0] if text else '(empty)'}")

        return record

    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pullfix-demo-")))
        slack = stack.enter_context(ChatReceiver(on_post=on_chat("Slack")))
        github = stack.enter_context(GitHubReceiver(DEMO_GITHUB_TOKEN))
        tickets: list[str] = []
        github.on_change = lambda what, issue: tickets.append(
            f"GitHub: {what} shop/platform#{issue['number']} {issue['title'][:70]}"
        )
        config = folder / "config.yaml"
        config.write_text(yaml.safe_dump(CONFIG))
        world = _demo_world(load_world)
        sandbox = stack.enter_context(Sandbox(world, push_min_backoff=0.05, grpc=False))
        chat = _ChatSpace(sandbox, on_chat("Google Chat"))
        base_env = {"PULLFIX_CONFIG": str(config), "PULLFIX_GCP_ENDPOINT": sandbox.endpoint}
        notify = stack.enter_context(
            FunctionServer(
                "notify",
                log_path=folder / "notify.log",
                env={
                    **base_env,
                    "PULLFIX_DEMO_SLACK": f"{slack.url}/services/T000/B000/XXXX",
                    "PULLFIX_DEMO_GITHUB_TOKEN": DEMO_GITHUB_TOKEN,
                    "PULLFIX_GITHUB_API": github.url,
                },
            )
        )
        sandbox.world.projects["shop-prod"].topics["pull-outcomes"].push_endpoint = notify.url
        remediate_log = folder / "remediate.log"
        function_env = {
            **base_env,
            "PULLFIX_OUTCOMES_TOPIC": "projects/shop-prod/topics/pull-outcomes",
        }
        remediate = stack.enter_context(
            FunctionServer("remediate", log_path=remediate_log, env=function_env)
        )
        out.write(
            f"pullfix demo: sandbox on {sandbox.endpoint}, remediate on {remediate.url}, "
            f"notify on {notify.url}\n\n"
        )
        rows, causes, actions = [], Counter[str](), Counter[str]()
        outcomes: list[dict[str, Any]] = []
        for number, raw in enumerate(events, start=1):
            seen_before, tickets_before = len(seen), len(tickets)
            log_offset = remediate_log.stat().st_size if remediate_log.exists() else 0
            status = _deliver(remediate.url, raw, number)
            sandbox.drain(30)
            outcome = _last_result(remediate_log, log_offset)
            rows.append(
                _journey(
                    out, number, raw, status, outcome, seen[seen_before:], tickets[tickets_before:]
                )
            )
            ignored = outcome is None or outcome.get("action") == "ignored"
            if outcome is not None and not ignored:
                outcomes.append(outcome)
            causes["(ignored)" if ignored or outcome is None else outcome["cause"]] += 1
            actions["ignored" if ignored or outcome is None else outcome["action"]] += 1
        out.write(
            render_table(["#", "workload", "cause", "action", "chat", "ticket"], rows) + "\n\n"
        )
        summary = [
            ["events", str(len(events))],
            ["causes", ", ".join(f"{c} {n}" for c, n in sorted(causes.items()))],
            ["grants", str(actions["grant"])],
            [
                "tickets",
                f"{sum(1 for i in github.issues)} opened, "
                f"{sum(len(i['comments']) for i in github.issues)} comments",
            ],
            ["messages", f"{len(chat.posts)} Google Chat, {len(slack.posts)} Slack"],
        ]
        out.write(render_table(["pipeline", "total"], summary) + "\n")
        if chat.posts:
            out.write("\nWhat the payments team saw in Google Chat (text fallback):\n\n")
            out.write(_indent(chat.posts[0].body["text"]) + "\n")
        _close_the_loop(out, stack, folder, sandbox, function_env, outcomes, seen, tickets, chat)
        _approval_in_chat(out, stack, folder, sandbox, remediate, function_env, seen, chat, slack)
    out.write(f"\ndemo finished in {time.perf_counter() - started:.1f}s; every process stopped\n")
    return 0


def _close_the_loop(
    out: TextIO,
    stack: ExitStack,
    folder: Path,
    sandbox: Any,
    env: dict[str, str],
    outcomes: list[dict[str, Any]],
    seen: list[str],
    tickets: list[str],
    chat: _ChatSpace,
) -> None:
    """Later: the granted workload pulls again; a human pushes the missing tag and that
    workload pulls too. One tick of `verify` closes both incidents."""
    granted = next(o for o in outcomes if o["action"] == "grant")
    missing = next(o for o in outcomes if o["cause"] == "not_found")
    # The human's fix: the tag is pushed to its repository.
    image = parse_image(missing["event"]["image"])
    repository = image.ar_repository or ""
    project, name = repository.split("/")[1], repository.rsplit("/", 1)[-1]
    tags = sandbox.world.projects[project].repositories[name].tags
    tags.append(f"{image.ar_image_path}:{image.tag_or_latest}")
    sandbox.world.log_entries.extend(
        [_pulled(granted, seconds=151), _pulled(missing, seconds=7 * 60 + 12)]
    )
    out.write(
        "\nLater: the kubelet pulls "
        f"{granted['event']['image']} for {granted['event']['workload']} (after the grant), "
        f"and a human pushes {image.tag_or_latest} to {name}, so "
        f"{missing['event']['workload']} pulls too. The scheduler ticks verify:\n\n"
    )
    verify = stack.enter_context(FunctionServer("verify", log_path=folder / "verify.log", env=env))
    seen_before, tickets_before = len(seen), len(tickets)
    body = push_body({"pullfix": "verify"}, message_id="demo-tick", project="shop-prod")
    status = post(
        verify.url,
        json.dumps(body).encode(),
        eventarc_headers("demo-tick", "projects/shop-prod/topics/pullfix-verify"),
    )
    sandbox.drain(30)
    for line in (folder / "verify.log").read_text().splitlines():
        if line.startswith("{") and '"verification"' in line:
            verdict = json.loads(line)["verification"]
            event = verdict["event"]
            out.write(
                f"    verify    -> {event['namespace']}/{event['workload']}: "
                f"{verdict['action']} in {verdict['time_to_fix_seconds']}s "
                f"(first failure -> first successful pull), by {verdict['fixed_by']}\n"
            )
    for line in seen[seen_before:] + tickets[tickets_before:]:
        out.write(f"    notify    -> {line}\n")
    out.write(f"    (verify answered {status})\n")
    thread = [
        p for p in chat.posts if p.body.get("thread", {}).get("threadKey") == granted["fingerprint"]
    ]
    if len(thread) > 1:
        out.write("\nThe payments team's thread in Google Chat now reads:\n\n")
        for posted in thread:
            out.write(_indent(posted.body["text"].splitlines()[0]) + "\n")


# The demo's Slack app's signing secret (the local approve function checks clicks with it).
DEMO_SLACK_SECRET = "demo-signing-secret-for-local-clicks"  # noqa: S105
DEMO_CHAT_AUDIENCE = "111111111111"  # the Chat app's project number (shop-prod's)
RELEASES = "projects/shop-prod/locations/us-central1/repositories/releases"
# (namespace, workload, node pool, its account, image) of the two grants that wait.
APPROVALS = (
    ("payments-api", "ledger", "payments-pool", "payments-nodes", "payments:4.2"),
    ("search", "indexer", "search-pool", "search-nodes", "search:1.8"),
)


def _account(name: str) -> str:
    return f"{name}@shop-prod.iam.gserviceaccount.com"


def _add_releases(world: Any) -> None:
    """A `releases` repository and two node pools whose accounts cannot read it yet; the
    payments team's Google Chat space, with pullfix's Chat app in it."""
    world.chat_spaces["DEMO"] = ChatSpace("DEMO")
    from pullfix.dev.sandbox.world import world_from_dict

    extra = world_from_dict(
        {
            "projects": {
                "shop-prod": {
                    "number": 111111111111,
                    "service_accounts": {_account(a): {} for *_, a, _ in APPROVALS},
                    "clusters": {
                        "checkout": {
                            "location": "us-central1",
                            "version": "1.29.4-gke.1043002",
                            "node_pools": {
                                pool: {
                                    "version": "1.29.4-gke.1043002",
                                    "service_account": _account(account),
                                    "oauth_scopes": [
                                        "https://www.googleapis.com/auth/devstorage.read_only"
                                    ],
                                    "nodes": [f"gke-checkout-{pool}-0a1b2c3d-n001"],
                                }
                                for _, _, pool, account, _ in APPROVALS
                            },
                        }
                    },
                    "repositories": {
                        "releases": {
                            "location": "us-central1",
                            "iam": [],
                            "tags": [image for *_, image in APPROVALS],
                        }
                    },
                }
            }
        },
        "demo releases",
    ).projects["shop-prod"]
    prod = world.projects["shop-prod"]
    prod.service_accounts.update(extra.service_accounts)
    prod.clusters["checkout"].node_pools.update(extra.clusters["checkout"].node_pools)
    prod.repositories.update(extra.repositories)


def _demo_world(load_world: Any) -> Any:
    """The bundled world, with the releases repository and the legacy project."""
    world = load_world(Path(str(resources.files("pullfix").joinpath("dev/samples/world.yaml"))))
    _add_releases(world)
    _add_legacy(world)
    return world


def _add_legacy(world: Any) -> None:
    """`shop-legacy`, whose Artifact Registry API is disabled: its refusals read `403
    Forbidden` like a missing role, and Service Usage says no grant would fix them."""
    from pullfix.dev.sandbox.world import world_from_dict

    legacy = {
        "number": 333333333333,
        "disabled_services": ["artifactregistry.googleapis.com"],
        "repositories": {"legacy": {"location": "us-central1", "tags": ["web:1.0"]}},
    }
    extra = world_from_dict({"projects": {"shop-legacy": legacy}}, "demo legacy")
    world.projects.update(extra.projects)


def _api_disabled_event() -> bytes:
    """A pull from shop-legacy, as containerd reports any refusal (a bare 403)."""
    image = "us-central1-docker.pkg.dev/shop-legacy/legacy/web:1.0"
    entry = log_entry(
        project="shop-prod",
        location="us-central1",
        cluster="checkout",
        namespace="legacy",
        pod="web-6f7a8b9c0-zt5q1",
        node="gke-checkout-default-pool-1a2b3c4d-x7k9",
        message=pull_message(
            image,
            f'failed to resolve reference "{image}": unexpected status from HEAD request to '
            "https://us-central1-docker.pkg.dev/v2/shop-legacy/legacy/web/manifests/1.0: "
            "403 Forbidden",
        ),
        controller=("Deployment", "web"),
        timestamp="2026-11-20T10:00:07Z",
        insert_id="demo0015",
    )
    return json.dumps(entry).encode()


def _approval_in_chat(
    out: TextIO,
    stack: ExitStack,
    folder: Path,
    sandbox: Any,
    remediate: FunctionServer,
    env: dict[str, str],
    seen: list[str],
    chat: _ChatSpace,
    slack: ChatReceiver,
) -> None:
    """Two grants on `releases` wait for approval: one approved in Google Chat, one denied
    in Slack, each click signed as the platform signs it and checked by `approve`."""
    signer = stack.enter_context(ChatSigner())
    approve = stack.enter_context(
        FunctionServer(
            "approve",
            log_path=folder / "approve.log",
            signature_type="http",
            env={
                **env,
                "PULLFIX_CHAT_AUDIENCE": DEMO_CHAT_AUDIENCE,
                "PULLFIX_CHAT_CERTS_URL": signer.certs_url,
                "PULLFIX_SLACK_SIGNING_SECRET": DEMO_SLACK_SECRET,
            },
        )
    )
    out.write(
        "\nGrants on releases wait for an approver (auto_grant.approval_repositories); "
        f"approve runs on {approve.url}:\n\n"
    )
    log = folder / "remediate.log"
    requests: list[str] = []
    for number, (namespace, workload, pool, account, tag) in enumerate(APPROVALS, start=1):
        image = f"us-central1-docker.pkg.dev/shop-prod/releases/{tag}"
        entry = log_entry(
            project="shop-prod",
            location="us-central1",
            cluster="checkout",
            namespace=namespace,
            pod=f"{workload}-6c9d7f-k2x8p",
            node=f"gke-checkout-{pool}-0a1b2c3d-n001",
            message=pull_message(image, "403 Forbidden"),
            controller=("Deployment", workload),
            container="app",
            timestamp=format_timestamp(datetime.now(UTC)),
            insert_id=f"approval-demo-{number}",
        )
        seen_before, offset = len(seen), log.stat().st_size
        chats_before, slacks_before = len(chat.posts), len(slack.posts)
        push = push_body(entry, message_id=f"demo-approval-{number}", project="shop-prod")
        post(
            remediate.url,
            json.dumps(push).encode(),
            eventarc_headers(f"demo-approval-{number}", "projects/shop-prod/topics/pull-failures"),
        )
        sandbox.drain(30)
        outcome = _last_result(log, offset) or {}
        approval = outcome.get("approval") or {}
        requests.append(str(approval.get("id")))
        out.write(f"[{namespace}/Deployment/{workload}]  {image}\n")
        out.write(
            f"    remediate -> {outcome.get('cause')} -> {outcome.get('action')}: "
            f"serviceAccount:{_account(account)} on releases, "
            f"until {approval.get('expires_at')}\n"
        )
        posted = [*chat.posts[chats_before:], *slack.posts[slacks_before:]]
        buttons = " ".join(f"[{b}]" for p in posted for b in _buttons(p.body))
        for line in seen[seen_before:]:
            out.write(f"    notify    -> {line}\n")
        app = chat.posts[chats_before:]
        where = f", posted as the Chat app ({app[0].body['name']})" if app else ""
        out.write(f"              with the buttons {buttons or '(none)'}{where}\n")
    headers = {
        "Authorization": f"Bearer {signer.token(DEMO_CHAT_AUDIENCE)}",
        "Content-Type": "application/json",
    }
    status, answer = click(approve.url, chat_event(requests[0], "alice@shop.example"), headers)
    text = _card_text(answer)
    out.write(f"\n    alice@shop.example clicks Approve in Google Chat -> {status}: {text}\n")
    body = slack_body(requests[1], "U0BOBSRE", "deny")
    status, answer = click(approve.url, body, slack_headers(body, DEMO_SLACK_SECRET))
    denied = answer["blocks"][0]["text"]["text"] if isinstance(answer, dict) else answer
    out.write(f"    slack:U0BOBSRE clicks Deny in Slack -> {status}: {denied}\n")
    forged = slack_headers(body, "a guessed secret")
    status, answer = click(approve.url, body, forged)
    out.write(f"    a forged Slack click (wrong signature) -> {status}: {answer}\n")
    sandbox.drain(30)
    readers = (
        sandbox.world.projects["shop-prod"]
        .repositories["releases"]
        .policy.members_of("roles/artifactregistry.reader")
    )
    out.write(f"\n    releases readers now: {', '.join(sorted(readers)) or 'none'}\n")


class _ChatSpace:
    """The payments team's Google Chat space: what the Chat app posted there, as the
    sandbox's Chat API recorded it (`spaces.messages.create`)."""

    def __init__(self, sandbox: Any, record: Any) -> None:
        self.posts: list[Posted] = []
        self._record = record
        sandbox.app.chat_listeners.append(self)

    def __call__(self, message: dict[str, Any]) -> None:
        posted = Posted(path=str(message.get("name")), query={}, headers={}, body=message)
        self.posts.append(posted)
        self._record(posted)


def _buttons(body: Any) -> list[str]:
    """The labels of the buttons a posted message carries (a Chat card's, Slack's blocks')."""
    labels: list[str] = []
    for card in body.get("cardsV2") or []:
        for section in card["card"].get("sections") or []:
            for widget in section.get("widgets") or []:
                labels += [b["text"] for b in (widget.get("buttonList") or {}).get("buttons", [])]
    for block in body.get("blocks") or []:
        if block.get("type") == "actions":
            labels += [e["text"]["text"] for e in block["elements"]]
    return labels


def _card_text(answer: Any) -> str:
    """The text of the Chat card `approve` answered with."""
    try:
        widgets = answer["cardsV2"][0]["card"]["sections"][0]["widgets"]
        return str(widgets[0]["textParagraph"]["text"])
    except (KeyError, IndexError, TypeError):
        return str(answer)


def _pulled(outcome: dict[str, Any], *, seconds: int) -> dict[str, Any]:
    """The kubelet's Pulled event for an outcome's pod, `seconds` after its failure."""
    event = outcome["event"]
    project, _, location, _, cluster = event["cluster"].split("/")[1:6]
    kind, _, name = (event.get("workload") or "Pod/").partition("/")
    when = parse_timestamp(event["timestamp"])
    assert when is not None
    return log_entry(
        project=project,
        location=location,
        cluster=cluster,
        namespace=event["namespace"],
        pod=event["pod"],
        node=event["node"],
        message=pulled_message(event["image"]),
        reason="Pulled",
        controller=(kind, name) if kind != "Pod" else None,
        timestamp=format_timestamp(when + timedelta(seconds=seconds)),
        insert_id=f"pulled-{outcome['fingerprint'][-8:]}",
    )


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines())


def _journey(
    out: TextIO,
    number: int,
    raw: bytes,
    status: int,
    outcome: dict[str, Any] | None,
    messages: list[str],
    tickets: list[str],
) -> list[str]:
    if outcome is None or outcome.get("action") == "ignored":
        detail = (outcome or {}).get("detail") or "no result logged"
        out.write(f"[{number}] remediate answered {status}, acknowledged and ignored: {detail}\n\n")
        return [str(number), "-", str((outcome or {}).get("rejection") or "-"), "ignored", "-", "-"]
    event = outcome["event"]
    workload = f"{event.get('namespace')}/{event.get('workload') or event.get('pod')}"
    out.write(f"[{number}] {workload}  {event.get('image')}\n")
    grant = outcome.get("grant")
    did = (
        f"{grant['role']} on {grant['resource']} to {grant['member']}"
        if grant
        else (outcome.get("reasons") or [""])[0]
    )
    out.write(f"    remediate -> {outcome['cause']} -> {outcome['action']}: {did}\n")
    for line in messages + tickets:
        out.write(f"    notify    -> {line}\n")
    out.write("\n")
    chat = messages[0].split(":")[0] if messages else "-"
    ticket = tickets[0].split(" ")[1] + " " + tickets[0].split(" ")[2] if tickets else "-"
    return [str(number), workload, outcome["cause"], outcome["action"], chat, ticket]
