"""Door and lock state machine of a whole cabinet: pure, no I/O; feeds on unlocks, door changes and ticks.

Each compartment has a lock that is either latched or released (the relay was pulsed and the door has not
been opened yet) and a door that is open or closed. An unlock attaches a *session* that says why the lock
was released; the session ends when the door has been opened and closed again (`loaded`, `collected`
or `retrieved`), or, if the door is never opened, when the release window passes: the latch springs back.

Supervision: a door that opens with no release pending is `tamper`; a released door not seen open within
`jam_after_s` (spring-loaded doors pop open at once) is `jam`, reported once per unlock. The machine only
reports: it never refuses an unlock, so a door switch stuck "open" or "closed" cannot keep a lock shut. A
switch stuck closed looks like a jam; one stuck open makes every unlock count as opened at once (no jam) and
the session simply never finishes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import ClassVar

from lockers.errors import LayoutError
from lockers.protocol.messages import EventKind, Method

DEFAULT_RELEASE_WINDOW_S = 30.0
DEFAULT_JAM_AFTER_S = 10.0


@dataclass(frozen=True, slots=True)
class PickupSession:
    """A resident's code released the lock."""

    order: str
    code_id: str
    method: Method

    # What opening and closing the door means for this session.
    finished: ClassVar[EventKind | None] = EventKind.COLLECTED


@dataclass(frozen=True, slots=True)
class DropoffSession:
    """A vendor's code released the lock to load one order part."""

    order: str
    vendor: str

    finished: ClassVar[EventKind | None] = EventKind.LOADED
    method = Method.VENDOR


@dataclass(frozen=True, slots=True)
class RetrievalSession:
    """A vendor's code released the lock to take goods back (an expired order, or a resident's return)."""

    order: str
    vendor: str

    finished: ClassVar[EventKind | None] = EventKind.RETRIEVED
    method = Method.VENDOR


@dataclass(frozen=True, slots=True)
class DepositSession:
    """A resident's code released the lock to put a return in (crates, jars, packaging)."""

    order: str
    code_id: str
    method: Method

    finished: ClassVar[EventKind | None] = EventKind.LOADED


@dataclass(frozen=True, slots=True)
class RemoteSession:
    """An operator's remote command released the lock; opening and closing the door finishes nothing."""

    command: str
    issued_by: str

    finished: ClassVar[EventKind | None] = None
    method = Method.REMOTE

    @property
    def detail(self) -> str:
        return f"remote unlock by {self.issued_by} (command {self.command})"[:300]


Session = PickupSession | DropoffSession | RetrievalSession | DepositSession | RemoteSession


@dataclass(frozen=True, slots=True)
class DoorOutcome:
    """Something the agent should report as an event; field names match the protocol's `Event`."""

    kind: EventKind
    compartment: str
    order: str | None = None
    vendor: str | None = None
    code_id: str | None = None
    method: Method | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class _Release:
    session: Session
    released_at: datetime
    opened: bool = False  # the door has been opened during this session
    jammed: bool = False  # `jam` was reported for this release


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
        jam_after_s: float = DEFAULT_JAM_AFTER_S,
    ) -> None:
        if release_window_s <= 0:
            raise ValueError("the release window must be positive")
        if not 0 < jam_after_s < release_window_s:
            raise ValueError("a jam must be detected after a positive delay shorter than the release window")
        self._states = {cid: CompartmentState(door_open=bool(is_open)) for cid, is_open in door_open.items()}
        self.release_window = timedelta(seconds=release_window_s)
        self.jam_after = timedelta(seconds=jam_after_s)

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
        overdue = self._supervise(compartment, now)
        current = self.state(compartment)
        if current.door_open == is_open:
            return overdue
        if is_open:
            return overdue + self._opened(compartment, current)
        return overdue + self._closed(compartment, current)

    def tick(self, now: datetime) -> list[DoorOutcome]:
        """Time passes: doors released but not opened in time are jammed; after the window the latch springs back."""
        outcomes: list[DoorOutcome] = []
        for compartment in self._states:
            outcomes += self._supervise(compartment, now)
        return outcomes

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
        if session.finished is None:
            return closed
        return closed + [_outcome(session.finished, compartment, session)]

    def _supervise(self, compartment: str, now: datetime) -> list[DoorOutcome]:
        """Report a jam once the door is overdue, and let the release lapse after the window."""
        current = self.state(compartment)
        release = current.release
        if release is None or release.opened:
            return []
        outcomes = []
        waited = now - release.released_at
        if waited >= self.jam_after and not release.jammed:
            release = replace(release, jammed=True)
            self._states[compartment] = replace(current, release=release)
            seconds = self.jam_after.total_seconds()
            outcomes.append(replace(_outcome(EventKind.JAM, compartment, release.session), detail=_jam_detail(seconds)))
        if waited >= self.release_window:
            self._states[compartment] = replace(current, release=None)
        return outcomes


def _jam_detail(seconds: float) -> str:
    return f"door not opened within {seconds:g} s of the unlock: jammed latch or door, or a broken door switch"


def _outcome(kind: EventKind, compartment: str, session: Session) -> DoorOutcome:
    """An event about a session, with the fields the protocol lists for that kind."""
    if isinstance(session, RemoteSession):
        return DoorOutcome(kind, compartment, method=session.method, detail=session.detail)
    if isinstance(session, DropoffSession | RetrievalSession):
        method = None if kind is EventKind.LOADED else session.method
        return DoorOutcome(kind, compartment, order=session.order, vendor=session.vendor, method=method)
    return DoorOutcome(kind, compartment, order=session.order, code_id=session.code_id, method=session.method)
