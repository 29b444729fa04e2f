"""The simulated cabinet's physics on gpiozero mock pins: doors spring open after a pulse, people move them."""

from __future__ import annotations

import pytest
from gpiozero.pins.mock import MockFactory

from edge.cabinet import SimulatedCabinet
from lockers.hardware import LockerHardware
from lockers.layout import Zone, demo_layout
from sensors.simulator import CabinetSimulator
from tests.support import wait_until

LAYOUT = demo_layout()


@pytest.fixture
def parts(tmp_path):
    factory = MockFactory()
    hardware = LockerHardware.from_layout(LAYOUT, factory)
    thermal = CabinetSimulator(base=tmp_path / "w1", sensors=LAYOUT.sensors, seed=1)
    cabinet = SimulatedCabinet(LAYOUT, factory, thermal)
    cabinet.start()
    yield hardware, cabinet, thermal
    cabinet.stop()
    hardware.close()


def test_all_doors_start_closed(parts):
    hardware, cabinet, _ = parts
    assert not any(hardware.doors().values())
    assert not any(cabinet.door_open(c.id) for c in LAYOUT.compartments)


@pytest.mark.parametrize("pulse_s", [0.3, 0.005], ids=["normal", "shorter-than-a-poll"])
def test_a_pulsed_lock_lets_its_door_spring_open(parts, pulse_s):
    hardware, cabinet, thermal = parts
    changes: list[tuple[str, bool]] = []
    hardware.set_door_callback(lambda cid, is_open: changes.append((cid, is_open)))
    hardware.compartment("B2").pulse(pulse_s)
    wait_until(lambda: hardware.compartment("B2").door_open, timeout=3, what="B2 springs open")
    assert changes == [("B2", True)]
    assert thermal.zone(Zone.CHILLED).doors_open == 1
    assert [cid for cid, is_open in hardware.doors().items() if is_open] == ["B2"]


def test_people_close_and_open_doors(parts):
    hardware, cabinet, thermal = parts
    hardware.compartment("C1").pulse(0.1)
    wait_until(lambda: cabinet.door_open("C1"), timeout=3, what="C1 springs open")
    assert cabinet.move_door("C1", "open") == (True, "door C1 is already open")
    assert cabinet.move_door("C1", "close") == (True, "door C1 closed")
    assert not hardware.compartment("C1").door_open
    assert thermal.zone(Zone.FROZEN).doors_open == 0
    assert cabinet.move_door("C1", "close") == (True, "door C1 is already closed")
    # Latched again: pulling it open is forcing it, and the switch sees it all the same.
    assert cabinet.move_door("C1", "open") == (True, "door C1 forced open while locked")
    assert hardware.compartment("C1").door_open


def test_closing_a_released_door_before_it_springs_open_counts_as_opened_and_closed(tmp_path):
    """A script may ask to close faster than the spring pushes the door: it was opened, used and shut."""
    factory = MockFactory()
    hardware = LockerHardware.from_layout(LAYOUT, factory)
    cabinet = SimulatedCabinet(LAYOUT, factory, pop_delay_s=30)
    cabinet.start()
    try:
        changes: list[tuple[str, bool]] = []
        hardware.set_door_callback(lambda cid, is_open: changes.append((cid, is_open)))
        hardware.compartment("B3").pulse(0.005)
        wait_until(lambda: "B3" in cabinet._popping, timeout=3, what="the latch of B3 let go")  # noqa: SLF001
        assert cabinet.move_door("B3", "close") == (True, "door B3 opened and closed")
        assert changes == [("B3", True), ("B3", False)]
        assert cabinet.move_door("B3", "close") == (True, "door B3 is already closed")
    finally:
        cabinet.stop()
        hardware.close()


def test_opening_while_the_relay_is_on_is_not_forcing(parts):
    hardware, cabinet, _ = parts
    hardware.compartment("A1").pulse(2)
    assert cabinet.move_door("A1", "open") == (True, "door A1 opened")


@pytest.mark.parametrize(
    "compartment, action, message",
    [("Z9", "open", "there is no compartment Z9 in this locker"), ("A1", "slam", "unknown door action 'slam'")],
)
def test_bad_door_commands(parts, compartment, action, message):
    _, cabinet, _ = parts
    ok, text = cabinet.move_door(compartment, action)
    assert not ok and message in text
