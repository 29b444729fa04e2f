"""The pure door/lock state machine: which events each sequence of unlocks, door moves and ticks produces,
including door supervision (jam, tamper) and door switches stuck open or closed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lockers.door import DoorMachine, DoorOutcome, DropoffSession, PickupSession, RemoteSession
from lockers.errors import LayoutError
from lockers.protocol.messages import EventKind, Method

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
PICKUP = PickupSession(order="ord-1", code_id="c0ffee01", method=Method.QR)
PIN_PICKUP = PickupSession(order="ord-2", code_id="c0ffee02", method=Method.PIN)
DROPOFF = DropoffSession(order="ord-3", vendor="bakkerij-x")
REMOTE = RemoteSession(command="ab" * 16, issued_by="operator@stichting")
JAM_DETAIL = "door not opened within 10 s of the unlock: jammed latch or door, or a broken door switch"

K = EventKind


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def machine(**doors: bool) -> DoorMachine:
    return DoorMachine({"A1": False, "B2": False, **doors}, release_window_s=30, jam_after_s=10)


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
        [K.UNLOCKED, K.JAM, K.DOOR_OPENED, K.TAMPER, K.DOOR_CLOSED],
    ),
    "release lapses even without a tick": (
        [("unlock", PICKUP, 0), ("open", 30), ("close", 31)],
        [K.UNLOCKED, K.JAM, K.DOOR_OPENED, K.TAMPER, K.DOOR_CLOSED],
    ),
    "opened late, after the jam, still inside the window": (
        [("unlock", PICKUP, 0), ("tick", 29), ("open", 29.9), ("close", 300)],
        [K.UNLOCKED, K.JAM, K.DOOR_OPENED, K.DOOR_CLOSED, K.COLLECTED],
    ),
    "opened just before the jam delay": (
        [("unlock", PICKUP, 0), ("tick", 9.9), ("open", 9.95), ("tick", 20), ("close", 21)],
        [K.UNLOCKED, K.DOOR_OPENED, K.DOOR_CLOSED, K.COLLECTED],
    ),
    "jam exactly at the delay, reported once": (
        [("unlock", DROPOFF, 0), ("tick", 10), ("tick", 10.5), ("tick", 29.9), ("tick", 30), ("tick", 60)],
        [K.UNLOCKED, K.JAM],
    ),
    "a new unlock after a jam can jam again": (
        [("unlock", PICKUP, 0), ("tick", 10), ("unlock", PICKUP, 12), ("tick", 21.9), ("tick", 22)],
        [K.UNLOCKED, K.JAM, K.UNLOCKED, K.JAM],
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
    "unlock never opened (switch stuck closed): jam, then the latch springs back": (
        [("unlock", PICKUP, 0), ("tick", 60), ("tick", 120)],
        [K.UNLOCKED, K.JAM],
    ),
    "remote unlock: opening and closing finishes nothing": (
        [("unlock", REMOTE, 0), ("open", 1), ("close", 5)],
        [K.UNLOCKED, K.DOOR_OPENED, K.DOOR_CLOSED],
    ),
    "remote unlock never opened is a jam too": ([("unlock", REMOTE, 0), ("tick", 10)], [K.UNLOCKED, K.JAM]),
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
    "session, jam",
    [
        (PICKUP, DoorOutcome(K.JAM, "B2", order="ord-1", code_id="c0ffee01", method=Method.QR, detail=JAM_DETAIL)),
        (
            DROPOFF,
            DoorOutcome(K.JAM, "B2", order="ord-3", vendor="bakkerij-x", method=Method.VENDOR, detail=JAM_DETAIL),
        ),
        (REMOTE, DoorOutcome(K.JAM, "B2", method=Method.REMOTE, detail=JAM_DETAIL)),
    ],
    ids=["pickup", "dropoff", "remote"],
)
def test_a_jam_names_the_compartment_and_its_session(session, jam):
    doors = machine()
    doors.unlock("B2", session, at(0))
    assert doors.tick(at(9.99)) == []
    assert doors.tick(at(10)) == [jam]


def test_a_remote_unlock_says_who_and_which_command():
    (unlocked,) = machine().unlock("A1", REMOTE, at(0))
    assert unlocked == DoorOutcome(
        K.UNLOCKED, "A1", method=Method.REMOTE, detail=f"remote unlock by operator@stichting (command {'ab' * 16})"
    )


def test_a_switch_stuck_open_never_blocks_an_unlock_and_never_jams():
    # A cut wire reads "open" for ever (the pull-up): the unlock still goes through, counts as opened at once.
    doors = machine(A1=True)
    assert kinds(doors.unlock("A1", PICKUP, at(0))) == [K.UNLOCKED]
    assert doors.tick(at(60)) == []
    assert doors.state("A1").session == PICKUP and not doors.state("A1").lock_released
    assert kinds(doors.door_changed("A1", True, at(61))) == []  # the stuck switch repeating itself


def test_one_jammed_door_does_not_hold_up_the_others():
    doors = machine()
    doors.unlock("A1", PICKUP, at(0))  # A1's switch is stuck closed
    doors.unlock("B2", DROPOFF, at(0))
    assert kinds(doors.door_changed("B2", True, at(1))) == [K.DOOR_OPENED]
    assert [(o.kind, o.compartment) for o in doors.tick(at(10))] == [(K.JAM, "A1")]
    assert kinds(doors.door_changed("B2", False, at(11))) == [K.DOOR_CLOSED, K.LOADED]
    assert kinds(doors.unlock("B2", PICKUP, at(12))) == [K.UNLOCKED]


@pytest.mark.parametrize("jam_after_s", [0, -1, 30, 45])
def test_the_jam_delay_must_fall_inside_the_release_window(jam_after_s):
    with pytest.raises(ValueError, match="jam"):
        DoorMachine({"A1": False}, release_window_s=30, jam_after_s=jam_after_s)


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
