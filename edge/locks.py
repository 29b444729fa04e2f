"""The cabinet's locks and doors as the agent's worker drives them: pulse relays, run the door state machine,
and report what it concludes (unlocked, opened, closed, loaded, collected, jam, tamper) as events.

A lock is always pulsed, whatever its door switch says: a broken switch (stuck open or stuck closed) costs
the events of that door, never the unlock itself nor any other compartment (lockers.door).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from edge.store import EdgeStore, LoadedPart
from lockers.door import DoorMachine, DoorOutcome, Session
from lockers.hardware import LockerHardware
from lockers.protocol.messages import EventKind

# Reports an event: kind and the Event's optional fields.
Emit = Callable[..., None]


class Locks:
    """Relays and door sessions of one cabinet; worker thread only."""

    def __init__(
        self, hardware: LockerHardware, store: EdgeStore, emit: Emit, *, release_window_s: float, jam_after_s: float
    ) -> None:
        self._hardware = hardware
        self._store = store
        self._emit = emit
        self._timing = {"release_window_s": release_window_s, "jam_after_s": jam_after_s}
        # Placeholder until `read_switches` learns the real positions.
        self._machine = DoorMachine(dict.fromkeys(hardware.compartments, False), **self._timing)

    def read_switches(self) -> None:
        """Start over from the door positions the switches show now (at agent start)."""
        self._machine = DoorMachine(self._hardware.doors(), **self._timing)

    @property
    def compartments(self) -> frozenset[str]:
        return frozenset(self._hardware.compartments)

    def doors(self) -> dict[str, bool]:
        """Compartment id → door open, as the state machine holds it."""
        return self._machine.doors()

    def positions(self) -> dict[str, str]:
        """Compartment id → "open" or "closed", as `reported` and status show them."""
        return {cid: "open" if is_open else "closed" for cid, is_open in self._machine.doors().items()}

    def energised(self) -> list[str]:
        return self._hardware.energised()

    def release(self, sessions: Sequence[tuple[str, Session]], pulse_s: float, now: datetime) -> None:
        """Pulse every lock first, then record the sessions and report them."""
        for compartment, _session in sessions:
            self._hardware.compartment(compartment).pulse(pulse_s)
        for compartment, session in sessions:
            self._report(self._machine.unlock(compartment, session, now), now)

    def door_changed(self, compartment: str, is_open: bool, now: datetime) -> bool:
        """A switch moved; whether that meant anything (a repeat of the known position does not)."""
        outcomes = self._machine.door_changed(compartment, is_open, now)
        self._report(outcomes, now)
        return bool(outcomes)

    def tick(self, now: datetime) -> None:
        self._report(self._machine.tick(now), now)

    def _report(self, outcomes: list[DoorOutcome], now: datetime) -> None:
        for outcome in outcomes:
            if outcome.kind is EventKind.LOADED and outcome.order and outcome.vendor:
                # Remembered at once, so the vendor's code does not open this compartment again while offline.
                self._store.mark_loaded(LoadedPart(outcome.compartment, outcome.order, outcome.vendor), now)
            self._emit(
                outcome.kind,
                compartment=outcome.compartment,
                order=outcome.order,
                vendor=outcome.vendor,
                code_id=outcome.code_id,
                method=outcome.method,
                detail=outcome.detail,
            )
