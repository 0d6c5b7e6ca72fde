"""The lifecycle against a small reference model (hypothesis stateful testing).

The real engine (`Remediator`, the Google adapter over the sandbox's wire protocols, the memory
ledger) handles one grant incident through interleavings of deliveries, redeliveries, crashes
at any ledger call, ledger errors and the passing of time. A crash is modelled as death: from
the crash on, the dying worker's ledger calls do nothing (no cleanup runs in a killed
process). The reference model is the promise: a message is acknowledged only once the binding
and its outcome exist; the binding is made once; after the leases run out, redelivery always
finishes the work.
"""

from __future__ import annotations

import contextlib
import dataclasses
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from pullfix.core.config import config_from_dict
from pullfix.core.intake import PullFailure, parse_event
from pullfix.core.model import TransientError
from pullfix.dev.sandbox import Sandbox
from pullfix.dev.sandbox.world import world_from_dict
from pullfix.engine.ledger import Claim, MemoryLedger
from pullfix.engine.remediate import Remediator
from pullfix.gcp.adapter import GoogleAdapter
from pullfix.gcp.clients import GoogleClients
from pullfix.gcp.endpoints import sandbox_endpoint
from tests.clocks import ManualClock
from tests.integration.pipeline import CONFIG, DEFAULT_SA, IMAGES, event, world_dict

pytestmark = pytest.mark.integration

SHARED = f"us-docker.pkg.dev/{IMAGES}/shared"
MEMBER = f"serviceAccount:{DEFAULT_SA}"
LEASE = 100
NOW = datetime.now(UTC)
T = TypeVar("T")


class Died(BaseException):
    """The worker's process was killed (SIGKILL): nothing after this runs for it."""


class FaultyLedger:
    """The memory ledger, with a fault armed at the n-th call from now: a crash, an error
    before the call reaches the ledger, or the answer lost after the call landed (Firestore
    answering too late: the write is made, the worker sees an error)."""

    def __init__(self) -> None:
        self.inner = MemoryLedger()
        self.countdown: int | None = None
        self.fault: str = "crash"
        self.dead = False
        self.losing = False

    def _step(self) -> bool:
        """False when the calling worker is dead (its call does nothing)."""
        if self.dead:
            return False
        if self.countdown is not None:
            self.countdown -= 1
            if self.countdown <= 0:
                self.countdown = None
                if self.fault == "crash":
                    self.dead = True
                    raise Died
                if self.fault == "error":
                    raise TransientError("ledger: injected Firestore error")
                self.losing = True  # "lost": the call goes through, its answer does not
        return True

    def _answer(self, value: T) -> T:
        if self.losing:
            self.losing = False
            raise TransientError("ledger: the answer to a call that landed came too late")
        return value

    def claim(self, key: str, now: datetime, window: int, data: dict[str, str]) -> Claim:
        if not self._step():
            raise Died
        return self._answer(self.inner.claim(key, now, window, data))

    def take_over(
        self, key: str, now: datetime, window: int, data: dict[str, str], wall: float
    ) -> Claim:
        if not self._step():
            raise Died
        return self._answer(self.inner.take_over(key, now, window, data, wall))

    def get(self, key: str, now: datetime) -> dict[str, str] | None:
        if not self._step():
            raise Died
        return self._answer(self.inner.get(key, now))

    def update(self, key: str, data: dict[str, str]) -> None:
        if self._step():
            self._answer(self.inner.update(key, data))

    def release(self, key: str) -> None:
        if self._step():
            self._answer(self.inner.release(key))

    def set_flag_once(self, key: str, flag: str, now: datetime, value: str = "true") -> bool:
        if not self._step():
            raise Died
        return self._answer(self.inner.set_flag_once(key, flag, now, value))

    def take_grant_slot(self, now: datetime, limit: int) -> bool:
        if not self._step():
            raise Died
        return self._answer(self.inner.take_grant_slot(now, limit))

    def open_incident(self, key: str, data: dict[str, str], until: datetime) -> None:
        if self._step():
            self._answer(self.inner.open_incident(key, data, until))

    def open_incidents(self, now: datetime, limit: int) -> list[tuple[str, dict[str, str]]]:
        if not self._step():
            raise Died
        return self._answer(self.inner.open_incidents(now, limit))

    def close_incident(self, key: str) -> None:
        if self._step():
            self._answer(self.inner.close_incident(key))


