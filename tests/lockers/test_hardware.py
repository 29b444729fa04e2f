"""The gpiozero layer on gpiozero's own MockFactory: relay pulses, reed-switch polarity, callbacks, pins."""

from __future__ import annotations

import pytest
from gpiozero.pins.mock import MockFactory

from lockers.errors import LayoutError
from lockers.hardware import HardwareError, LockerHardware
from lockers.layout import Compartment, LockerLayout, Size, Zone, demo_layout
from tests.support import wait_until


@pytest.fixture
def factory():
    return MockFactory()  # one per test, passed explicitly: no global pin factory state


@pytest.fixture
def hardware(factory):
    with LockerHardware.from_layout(demo_layout(), factory) as hw:
        yield hw


def lock_pin(factory, compartment_id):
    return factory.pin(demo_layout().compartment(compartment_id).lock_pin)


def door_pin(factory, compartment_id):
    return factory.pin(demo_layout().compartment(compartment_id).door_pin)


def test_every_compartment_is_built_with_relay_off(hardware, factory):
    assert sorted(hardware.compartments) == sorted(c.id for c in demo_layout().compartments)
    for cid in hardware.compartments:
        assert lock_pin(factory, cid).state is False
        assert lock_pin(factory, cid).function == "output"
    assert hardware.energised() == []


def test_pulse_energises_the_relay_once_without_blocking(hardware, factory):
    pin = lock_pin(factory, "B2")
    pin.clear_states()
    hardware.compartment("B2").pulse(0.2)
    assert pin.state is True  # returned while the relay is still on
    assert hardware.energised() == ["B2"]
    wait_until(lambda: pin.state is False, timeout=3, what="relay off again")
    pin.assert_states([False, True, False])
    assert len(pin.states) == 3
    on_for = pin.states[2].timestamp
    assert 0.15 <= on_for < 1.0
    assert lock_pin(factory, "B1").states[-1].state is False  # neighbours untouched


@pytest.mark.parametrize("seconds", [0, -1])
def test_pulse_needs_a_positive_length(hardware, seconds):
    with pytest.raises(ValueError):
        hardware.compartment("A1").pulse(seconds)


@pytest.mark.parametrize("level, door_open", [("low", False), ("high", True)])
def test_reed_switch_polarity(hardware, factory, level, door_open):
    pin = door_pin(factory, "C1")
    pin.drive_low() if level == "low" else pin.drive_high()
    assert hardware.compartment("C1").door_open is door_open
    assert hardware.doors()["C1"] is door_open


def test_door_pins_use_the_pull_up(hardware, factory):
    # An unwired switch floats high through the pull-up: reads as open, never as a false "closed".
    for cid in hardware.compartments:
        assert door_pin(factory, cid).pull == "up"
    assert all(hardware.doors().values())


def test_door_changes_reach_the_callback_with_compartment_and_position(hardware, factory):
    seen: list[tuple[str, bool]] = []
    hardware.set_door_callback(lambda cid, is_open: seen.append((cid, is_open)))
    pin = door_pin(factory, "A3")
    pin.drive_low()
    pin.drive_high()
    pin.drive_high()  # no edge, no call
    pin.drive_low()
    assert seen == [("A3", False), ("A3", True), ("A3", False)]
    hardware.set_door_callback(None)
    pin.drive_high()
    assert len(seen) == 3


def test_unknown_compartment(hardware):
    with pytest.raises(LayoutError, match="Z1"):
        hardware.compartment("Z1")


def test_pins_in_use_give_a_clear_error_and_release_what_was_claimed(factory):
    first = LockerHardware.from_layout(demo_layout(), factory)
    with pytest.raises(HardwareError, match="GPIO5"):
        LockerHardware.from_layout(demo_layout(), factory)
    first.close()
    # Everything was released, including what a failed build had claimed: building again works.
    LockerHardware.from_layout(demo_layout(), factory).close()


def test_a_failed_build_releases_the_compartments_it_had_claimed(factory):
    blocker = LockerHardware.from_layout(
        LockerLayout(compartments=(Compartment(id="Z1", zone=Zone.AMBIENT, size=Size.S, lock_pin=26, door_pin=16),)),
        factory,
    )
    # The demo layout's A3 door (GPIO26) is taken: A1, A2 and A3's relay were claimed and must be given back.
    with pytest.raises(HardwareError, match="A3: cannot claim door pin GPIO26"):
        LockerHardware.from_layout(demo_layout(), factory)
    blocker.close()
    LockerHardware.from_layout(demo_layout(), factory).close()


def test_close_releases_the_pins(factory):
    hw = LockerHardware.from_layout(demo_layout(), factory)
    hw.compartment("A1").pulse(5)
    hw.close()
    assert lock_pin(factory, "A1").state is False  # closing drops the relay: the cabinet stays locked
