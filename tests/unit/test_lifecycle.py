"""The lifecycle table, enumerated, and the memory ledger's leases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pullfix.core.lifecycle import TABLE, State, Step, lease_fields, next_step
from pullfix.engine.ledger import MemoryLedger

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def test_the_table_covers_every_state_and_case() -> None:
    for state in State:
        for live in (True, False):
            for same in (True, False):
                assert (state, live, same) in TABLE, (state, live, same)


@pytest.mark.parametrize("state", [State.WORKING, State.GRANTING, State.SENDING, State.ACTED])
def test_work_under_way_is_never_acknowledged_for_its_own_message(state: State) -> None:
    record = lease_fields(state, "m1", 1000.0, 60)
    assert next_step(record, "m1", 1010.0) is Step.RETRY
    assert next_step(record, "m2", 1010.0) is Step.SUPPRESS


@pytest.mark.parametrize(
    ("state", "step"),
    [
        (State.WORKING, Step.TAKE),
        (State.GRANTING, Step.TAKE),
        (State.SENDING, Step.TAKE),
        (State.ACTED, Step.PUBLISH),
        (State.GRANTED, Step.SUPPRESS),
        (State.DONE, Step.SUPPRESS),
        (State.SENT, Step.SUPPRESS),
        (State.REFUSED, Step.SUPPRESS),
    ],
)
def test_an_expired_lease_is_taken_over_and_finished_work_is_not(state: State, step: Step) -> None:
    record = lease_fields(state, "m1", 1000.0, 60)
    assert next_step(record, "m1", 2000.0) is step
    assert next_step(record, "m2", 2000.0) is step


def test_records_without_a_lease_or_state_are_finished_or_free() -> None:
    assert next_step(None, "m1", 0.0) is Step.TAKE
    assert next_step({"cause": "network"}, "m1", 0.0) is Step.SUPPRESS  # an open ticket
    assert next_step({"state": "pending"}, "m1", 0.0) is Step.SUPPRESS  # unknown: finished


def test_take_over_only_replaces_an_expired_lease() -> None:
    ledger = MemoryLedger()
    held = lease_fields(State.WORKING, "m1", 1000.0, 60)
    assert ledger.claim("k", NOW, 3600, held).new
    taken = ledger.take_over("k", NOW, 3600, lease_fields(State.WORKING, "m2", 1010.0, 60), 1010.0)
    assert not taken.new and taken.record["holder"] == "m1"
    taken = ledger.take_over("k", NOW, 3600, lease_fields(State.WORKING, "m2", 1070.0, 60), 1070.0)
    assert taken.new
    assert ledger.get("k", NOW) == lease_fields(State.WORKING, "m2", 1070.0, 60)


@pytest.mark.parametrize(
    ("pod", "workload"),
    [
        ("web-7d9f8c5b4-xk2p9", "Pods/web"),  # a Deployment's pod
        ("node-exporter-x7k9q", "Pods/node-exporter"),  # a DaemonSet's
        ("db-0", "Pods/db-0"),  # a StatefulSet's ordinal is its identity
        ("debug", "Pods/debug"),
    ],
)
def test_pods_without_controller_labels_share_their_workload(pod: str, workload: str) -> None:
    from pullfix.core.intake import PullFailure

    failure = PullFailure(reason="Failed", message="", namespace="shop", pod=pod)
    assert failure.incident_workload == workload
    assert failure.workload == f"Pod/{pod}"  # what the outcome shows is unchanged
