"""`pullfix dlq replay`: dead-lettered messages back to the pull-failures topic.

Pub/Sub's REST API over `RestClient` (https://cloud.google.com/pubsub/docs/reference/rest):
`subscriptions.pull` from the dead-letter subscription, `topics.publish` of each message's
data and attributes as they were published (less the `CloudPubSubDeadLetter*` attributes
Pub/Sub added when it dead-lettered the message), and `subscriptions.acknowledge` of a
message only once its publish succeeded: a replay that stops half-way loses nothing, and
the messages it did not replay are handed back at once (`modifyAckDeadline` 0). `--dry-run`
lists what would be replayed and hands every message back.
"""

from __future__ import annotations

import argparse
import base64
import sys
from dataclasses import dataclass
from typing import Any, TextIO

from pullfix.errors import PullfixError

__all__ = ["DEAD_LETTER_PREFIX", "Replayed", "add_dlq_command", "replay"]

EXIT_OK, EXIT_INPUT, EXIT_ACCESS, EXIT_TRANSIENT = 0, 3, 4, 5
# The attributes Pub/Sub adds to a message it dead-letters (https://cloud.google.com/pubsub/
# docs/handling-failures#track-delivery-attempts): not the message's own.
DEAD_LETTER_PREFIX = "CloudPubSubDeadLetter"
# One pull asks for at most this many messages (Pub/Sub's own limit is 1,000).
_PAGE = 100
_TIMEOUT = 30.0


class _Stop(PullfixError):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Replayed:
    """One dead-lettered message, and what became of it."""

    message_id: str
    publish_time: str
    delivery_attempts: str  # as Pub/Sub counted them before dead-lettering, or ""
    source: str  # the subscription that dead-lettered it, or ""
    size: int  # bytes of data
    attributes: dict[str, str]  # the message's own, as replayed
    new_message_id: str | None  # None in a dry run

    def record(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "publish_time": self.publish_time,
            "delivery_attempts": self.delivery_attempts,
            "source_subscription": self.source,
            "size": self.size,
            "attributes": self.attributes,
            "replayed_as": self.new_message_id,
        }


def _path(name: str, kind: str) -> tuple[str, str]:
    """(project, id) of `projects/P/KIND/ID`; else a usage error (exit 3)."""
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "projects" or parts[2] != kind or not all(parts):
        raise _Stop(EXIT_INPUT, f"expected projects/P/{kind}/NAME, got {name!r:.200}")
    return parts[1], parts[3]


class _PubSub:
    """The three calls, each through pullfix's error handling (`gcp.adapter.guard`)."""

    def __init__(self, rest: Any) -> None:
        self.rest = rest

    def _post(self, what: str, template: str, name: str, kind: str, body: dict[str, Any]) -> Any:
        from pullfix.gcp.adapter import guard

        project, ident = _path(name, kind)
        return guard(
            what,
            lambda: self.rest.post("pubsub", template, project, ident, body=body, timeout=_TIMEOUT),
        )

    def pull(self, subscription: str, count: int) -> list[dict[str, Any]]:
        answer = self._post(
            f"pulling from {subscription}",
            "/v1/projects/{}/subscriptions/{}:pull",
            subscription,
            "subscriptions",
            # Answer at once when nothing is waiting: the replay ends there.
            {"maxMessages": count, "returnImmediately": True},
        )
        received: list[dict[str, Any]] = answer.get("receivedMessages") or []
        return received

    def publish(self, topic: str, message: dict[str, Any]) -> str:
        answer = self._post(
            f"publishing to {topic}",
            "/v1/projects/{}/topics/{}:publish",
            topic,
            "topics",
            {"messages": [message]},
        )
        return str(answer["messageIds"][0])

    def acknowledge(self, subscription: str, ack_ids: list[str]) -> None:
        self._post(
            f"acknowledging on {subscription}",
            "/v1/projects/{}/subscriptions/{}:acknowledge",
            subscription,
            "subscriptions",
            {"ackIds": ack_ids},
        )

    def hand_back(self, subscription: str, ack_ids: list[str]) -> None:
        """Make messages deliverable again now (a deadline of 0 s is a nack)."""
        if ack_ids:
            self._post(
                f"handing messages back to {subscription}",
                "/v1/projects/{}/subscriptions/{}:modifyAckDeadline",
                subscription,
                "subscriptions",
                {"ackIds": ack_ids, "ackDeadlineSeconds": 0},
            )


