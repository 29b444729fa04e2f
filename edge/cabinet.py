"""The physics of a simulated cabinet on gpiozero mock pins: spring-loaded doors and people moving them.

It watches the lock relay pins like the latch would (a poll thread reading the pins' recorded states, not a
hook into the agent): shortly after a relay is energised, a closed door springs open. Moving a door drives
its reed-switch pin (high = open, low = closed) and tells the thermal simulator, if there is one.
"""

from __future__ import annotations

import logging
import threading
import time

from gpiozero.pins.mock import MockFactory, MockPin

from lockers.errors import LayoutError
from lockers.layout import Compartment, LockerLayout, Zone
from sensors.simulator import CabinetSimulator, Fault

log = logging.getLogger(__name__)

POLL_S = 0.02
POP_DELAY_S = 0.15  # the latch lets go and the spring pushes the door ajar


class SimulatedCabinet:
    """Doors and latches of a simulated locker; thread-safe `move_door`."""

    def __init__(
        self,
        layout: LockerLayout,
        factory: MockFactory,
        thermal: CabinetSimulator | None = None,
        *,
        pop_delay_s: float = POP_DELAY_S,
    ) -> None:
        self._compartments = {c.id: c for c in layout.compartments}
        self._factory = factory
        self._thermal = thermal
        self._pop_delay_s = pop_delay_s
        self._lock = threading.Lock()
        self._seen = {c.id: len(self._lock_pin(c).states) for c in layout.compartments}
        self._popping: dict[str, float] = {}  # compartment → monotonic time its door springs open
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="cabinet-latches", daemon=True)

    def start(self) -> None:
        """Close every door (pins low), then start watching the latches."""
        for compartment in self._compartments.values():
            self._set_door(compartment, False)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def door_open(self, compartment_id: str) -> bool:
        return bool(self._door_pin(self._compartments[compartment_id]).state)

    def move_door(self, compartment_id: str, action: str) -> tuple[bool, str]:
        """A person opens or closes a door; only an unlatched door can be pulled open."""
        compartment = self._compartments.get(compartment_id)
        if compartment is None:
            return False, f"there is no compartment {compartment_id} in this locker"
        if action not in ("open", "close"):
            return False, f"unknown door action {action!r}; use open or close"
        want_open = action == "open"
        with self._lock:
            if not want_open and compartment_id in self._popping and not self.door_open(compartment_id):
                # Closing a door whose latch just let go, before the spring pushed it: whoever asks has
                # opened it, used it and shut it (a script can be faster than the spring).
                del self._popping[compartment_id]
                self._set_door(compartment, True)
                self._set_door(compartment, False)
                return True, f"door {compartment_id} opened and closed"
            if self.door_open(compartment_id) == want_open:
                return True, f"door {compartment_id} is already {'open' if want_open else 'closed'}"
            forced = want_open and not self._unlatched(compartment)
            self._set_door(compartment, want_open)
        if forced:  # a latched door pulled open is forced: the switch sees it all the same (tamper)
            return True, f"door {compartment_id} forced open while locked"
        return True, f"door {compartment_id} {'opened' if want_open else 'closed'}"

    def inject_fault(self, zone: str, fault: str) -> tuple[bool, str]:
        """Start a fault of the thermal simulator in a zone (`clear` ends them all); the files show it at once."""
        if self._thermal is None:
            return False, "this simulated cabinet has no thermal simulator"
        try:
            sensed = Zone(zone)
        except ValueError:
            return False, f"unknown zone {zone[:40]!r}; use one of {', '.join(z.value for z in Zone)}"
        try:
            self._thermal.inject(sensed, fault)
        except ValueError:  # the simulator's message lists the faults
            return False, f"unknown fault {fault[:40]!r}; use one of {', '.join(f.value for f in Fault)}"
        except LayoutError as exc:
            return False, str(exc)
        self._thermal.write()
        log.info("fault %s in the %s zone", fault, sensed.value)
        if fault == Fault.CLEAR:
            return True, f"faults cleared in the {sensed.value} zone"
        return True, f"{fault} injected into the {sensed.value} zone"

    # --- internals ------------------------------------------------------------------------------------

    def _lock_pin(self, compartment: Compartment) -> MockPin:
        return self._factory.pin(compartment.lock_pin)

    def _door_pin(self, compartment: Compartment) -> MockPin:
        return self._factory.pin(compartment.door_pin)

    def _unlatched(self, compartment: Compartment) -> bool:
        return bool(self._lock_pin(compartment).state) or compartment.id in self._popping

    def _set_door(self, compartment: Compartment, is_open: bool) -> None:
        pin = self._door_pin(compartment)
        # Driving the pin runs gpiozero's callback on this thread; the agent's callback only enqueues.
        if is_open:
            pin.drive_high()
        else:
            pin.drive_low()
        if self._thermal is not None:
            self._thermal.door_changed(compartment.zone, compartment.id, is_open)

    def _watch(self) -> None:
        while not self._stopping.wait(POLL_S):
            try:
                self._watch_once()
            except Exception:  # the cabinet must keep working for the rest of the demo
                log.exception("simulated cabinet failed")

    def _watch_once(self) -> None:
        now = time.monotonic()
        with self._lock:
            for compartment in self._compartments.values():
                states = self._lock_pin(compartment).states
                seen, self._seen[compartment.id] = self._seen[compartment.id], len(states)
                # Read the recorded history, so even a pulse shorter than the poll period releases the latch.
                if any(state.state for state in states[seen:]):
                    self._popping.setdefault(compartment.id, now + self._pop_delay_s)
            for compartment_id, when in list(self._popping.items()):
                if now >= when:
                    del self._popping[compartment_id]
                    if not self.door_open(compartment_id):
                        self._set_door(self._compartments[compartment_id], True)