class Outbox:
    """Where outcomes are published (the engine's OutcomePublisher port)."""

    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def publish(self, outcome: dict[str, Any]) -> None:
        self.published.append(outcome)


@pytest.fixture(scope="module")
def sandbox() -> Any:
    with Sandbox(world_from_dict(world_dict(None))) as running:
        yield running


@pytest.fixture(scope="module")
def clients(sandbox: Sandbox) -> Any:
    made = GoogleClients(sandbox_endpoint(sandbox.endpoint))
    yield made
    made.close()


def _failure(message_id: str) -> PullFailure:
    entry = event("default-pool", f"{SHARED}/web:1.4", workload="model", minutes_ago=1)
    parsed = parse_event(entry)
    assert isinstance(parsed, PullFailure)
    return dataclasses.replace(parsed, message_id=message_id)


def test_the_lifecycle_keeps_its_promise(sandbox: Sandbox, clients: GoogleClients) -> None:
    config = config_from_dict({**CONFIG, "lease": f"{LEASE}s"})

    class Lifecycle(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            sandbox.state.world = world_from_dict(world_dict(None))
            self.clock = ManualClock().at(1_000_000.0)
            self.ledger = FaultyLedger()
            self.outbox = Outbox()
            self.engine = Remediator(
                config,
                GoogleAdapter(clients, timeout=5, cache_ttl=0.0),
                self.ledger,  # type: ignore[arg-type]
                self.outbox,
                lease=LEASE,
                clock=self.clock,
            )
            self.acked: set[str] = set()
            self.pending = {"m1", "m2", "m3"}
            self.started: set[str] = set()  # delivered at least once, not acknowledged

        def members(self) -> set[str]:
            policy = sandbox.world.projects[IMAGES].repositories["shared"].policy
            return policy.members_of("roles/artifactregistry.reader")

        def deliver(self, message_id: str) -> None:
            self.ledger.dead = False  # a fresh instance takes the delivery
            self.ledger.losing = False
            self.started.add(message_id)
            try:
                self.engine.handle(_failure(message_id), NOW)
            except (Died, TransientError):
                return  # not acknowledged: Pub/Sub redelivers
            self.started.discard(message_id)
            self.acked.add(message_id)
            self.pending.discard(message_id)
            # The promise: acknowledged only once the binding and its outcome exist, or as a
            # duplicate of work that another message, not yet acknowledged, holds (Pub/Sub
            # redelivers that one until it finishes).
            done = MEMBER in self.members() and any(
                o["action"] == "grant" for o in self.outbox.published
            )
            assert done or self.started - {message_id}

        @rule(
            message=st.sampled_from(["m1", "m2", "m3"]),
            fault=st.one_of(
                st.none(),
                st.tuples(st.sampled_from(["crash", "error", "lost"]), st.integers(1, 10)),
            ),
        )
        def a_delivery(self, message: str, fault: tuple[str, int] | None) -> None:
            """A delivery, perhaps killed or failed at its n-th ledger call, or its answer
            lost after the call landed."""
            if fault is not None:
                self.ledger.fault, self.ledger.countdown = fault
            self.deliver(message)
            self.ledger.countdown = None

        @rule(seconds=st.sampled_from([1.0, 30.0, LEASE + 1.0]))
        def time_passes(self, seconds: float) -> None:
            self.clock.advance(seconds)

        @invariant()
        def granted_once_at_most(self) -> None:
            grants = [o for o in self.outbox.published if o["action"] == "grant"]
            assert len({o["fingerprint"] for o in grants}) <= 1

        @rule()
        def settle(self) -> None:
            """No more faults; leases run out; every pending message is redelivered."""
            self.ledger.countdown = None
            for _ in range(4):
                self.clock.advance(LEASE + 1)
                for message in sorted(self.pending):
                    self.deliver(message)
            assert not self.pending, self.pending
            assert MEMBER in self.members()

    Lifecycle.TestCase.settings = settings(
        max_examples=200,
        stateful_step_count=15,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    Lifecycle.TestCase().runTest()


# The configs an operator may switch between while grants are in flight; only "live" allows
# the grant (the others: dry run, the allow-list emptied, the cluster project removed, the cap
# at zero, a project-level grant where the allow-list names one repository).
_LIVE = {**CONFIG, "lease": f"{LEASE}s"}
CONFIGS = {
    "live": _LIVE,
    "dry_run": {**_LIVE, "dry_run": True},
    "no_repositories": {**_LIVE, "auto_grant": {**_LIVE["auto_grant"], "repositories": []}},
    "other_clusters": {**_LIVE, "auto_grant": {**_LIVE["auto_grant"], "cluster_projects": ["x"]}},
    "cap_zero": {**_LIVE, "auto_grant": {**_LIVE["auto_grant"], "max_per_hour": 0}},
    "project_level": {
        **_LIVE,
        "auto_grant": {
            **_LIVE["auto_grant"],
            "level": "project",
            "repositories": [f"projects/{IMAGES}/locations/us/repositories/shared"],
        },
    },
}


class LossyWriter:
    """The Google adapter, whose IAM write can fail transiently before it reaches IAM, or
    after it landed (the answer lost); every write records the config in force then."""

    def __init__(self, inner: GoogleAdapter, config: Any) -> None:
        self.inner = inner
        self.config = config  # a callable: the engine's config at the moment of the write
        self.fault: str | None = None
        self.writes: list[str] = []  # the name of the config in force at each write

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def add_member(self, resource: str, role: str, member: str, first: Any = None) -> Any:
        fault, self.fault = self.fault, None
        if fault == "before":
            raise TransientError("IAM: injected 503 before the write")
        result = self.inner.add_member(resource, role, member, first=first)
        self.writes.append(self.config())
        if fault == "after":
            raise TransientError("IAM: the answer to a write that landed was lost")
        return result


def test_no_config_change_and_redelivery_yields_a_binding_the_config_refuses(
    sandbox: Sandbox, clients: GoogleClients
) -> None:
    configs = {name: config_from_dict(raw) for name, raw in CONFIGS.items()}

    class Operator(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            sandbox.state.world = world_from_dict(world_dict(None))
            self.clock = ManualClock().at(1_000_000.0)
            self.name = "live"
            self.outbox = Outbox()
            self.writer = LossyWriter(
                GoogleAdapter(clients, timeout=5, cache_ttl=0.0), lambda: self.name
            )
            self.engine = Remediator(
                configs["live"],
                self.writer,  # type: ignore[arg-type]
                MemoryLedger(),
                self.outbox,
                lease=LEASE,
                clock=self.clock,
            )

        def members(self) -> set[str]:
            policy = sandbox.world.projects[IMAGES].repositories["shared"].policy
            return policy.members_of("roles/artifactregistry.reader")

        @rule(name=st.sampled_from(sorted(CONFIGS)))
        def the_operator_changes_the_config(self, name: str) -> None:
            """A new revision: the ledger (Firestore) and IAM stay as they are."""
            self.name = name
            self.engine.config = configs[name]

        @rule(
            message=st.sampled_from(["m1", "m2", "m3"]),
            fault=st.sampled_from([None, "before", "after"]),
        )
        def a_delivery(self, message: str, fault: str | None) -> None:
            self.writer.fault = fault
            before = self.members()
            published = len(self.outbox.published)
            with contextlib.suppress(TransientError):  # Pub/Sub redelivers
                self.engine.handle(_failure(message), NOW)
            self.writer.fault = None
            if self.members() != before:
                assert self.writer.writes and self.writer.writes[-1] == "live"
            for outcome in self.outbox.published[published:]:
                if outcome["action"] == "grant":
                    # Made now under the live config, or found in IAM after an earlier
                    # write (under the live config) lost its answer: never a dry run, and
                    # never a binding that is not there.
                    assert self.name == "live" or "answer was lost" in " ".join(
                        outcome["reasons"]
                    ), (self.name, outcome["reasons"])
                    assert outcome["dry_run"] is False
                    assert MEMBER in self.members()

        @rule(seconds=st.sampled_from([1.0, LEASE + 1.0]))
        def time_passes(self, seconds: float) -> None:
            self.clock.advance(seconds)

        @invariant()
        def every_write_was_allowed_when_it_was_made(self) -> None:
            assert set(self.writer.writes) <= {"live"}, self.writer.writes

    Operator.TestCase.settings = settings(
        max_examples=120,
        stateful_step_count=12,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    Operator.TestCase().runTest()