def _original(message: dict[str, Any]) -> dict[str, Any]:
    """The message as it was published: its data, attributes and ordering key."""
    attributes = {
        k: v
        for k, v in (message.get("attributes") or {}).items()
        if not k.startswith(DEAD_LETTER_PREFIX)
    }
    original: dict[str, Any] = {"data": message.get("data", "")}
    if attributes:
        original["attributes"] = attributes
    if message.get("orderingKey"):
        original["orderingKey"] = message["orderingKey"]
    return original


def _described(message: dict[str, Any], new_id: str | None) -> Replayed:
    attributes = message.get("attributes") or {}
    data = message.get("data", "")
    return Replayed(
        message_id=str(message.get("messageId", "")),
        publish_time=str(message.get("publishTime", "")),
        delivery_attempts=str(attributes.get("CloudPubSubDeadLetterSourceDeliveryCount", "")),
        source=str(attributes.get("CloudPubSubDeadLetterSourceSubscription", "")),
        size=len(base64.b64decode(data)) if data else 0,
        attributes=dict(_original(message).get("attributes", {})),
        new_message_id=new_id,
    )


def replay(
    rest: Any, subscription: str, topic: str, limit: int | None, dry_run: bool
) -> list[Replayed]:
    """Replay up to `limit` (None: every) message waiting on `subscription` to `topic`."""
    pubsub = _PubSub(rest)
    _path(subscription, "subscriptions")
    _path(topic, "topics")
    done: list[Replayed] = []
    seen: set[str] = set()
    while limit is None or len(done) < limit:
        want = _PAGE if limit is None else min(_PAGE, limit - len(done))
        received = pubsub.pull(subscription, want)
        fresh = [r for r in received if r["message"].get("messageId") not in seen]
        # A dry run hands each message back, so a later pull may bring it again: the listing
        # ends at the first pull that brings nothing new.
        if not fresh:
            pubsub.hand_back(subscription, [r["ackId"] for r in received])
            break
        keep = fresh[: None if limit is None else limit - len(done)]
        rest_of_page = [r["ackId"] for r in received if r not in keep]
        for number, item in enumerate(keep):
            message = item["message"]
            seen.add(message.get("messageId"))
            if dry_run:
                done.append(_described(message, None))
                continue
            try:
                new_id = pubsub.publish(topic, _original(message))
            except BaseException:
                # Not published: this message and the rest of the page go back now.
                unreplayed = [r["ackId"] for r in keep[number:]]
                pubsub.hand_back(subscription, unreplayed + rest_of_page)
                raise
            pubsub.acknowledge(subscription, [item["ackId"]])
            done.append(_described(message, new_id))
        if dry_run:
            rest_of_page += [r["ackId"] for r in keep]
        pubsub.hand_back(subscription, rest_of_page)
    return done


def _print(records: list[Replayed], args: argparse.Namespace, out: TextIO) -> None:
    from pullfix.cli.output import output_format, write_structured

    fmt = output_format(args)
    if fmt != "table":
        write_structured([r.record() for r in records], fmt, out)
        return
    from pullfix.cli.tables import render_table

    rows = [
        [
            r.message_id,
            r.publish_time,
            r.delivery_attempts or "-",
            r.source or "-",
            str(r.size),
            r.new_message_id or "(dry run)",
        ]
        for r in records
    ]
    headers = ["message", "dead-lettered", "attempts", "from", "bytes", "replayed as"]
    out.write(render_table(headers, rows) + "\n")
    verb = "would replay" if args.dry_run else "replayed"
    noun = "message" if len(records) == 1 else "messages"
    out.write(f"\n{len(records)} {noun} {verb} to {args.topic_name}\n")


