"""Lock relays and door reed switches through gpiozero; the pin factory is the only seam to the real board.

Wiring (BCM numbers from the layout): the lock relay is active high and starts off; the door's reed switch
connects the pin to ground while the door is shut, so with the internal pull-up an *active* input (low,
what gpiozero's Button calls pressed) means CLOSED and an inactive one (high) means OPEN. The switch is a
plain DigitalInputDevice: a Button would add a hold-detection thread per door that polls at 10 Hz and
makes closing wait up to a second per closed door. Door callbacks run on gpiozero's threads: they must
only hand the change to a queue.
"""

from __future__ import annotations

from collections.abc import Callable

from gpiozero import DigitalInputDevice, DigitalOutputDevice
from gpiozero.exc import GPIOZeroError
from gpiozero.pins import Factory

from lockers.errors import DorpskluisError, LayoutError
from lockers.layout import Compartment, LockerLayout

# compartment id, door open
DoorCallback = Callable[[str, bool], None]


class HardwareError(DorpskluisError):
    """The GPIO pins of a layout cannot be claimed (wrong board, pin in use, no GPIO access)."""


class CompartmentHardware:
    """The lock relay and the door switch of one compartment."""

    def __init__(
        self,
        compartment: Compartment,
        pin_factory: Factory | None = None,
        *,
        bounce_time: float | None = None,
    ) -> None:
        self.id = compartment.id
        self.on_door_change: DoorCallback | None = None
        try:
            self._relay = DigitalOutputDevice(
                compartment.lock_pin, active_high=True, initial_value=False, pin_factory=pin_factory
            )
        except GPIOZeroError as exc:
            raise HardwareError(
                f"compartment {self.id}: cannot claim lock pin GPIO{compartment.lock_pin}: {exc}"
            ) from exc
        try:
            self._switch = DigitalInputDevice(
                compartment.door_pin, pull_up=True, bounce_time=bounce_time, pin_factory=pin_factory
            )
        except GPIOZeroError as exc:
            self._relay.close()
            raise HardwareError(
                f"compartment {self.id}: cannot claim door pin GPIO{compartment.door_pin}: {exc}"
            ) from exc
        self._switch.when_activated = self._door_closed
        self._switch.when_deactivated = self._door_opened

    def pulse(self, seconds: float) -> None:
        """Energise the lock relay for `seconds` in gpiozero's background thread; returns at once."""
        if seconds <= 0:
            raise ValueError("a lock pulse must last longer than zero seconds")
        self._relay.blink(on_time=seconds, off_time=0, n=1, background=True)

    @property
    def door_open(self) -> bool:
        return not self._switch.is_active

    @property
    def lock_energised(self) -> bool:
        return bool(self._relay.value)

    def close(self) -> None:
        """Release both pins; the relay drops (locked) first."""
        self.on_door_change = None
        self._switch.close()
        # gpiozero's close() stops a running pulse but leaves the pin where it was: switch it off first.
        self._relay.off()
        self._relay.close()

    # gpiozero threads: hand over only
    def _door_opened(self) -> None:
        self._notify(True)

    def _door_closed(self) -> None:
        self._notify(False)

    def _notify(self, is_open: bool) -> None:
        callback = self.on_door_change
        if callback is not None:
            callback(self.id, is_open)


class LockerHardware:
    """Every compartment of a cabinet, by id."""

    def __init__(self, compartments: dict[str, CompartmentHardware]) -> None:
        self.compartments = compartments

    @classmethod
    def from_layout(
        cls, layout: LockerLayout, pin_factory: Factory | None = None, *, bounce_time: float | None = None
    ) -> LockerHardware:
        """Claim the pins of every compartment; `pin_factory=None` means gpiozero's default for this board."""
        built: dict[str, CompartmentHardware] = {}
        try:
            for compartment in layout.compartments:
                built[compartment.id] = CompartmentHardware(compartment, pin_factory, bounce_time=bounce_time)
        except BaseException:
            for done in built.values():
                done.close()
            raise
        return cls(built)

    def compartment(self, compartment_id: str) -> CompartmentHardware:
        try:
            return self.compartments[compartment_id]
        except KeyError:
            raise LayoutError(f"no compartment {compartment_id!r} in this locker") from None

    def set_door_callback(self, callback: DoorCallback | None) -> None:
        """Route every door change to `callback(compartment_id, is_open)`, which must only enqueue."""
        for comp in self.compartments.values():
            comp.on_door_change = callback

    def doors(self) -> dict[str, bool]:
        """Compartment id → door open, read from the switches now."""
        return {cid: comp.door_open for cid, comp in self.compartments.items()}

    def energised(self) -> list[str]:
        """Compartments whose lock relay is powered right now."""
        return [cid for cid, comp in self.compartments.items() if comp.lock_energised]

    def close(self) -> None:
        for comp in self.compartments.values():
            comp.close()

    def __enter__(self) -> LockerHardware:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()
