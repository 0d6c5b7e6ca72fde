"""`pullfix dlq replay` against Google's Pub/Sub emulator, with messages dead-lettered by a
real dead-letter policy."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
import requests

from pullfix.cli.main import main
from tests.emulators import PubSub, Running

pytestmark = pytest.mark.integration
PROJECT = "pullfix-host"
ATTEMPTS = 5  # Pub/Sub's least max_delivery_attempts


@pytest.fixture
def pubsub(pubsub_emulator: Running, monkeypatch: pytest.MonkeyPatch) -> PubSub:
    """Terraform's topics and dead-letter subscription, and a subscription `work` on the
    pull-failures topic that dead-letters after ATTEMPTS deliveries."""
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator.host)
    monkeypatch.delenv("PULLFIX_GCP_ENDPOINT", raising=False)
    bus = PubSub(pubsub_emulator, PROJECT)
    failures = bus.topic("pullfix-pull-failures")
    dead_letter = bus.topic("pullfix-dead-letter")
    bus.subscription("pullfix-dead-letter", {"topic": dead_letter, "ackDeadlineSeconds": 60})
    bus.subscription(
        "work",
        {
            "topic": failures,
            "ackDeadlineSeconds": 10,
            "deadLetterPolicy": {"deadLetterTopic": dead_letter, "maxDeliveryAttempts": ATTEMPTS},
        },
    )
    return bus


def _dead_letter(bus: PubSub, messages: list[tuple[bytes, dict[str, str]]]) -> list[str]:
    """Publish `messages` to the pull-failures topic and refuse every delivery on `work`
    until Pub/Sub dead-letters them; their ids."""
    ids = [
        bus.publish(f"projects/{PROJECT}/topics/pullfix-pull-failures", data, attrs)
        for data, attrs in messages
    ]
    work = f"{bus.base}/projects/{PROJECT}/subscriptions/work"
    deadline = time.monotonic() + 60
    quiet_since = time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - quiet_since < 2:
        answer = requests.post(
            f"{work}:pull", json={"maxMessages": 100, "returnImmediately": True}, timeout=10
        ).json()
        received = answer.get("receivedMessages", [])
        if not received:
            time.sleep(0.1)
            continue
        quiet_since = time.monotonic()
        requests.post(
            f"{work}:modifyAckDeadline",
            json={"ackIds": [r["ackId"] for r in received], "ackDeadlineSeconds": 0},
            timeout=10,
        ).raise_for_status()
    return ids


def _replayed_subscription(bus: PubSub) -> str:
    """A subscription on the pull-failures topic from now on: what the replay published."""
    return bus.subscription(
        "replayed", {"topic": f"projects/{PROJECT}/topics/pullfix-pull-failures"}
    )


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, Any]]]:
    code = main(["dlq", "replay", "--project", PROJECT, "--json", *args])
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines()]


MESSAGES = [
    (json.dumps({"insertId": f"e{n}"}).encode(), {"logging.googleapis.com/timestamp": f"t{n}"})
    for n in range(3)
]


def test_dry_run_lists_and_leaves_every_message(
    pubsub: PubSub, capsys: pytest.CaptureFixture[str]
) -> None:
    _dead_letter(pubsub, MESSAGES)
    replayed = _replayed_subscription(pubsub)
    for _ in range(2):  # listed, and still there to be listed again
        code, listed = _run(capsys, "--dry-run")
        assert code == 0
        assert len(listed) == 3
        assert {r["attributes"]["logging.googleapis.com/timestamp"] for r in listed} == {
            "t0",
            "t1",
            "t2",
        }
        assert {r["delivery_attempts"] for r in listed} == {str(ATTEMPTS)}
        assert {r["source_subscription"] for r in listed} == {"work"}
        assert {r["replayed_as"] for r in listed} == {None}
    assert pubsub.pull(replayed, within=1) == []


def test_replay_publishes_data_and_attributes_as_first_published_then_acknowledges(
    pubsub: PubSub, capsys: pytest.CaptureFixture[str]
) -> None:
    _dead_letter(pubsub, MESSAGES)
    replayed = _replayed_subscription(pubsub)
    code, first = _run(capsys, "--max", "2")
    assert code == 0 and len(first) == 2
    code, rest = _run(capsys)
    assert code == 0 and len(rest) == 1
    got = pubsub.pull(replayed, count=3)
    assert sorted(
        (base64.b64decode(r["message"]["data"]), r["message"]["attributes"]) for r in got
    ) == sorted(MESSAGES)
    assert {r["message"]["messageId"] for r in got} == {r["replayed_as"] for r in [*first, *rest]}
    # Acknowledged: nothing is left to replay.
    code, none = _run(capsys)
    assert (code, none) == (0, [])


def test_a_failed_publish_acknowledges_nothing(
    pubsub: PubSub, capsys: pytest.CaptureFixture[str]
) -> None:
    _dead_letter(pubsub, MESSAGES[:2])
    code = main(
        [
            "dlq",
            "replay",
            "--project",
            PROJECT,
            "--topic",
            f"projects/{PROJECT}/topics/no-such-topic",
        ]
    )
    assert code == 3
    assert "no-such-topic" in capsys.readouterr().err
    code, listed = _run(capsys, "--dry-run")
    assert code == 0 and len(listed) == 2  # handed back at once, both still there


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--max", "0"], "--max"),
        (["--subscription", "pullfix-dead-letter", "--topic", "t"], "projects/P/subscriptions"),
    ],
)
def test_bad_input_is_exit_3(
    pubsub: PubSub, capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    assert main(["dlq", "replay", *args]) == 3
    assert says in capsys.readouterr().err


def test_without_a_project_or_names_it_says_what_to_give(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["dlq", "replay"]) == 3
    assert "--project" in capsys.readouterr().err


def test_the_table_names_each_message_and_the_count(
    pubsub: PubSub, capsys: pytest.CaptureFixture[str]
) -> None:
    [message_id] = _dead_letter(pubsub, MESSAGES[:1])
    assert main(["dlq", "replay", "--project", PROJECT, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "attempts" in out.splitlines()[0]
    assert f"1 message would replay to projects/{PROJECT}/topics/pullfix-pull-failures" in out
    assert message_id != "" and "(dry run)" in out


def test_an_unreachable_pubsub_is_transient_exit_5(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.emulators import free_port

    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", f"127.0.0.1:{free_port()}")
    monkeypatch.delenv("PULLFIX_GCP_ENDPOINT", raising=False)
    assert main(["dlq", "replay", "--project", PROJECT]) == 5
    assert "retry later" in capsys.readouterr().err