def _names(args: argparse.Namespace) -> tuple[str, str]:
    """The dead-letter subscription and the topic, from the flags or Terraform's names."""
    subscription, topic = args.subscription, args.topic
    if subscription is None or topic is None:
        if not args.project:
            raise _Stop(
                EXIT_INPUT, "name --project (Terraform's names), or --subscription and --topic"
            )
        project = args.project.removeprefix("projects/")
        subscription = subscription or f"projects/{project}/subscriptions/{args.prefix}-dead-letter"
        topic = topic or f"projects/{project}/topics/{args.prefix}-pull-failures"
    return subscription, topic


def run_replay(args: argparse.Namespace, out: TextIO) -> int:
    from google.auth import exceptions as auth_exceptions

    from pullfix.core.model import AccessDenied, TransientError
    from pullfix.gcp.clients import GoogleClients
    from pullfix.gcp.endpoints import EndpointError

    hint = "run `gcloud auth application-default login`, or set PUBSUB_EMULATOR_HOST"
    try:
        if args.max is not None and args.max < 1:
            raise _Stop(EXIT_INPUT, f"--max must be 1 or more, got {args.max}")
        subscription, topic = _names(args)
        args.topic_name = topic
        try:
            clients = GoogleClients.from_env()
        except EndpointError as exc:
            raise _Stop(EXIT_INPUT, str(exc)) from exc
        try:
            records = replay(clients.rest, subscription, topic, args.max, args.dry_run)
        except AccessDenied as exc:
            raise _Stop(EXIT_ACCESS, f"permission or API missing: {exc}") from exc
        except TransientError as exc:
            raise _Stop(EXIT_TRANSIENT, f"a Google API failed, retry later: {exc}") from exc
        except PullfixError as exc:  # a permanent answer: no such subscription or topic
            call = getattr(exc, "call", None)
            raise _Stop(EXIT_INPUT, f"{call}: {exc}" if call else str(exc)) from exc
        finally:
            clients.close()
    except _Stop as stop:
        print(f"pullfix dlq replay: {stop}", file=sys.stderr)
        return stop.code
    except auth_exceptions.GoogleAuthError as exc:
        reason = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        print(
            f"pullfix dlq replay: Google credentials cannot be used ({reason}): {hint}",
            file=sys.stderr,
        )
        return EXIT_ACCESS
    _print(records, args, out)
    return EXIT_OK


def add_dlq_command(commands: Any) -> None:
    """`pullfix dlq replay` on the `pullfix` parser's subcommands."""
    from pullfix.cli.output import add_format_argument

    dlq = commands.add_parser("dlq", help="the dead-letter subscription")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True, metavar="COMMAND")
    replay_parser: argparse.ArgumentParser = dlq_commands.add_parser(
        "replay",
        help="re-publish dead-lettered messages to the pull-failures topic",
        description="Pull the messages waiting on the dead-letter subscription and publish "
        "each, with its data and attributes as first published, to the pull-failures topic; "
        "each is acknowledged only after its publish succeeded. --dry-run lists them and "
        "leaves them there. Exit 0; 3 bad input (a name, no such subscription or topic); "
        "4 missing credentials, permission or API; 5 a transient Google error.",
        epilog="examples:\n"
        "  pullfix dlq replay --project pullfix-host --dry-run\n"
        "  pullfix dlq replay --project pullfix-host --max 10\n"
        "  pullfix dlq replay --subscription projects/P/subscriptions/S "
        "--topic projects/P/topics/T --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    replay_parser.add_argument("--project", help="the host project of Terraform's names")
    replay_parser.add_argument(
        "--prefix", default="pullfix", help="Terraform's prefix of the names; pullfix"
    )
    replay_parser.add_argument(
        "--subscription",
        help="the dead-letter subscription (default: PROJECT's PREFIX-dead-letter)",
    )
    replay_parser.add_argument(
        "--topic", help="where to publish (default: PROJECT's PREFIX-pull-failures)"
    )
    replay_parser.add_argument("--max", type=int, metavar="N", help="at most N messages")
    replay_parser.add_argument(
        "--dry-run", action="store_true", help="list the messages; replay and acknowledge none"
    )
    add_format_argument(replay_parser, "one object per message, JSON Lines")
    replay_parser.set_defaults(handler=run_replay)
