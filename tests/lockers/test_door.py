"""The pure door/lock state machine: which events each sequence of unlocks, door moves and ticks produces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lockers.door import DoorMachine, DoorOutcome, DropoffSession, PickupSession
from lockers.errors import LayoutError
from lockers.protocol.messages import EventKind, Method

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
PICKUP = PickupSession(order="ord-1", code_id="c0ffee01", method=Method.QR)
PIN_PICKUP = PickupSession(order="ord-2", code_id="c0ffee02", method=Method.PIN)
DROPOFF = DropoffSession(order="ord-3", vendor="bakkerij-x")

K = EventKind


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def machine(**doors: bool) -> DoorMachine:
    return DoorMachine({"A1": False, "B2": False, **doors}, release_window_s=30)


def kinds(outcomes: list[DoorOutcome]) -> list[EventKind]:
    return [o.kind for o in outcomes]


# Each step: ("unlock", session, t) | ("open", t) | ("close", t) | ("tick", t); expected kinds over all steps.
SCENARIOS = {
    "pickup opened and closed": (
        [("unlock", PICKUP, 0), ("open", 1), ("close", 20)],
        [K.UNLOCKED, K.DOOR_OPENED, K.DOOR_CLOSED, K.COLLECTED],
    ),
    "dropoff opened and closed": (
        [("unlock", DROPOFF, 0), ("open", 1), ("close", 200)],
        [K.UNLOCKED, K.DOOR_OPENED, K.DOOR_CLOSED, K.LOADED],
    ),
    "door opened while locked": ([("open", 5), ("close", 6)], [K.DOOR_OPENED, K.TAMPER, K.DOOR_CLOSED]),
    "release lapses, later opening is tamper": (
        [("unlock", PICKUP, 0), ("tick", 31), ("open", 40), ("close", 41)],
        [K.UNLOCKED, K.DOOR_OPENED, K.TAMPER, K.DOOR_CLOSED],
    ),
    "release lapses even without a tick": (
        [("unlock", PICKUP, 0), ("open", 30), ("close", 31)],
        [K.UNLOCKED, K.DOOR_OPENED, K.TAMPER, K.DOOR_CLOSED],
    ),
    "opened just inside the window": (
        [("unlock", PICKUP, 0), ("tick", 29), ("open", 29.9), ("close", 300)],
        [K.UNLOCKED, K.DOOR_OPENED, K.DOOR_CLOSED, K.COLLECTED],
    ),
    "an open door never times out": (
        [("unlock", DROPOFF, 0), ("open", 1), ("tick", 3600), ("close", 3601)],
        [K.UNLOCKED, K.DOOR_OPENED, K.DOOR_CLOSED, K.LOADED],
    ),
    "reopening after the session ended is tamper": (
        [("unlock", PICKUP, 0), ("open", 1), ("close", 2), ("open", 3)],
        [K.UNLOCKED, K.DOOR_OPENED, K.DOOR_CLOSED, K.COLLECTED, K.DOOR_OPENED, K.TAMPER],
    ),
    "repeated switch reports change nothing": (
        [("unlock", PICKUP, 0), ("open", 1), ("open", 2), ("close", 3), ("close", 4)],
        [K.UNLOCKED, K.DOOR_OPENED, K.DOOR_CLOSED, K.COLLECTED],
    ),
    "closing a closed door says nothing": ([("close", 1)], []),
    "a newer unlock replaces the pending session": (
        [("unlock", PICKUP, 0), ("unlock", DROPOFF, 1), ("open", 2), ("close", 3)],
        [K.UNLOCKED, K.UNLOCKED, K.DOOR_OPENED, K.DOOR_CLOSED, K.LOADED],
    ),
    "unlock never opened, nothing but unlocked": ([("unlock", PICKUP, 0), ("tick", 60)], [K.UNLOCKED]),
}


@pytest.mark.parametrize("steps, expected", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_event_sequences(steps, expected):
    doors = machine()
    outcomes: list[DoorOutcome] = []
    for step in steps:
        if step[0] == "unlock":
            outcomes += doors.unlock("A1", step[1], at(step[2]))
        elif step[0] == "tick":
            outcomes += doors.tick(at(step[1]))
        else:
            outcomes += doors.door_changed("A1", step[0] == "open", at(step[1]))
    assert kinds(outcomes) == expected
    assert all(o.compartment == "A1" for o in outcomes)


@pytest.mark.parametrize(
    "session, unlocked, finished",
    [
        (
            PICKUP,
            DoorOutcome(K.UNLOCKED, "B2", order="ord-1", code_id="c0ffee01", method=Method.QR),
            DoorOutcome(K.COLLECTED, "B2", order="ord-1", code_id="c0ffee01", method=Method.QR),
        ),
        (
            PIN_PICKUP,
            DoorOutcome(K.UNLOCKED, "B2", order="ord-2", code_id="c0ffee02", method=Method.PIN),
            DoorOutcome(K.COLLECTED, "B2", order="ord-2", code_id="c0ffee02", method=Method.PIN),
        ),
        (
            DROPOFF,
            DoorOutcome(K.UNLOCKED, "B2", order="ord-3", vendor="bakkerij-x", method=Method.VENDOR),
            DoorOutcome(K.LOADED, "B2", order="ord-3", vendor="bakkerij-x"),
        ),
    ],
    ids=["qr", "pin", "vendor"],
)
def test_session_fields_travel_with_the_events(session, unlocked, finished):
    doors = machine()
    assert doors.unlock("B2", session, at(0)) == [unlocked]
    assert doors.door_changed("B2", True, at(1)) == [DoorOutcome(K.DOOR_OPENED, "B2")]
    assert doors.door_changed("B2", False, at(9)) == [DoorOutcome(K.DOOR_CLOSED, "B2"), finished]


def test_compartments_are_independent():
    doors = machine()
    doors.unlock("A1", PICKUP, at(0))
    doors.unlock("B2", PICKUP, at(0))
    assert kinds(doors.door_changed("B2", True, at(1))) == [K.DOOR_OPENED]
    assert kinds(doors.door_changed("B2", False, at(2))) == [K.DOOR_CLOSED, K.COLLECTED]
    assert doors.state("A1").lock_released
    assert kinds(doors.door_changed("A1", True, at(3))) == [K.DOOR_OPENED]
    assert kinds(doors.door_changed("A1", False, at(4))) == [K.DOOR_CLOSED, K.COLLECTED]


def test_lock_state_follows_release_open_and_lapse():
    doors = machine()
    assert not doors.state("A1").lock_released
    doors.unlock("A1", PICKUP, at(0))
    assert doors.state("A1").lock_released and doors.state("A1").session == PICKUP
    doors.door_changed("A1", True, at(1))
    assert not doors.state("A1").lock_released  # opened: closing will latch it again
    assert doors.state("A1").session == PICKUP
    doors.door_changed("A1", False, at(2))
    assert doors.state("A1").session is None
    doors.unlock("A1", DROPOFF, at(10))
    doors.tick(at(39.9))
    assert doors.state("A1").lock_released
    doors.tick(at(40))
    assert not doors.state("A1").lock_released and doors.state("A1").session is None


def test_unlocking_a_door_that_stands_open_finishes_when_it_closes():
    doors = machine(A1=True)
    assert doors.doors()["A1"] is True
    doors.unlock("A1", DROPOFF, at(0))
    assert kinds(doors.door_changed("A1", False, at(100))) == [K.DOOR_CLOSED, K.LOADED]


def test_doors_reports_every_compartment():
    doors = machine()
    doors.door_changed("B2", True, at(0))
    assert doors.doors() == {"A1": False, "B2": True}


@pytest.mark.parametrize("action", ["unlock", "door", "state"])
def test_unknown_compartment_is_a_layout_error(action):
    doors = machine()
    with pytest.raises(LayoutError, match="Z9"):
        if action == "unlock":
            doors.unlock("Z9", PICKUP, at(0))
        elif action == "door":
            doors.door_changed("Z9", True, at(0))
        else:
            doors.state("Z9")


def test_release_window_must_be_positive():
    with pytest.raises(ValueError):
        DoorMachine({"A1": False}, release_window_s=0)
