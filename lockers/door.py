"""Door and lock state machine of a whole cabinet: pure, no I/O; feeds on unlocks, door changes and ticks.

Each compartment has a lock that is either latched or released (the relay was pulsed and the door has not
been opened yet) and a door that is open or closed. An unlock attaches a *session* that says why the lock
was released; the session ends when the door has been opened and closed again (`loaded` or `collected`),
or, if the door is never opened, when the release window passes: the latch springs back on its own.
A door that opens with no release pending is `tamper`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from lockers.errors import LayoutError
from lockers.protocol.messages import EventKind, Method

DEFAULT_RELEASE_WINDOW_S = 30.0


@dataclass(frozen=True, slots=True)
class PickupSession:
    """A resident's code released the lock."""

    order: str
    code_id: str
    method: Method

    # What opening and closing the door means for this session (a remote unlock will finish with None).
    finished = EventKind.COLLECTED


@dataclass(frozen=True, slots=True)
class DropoffSession:
    """A vendor's code released the lock to load one order part."""

    order: str
    vendor: str

    finished = EventKind.LOADED
    method = Method.VENDOR


Session = PickupSession | DropoffSession


@dataclass(frozen=True, slots=True)
class DoorOutcome:
    """Something the agent should report as an event; field names match the protocol's `Event`."""

    kind: EventKind
    compartment: str
    order: str | None = None
    vendor: str | None = None
    code_id: str | None = None
    method: Method | None = None


@dataclass(frozen=True, slots=True)
class _Release:
    session: Session
    released_at: datetime
    opened: bool = False  # the door has been opened during this session


@dataclass(frozen=True, slots=True)
class CompartmentState:
    """Door position and pending release of one compartment."""

    door_open: bool
    release: _Release | None = None

    @property
    def lock_released(self) -> bool:
        """The latch is held open: pulsed and not yet opened (after opening, closing the door re-latches it)."""
        return self.release is not None and not self.release.opened

    @property
    def session(self) -> Session | None:
        return self.release.session if self.release else None


class DoorMachine:
    """All compartments of one cabinet; every input returns the outcomes it caused, in order."""

    def __init__(
        self,
        door_open: Mapping[str, bool],
        *,
        release_window_s: float = DEFAULT_RELEASE_WINDOW_S,
    ) -> None:
        if release_window_s <= 0:
            raise ValueError("the release window must be positive")
        self._states = {cid: CompartmentState(door_open=bool(is_open)) for cid, is_open in door_open.items()}
        self.release_window = timedelta(seconds=release_window_s)

    # --- queries --------------------------------------------------------------------------------------

    def state(self, compartment: str) -> CompartmentState:
        try:
            return self._states[compartment]
        except KeyError:
            raise LayoutError(f"no compartment {compartment!r} in this locker") from None

    def doors(self) -> dict[str, bool]:
        """Compartment id → door open."""
        return {cid: s.door_open for cid, s in self._states.items()}

    # --- inputs ---------------------------------------------------------------------------------------

    def unlock(self, compartment: str, session: Session, now: datetime) -> list[DoorOutcome]:
        """The lock relay was pulsed for `session`; a newer session replaces a pending one."""
        current = self.state(compartment)
        # A door that already stands open was opened for this session as far as anyone can tell:
        # closing it completes the session.
        release = _Release(session=session, released_at=now, opened=current.door_open)
        self._states[compartment] = replace(current, release=release)
        return [_outcome(EventKind.UNLOCKED, compartment, session)]

    def door_changed(self, compartment: str, is_open: bool, now: datetime) -> list[DoorOutcome]:
        """The door switch reported a position; a repeat of the known position changes nothing."""
        self._expire(compartment, now)
        current = self.state(compartment)
        if current.door_open == is_open:
            return []
        if is_open:
            return self._opened(compartment, current)
        return self._closed(compartment, current)

    def tick(self, now: datetime) -> list[DoorOutcome]:
        """Time passes: releases whose door was never opened lapse (the latch springs back)."""
        for compartment in self._states:
            self._expire(compartment, now)
        # Jam detection (a released door that stays shut) will report from here.
        return []

    # --- transitions ----------------------------------------------------------------------------------

    def _opened(self, compartment: str, current: CompartmentState) -> list[DoorOutcome]:
        opened = [DoorOutcome(EventKind.DOOR_OPENED, compartment)]
        if current.release is None:
            self._states[compartment] = CompartmentState(door_open=True)
            return opened + [DoorOutcome(EventKind.TAMPER, compartment)]
        release = replace(current.release, opened=True)
        self._states[compartment] = CompartmentState(door_open=True, release=release)
        return opened

    def _closed(self, compartment: str, current: CompartmentState) -> list[DoorOutcome]:
        closed = [DoorOutcome(EventKind.DOOR_CLOSED, compartment)]
        self._states[compartment] = CompartmentState(door_open=False)
        if current.release is None or not current.release.opened:
            return closed
        session = current.release.session
        return closed + [_outcome(session.finished, compartment, session)]

    def _expire(self, compartment: str, now: datetime) -> None:
        current = self.state(compartment)
        release = current.release
        if release is not None and not release.opened and now - release.released_at >= self.release_window:
            self._states[compartment] = replace(current, release=None)


def _outcome(kind: EventKind, compartment: str, session: Session) -> DoorOutcome:
    """An event about a session, with the fields the protocol lists for that kind."""
    if isinstance(session, DropoffSession):
        method = session.method if kind is EventKind.UNLOCKED else None
        return DoorOutcome(kind, compartment, order=session.order, vendor=session.vendor, method=method)
    return DoorOutcome(kind, compartment, order=session.order, code_id=session.code_id, method=session.method)
