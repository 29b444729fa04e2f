"""Door supervision on gpiozero mock pins: jam and tamper events, and door switches stuck open or closed that
never keep a lock shut nor hold up the other compartments."""

from __future__ import annotations

import pytest

from lockers.protocol.messages import EventKind, Method
from lockers.protocol.topics import Channel
from tests.edge.codes_fixture import CodeBook, desired, dropoff, grant
from tests.edge.harness import LAYOUT, EdgeRig, MovingClock, edge_config, running_rig
from tests.support import wait_until

K = EventKind
KEY = CodeBook().key
JAM_AFTER_S = 0.4

DESIRED = desired(
    1,
    pickups=[
        grant("ord-multi", "aa000001", "482913", ["A2", "B2", "C1"]),
        grant("ord-next", "aa000002", "730551", ["B3"]),
    ],
    dropoffs=[dropoff("ord-7", "bakkerij-x", ["A1", "A3"])],
    unlock_pulse_s=0.05,
)


@pytest.fixture
def book(locker):
    return CodeBook(locker=locker, key=KEY)


@pytest.fixture
def config(broker, book, locker, tmp_path):
    # Without sensors: only door events are numbered (a missing sensor would raise sensor_fault).
    layout = LAYOUT.model_copy(update={"sensors": ()})
    return edge_config(broker, book, locker, tmp_path / "state", jam_after_s=JAM_AFTER_S).model_copy(
        update={"layout": layout}
    )


def pulsed(rig: EdgeRig, compartment: str) -> bool:
    return any(state.state for state in rig.lock_pin(compartment).states)


def ready(cloud, rig: EdgeRig) -> None:
    cloud.publish_desired(DESIRED)
    cloud.wait_for(Channel.REPORTED, lambda m: m.desired_version == 1)


def test_a_door_that_does_not_open_is_a_jam_with_its_session(cloud, config):
    with running_rig(config) as rig:
        ready(cloud, rig)
        assert rig.agent.scan("730551").opened == ["B3"]  # B3's latch is jammed: its switch stays closed
        (jam,) = cloud.wait_events(K.JAM)
        assert (jam.compartment, jam.order, jam.code_id, jam.method) == ("B3", "ord-next", "aa000002", Method.PIN)
        assert "not opened within 0.4 s" in jam.detail
        wait_until(lambda: pulsed(rig, "B3"), what="B3's relay pulsed")
        assert len(cloud.events(K.JAM)) == 1  # once per unlock, however long it stays shut
        kinds = [e.kind for e in cloud.events()]
        assert kinds.index(K.UNLOCKED) < kinds.index(K.JAM)


def test_a_switch_stuck_closed_costs_its_own_events_only(cloud, config, book):
    with running_rig(config) as rig:
        ready(cloud, rig)
        result = rig.agent.scan(book.pickup("ord-multi", ["A2", "B2", "C1"], code_id="aa000001"))
        assert result.ok and result.opened == ["A2", "B2", "C1"]
        for compartment in ("A2", "B2", "C1"):  # every relay pulsed, C1's too
            wait_until(lambda c=compartment: pulsed(rig, c), what=f"{compartment} pulsed")
        rig.open_and_close("A2", "B2")  # C1 opens too, but its switch never says so
        collected = cloud.wait_events(K.COLLECTED, 2)
        assert {e.compartment for e in collected} == {"A2", "B2"}
        (jam,) = cloud.wait_events(K.JAM)
        assert (jam.compartment, jam.order) == ("C1", "ord-multi")
        assert rig.agent.scan("730551").opened == ["B3"]  # the locker carries on
        rig.open_and_close("B3")
        assert cloud.wait_events(K.COLLECTED, 3)[-1].compartment == "B3"


def test_a_switch_stuck_open_never_blocks_an_unlock(broker, cloud, config, book):
    rig = EdgeRig(config, clock=MovingClock())
    rig.door_pin("A1").drive_high()  # a cut wire: the pull-up reads "open" for ever
    rig.agent.start()
    try:
        ready(cloud, rig)
        assert cloud.events(K.TAMPER) == []  # open at start is a position, not a break-in
        result = rig.agent.scan(book.vendor("bakkerij-x", code_id="cc000001"))
        assert result.ok and result.opened == ["A1", "A3"]
        wait_until(lambda: pulsed(rig, "A1") and pulsed(rig, "A3"), what="both relays pulsed")
        # A3's door does not open (its switch stays closed): its jam shows the supervision has run for A1 too.
        (jam,) = cloud.wait_events(K.JAM)
        assert (jam.compartment, jam.vendor, jam.method) == ("A3", "bakkerij-x", Method.VENDOR)
        assert rig.agent.status()["doors"]["A1"] == "open"
        assert rig.agent.scan("730551").ok  # and other compartments work as ever
    finally:
        rig.close()


def test_tamper_is_reported_while_offline_and_arrives_later(cloud, config):
    with running_rig(config) as rig:
        cloud.wait_for(Channel.STATE, lambda m: m.state == "online")
        rig.agent.set_uplink(False)
        wait_until(lambda: not rig.agent.status()["connected"], what="the cut")
        rig.door_pin("C2").drive_high()  # forced open while nobody can see it upstream
        wait_until(lambda: rig.agent.status()["outbox"]["depth"]["events"] == 2, what="door_opened and tamper queued")
        rig.agent.set_uplink(True)
        (tamper,) = cloud.wait_events(K.TAMPER)
        assert tamper.compartment == "C2"
        assert [e.kind for e in cloud.events()] == [K.DOOR_OPENED, K.TAMPER]
