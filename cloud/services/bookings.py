"""A locker's bookings as the assignment engine sees them, placing an order among them (moving bookings nobody
has been told about yet), and where else a refused order could go: a later window, another locker nearby."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud import packing
from cloud.assignment import Held, NoFit, PartNeed, Plan, Slot, Window, book
from cloud.lifecycle import HOLDS_COMPARTMENTS, OrderStatus
from cloud.models import Compartment, Locker, Order, OrderPart
from cloud.services import audit
from cloud.windows import Times
from lockers.layout import Size, Zone

SEARCH_STEP = timedelta(minutes=30)  # later windows are tried this far apart
SEARCH_AHEAD = timedelta(days=7)
NEARBY_LOCKERS = 3  # at most this many other lockers of the village are proposed


@dataclass(frozen=True, slots=True)
class Alternative:
    """Where and when a refused order would fit."""

    locker: str
    window_start: datetime
    window_end: datetime
    pickup_by: datetime


class LockerFull(NoFit):
    """The order does not fit in its window; `alternatives` (possibly none) say what would."""

    def __init__(self, detail: str, alternatives: Sequence[Alternative]) -> None:
        super().__init__(detail, alternatives=[asdict(a) for a in alternatives])
        self.alternatives = tuple(alternatives)


def slots_and_held(session: Session, locker_id: str, now: datetime) -> tuple[list[Slot], list[Held]]:
    """The locker's compartments, and every order holding some of them with the time it holds them. One query:
    creating an order costs a fixed number of round trips, however full the locker."""
    holding = (
        select(
            Order.id.label("order_id"),
            Order.status,
            Order.accessible.label("order_accessible"),
            Order.created_at,
            Order.dropoff_from,
            Order.pickup_by,
            Order.pickup_deadline,
            OrderPart.position,
            OrderPart.zone.label("part_zone"),
            OrderPart.size.label("part_size"),
            OrderPart.compartment_id,
            OrderPart.loaded_at,
        )
        .join(OrderPart, OrderPart.order_id == Order.id)
        .where(
            Order.locker_id == locker_id, Order.status.in_(HOLDS_COMPARTMENTS), OrderPart.compartment_id.is_not(None)
        )
        .subquery()
    )
    rows = session.execute(
        select(Compartment.id, Compartment.zone, Compartment.size, Compartment.accessible, holding)
        .outerjoin(holding, holding.c.compartment_id == Compartment.id)
        .where(Compartment.locker_id == locker_id)
        .order_by(Compartment.id)
    ).all()
    slots = list({row.id: Slot(row.id, Zone(row.zone), Size(row.size), row.accessible) for row in rows}.values())
    by_order: dict[str, list] = {}
    for row in sorted((r for r in rows if r.order_id is not None), key=lambda r: (r.order_id, r.position)):
        by_order.setdefault(row.order_id, []).append(row)
    held = []
    for order_id, parts in by_order.items():
        first = parts[0]
        window = booked_window(
            first.status, first.created_at, first.dropoff_from, first.pickup_by, first.pickup_deadline
        )
        # Parts of an order are loaded together or not at all as far as moving goes: any loaded part pins it.
        untouched = all(p.loaded_at is None for p in parts)
        movable = first.status == OrderStatus.ASSIGNED and untouched and window is not None and window.start > now
        held.append(
            Held(
                order_id,
                tuple(PartNeed(Zone(p.part_zone), Size(p.part_size), window) for p in parts),
                tuple(p.compartment_id for p in parts),
                first.order_accessible,
                movable,
            )
        )
    return slots, held


def booked_window(
    status: str,
    created_at: datetime,
    dropoff_from: datetime | None,
    pickup_by: datetime | None,
    pickup_deadline: datetime | None,
) -> Window | None:
    """From the drop-off window's start to the pickup (the code's deadline once there is one); None: held until
    someone empties it (expired goods, and orders booked before bookings had an end)."""
    start = dropoff_from or created_at
    if status == OrderStatus.READY and pickup_deadline:
        return Window(start, max(pickup_deadline, start + timedelta(seconds=1)))
    if status == OrderStatus.EXPIRED or pickup_by is None:
        return None
    return Window(start, pickup_by)


@dataclass(frozen=True, slots=True)
class Wanted:
    """What a new order asks for: its parts (zone, size), its times, low compartments or not."""

    parts: tuple[tuple[Zone, Size], ...]
    times: Times
    accessible: bool = False

    def needs(self, times: Times | None = None) -> list[PartNeed]:
        booked = times or self.times
        window = Window(booked.start, booked.pickup_by)
        return [PartNeed(zone, size, window) for zone, size in self.parts]


def place(session: Session, locker_id: str, wanted: Wanted, *, now: datetime, village: str | None) -> Plan:
    """Where the order's parts go at the locker; LockerFull with alternatives when they do not fit."""
    slots, held = slots_and_held(session, locker_id, now)
    try:
        return packing.book(wanted.needs(), slots, held, locker=locker_id, accessible=wanted.accessible)
    except NoFit as refusal:
        found = alternatives(session, locker_id, wanted, now, village, (slots, held))
        raise LockerFull(refusal.detail, found) from None


def alternatives(
    session: Session,
    locker_id: str,
    wanted: Wanted,
    now: datetime,
    village: str | None,
    here: tuple[list[Slot], list[Held]],
) -> list[Alternative]:
    """The earliest later window that fits here (`here`: its slots and bookings), then other lockers of the
    village where the window fits."""
    found = []
    shift = SEARCH_STEP
    while shift <= SEARCH_AHEAD:
        later = wanted.times.shifted(shift)
        if _fits(wanted.needs(later), *here, locker_id, wanted.accessible):
            found.append(Alternative(locker_id, later.start, later.end, later.pickup_by))
            break
        shift += SEARCH_STEP
    if village:
        others = session.scalars(
            select(Locker.id).where(Locker.village == village, Locker.id != locker_id).order_by(Locker.id)
        ).all()
        nearby = 0
        for other in others:
            if nearby == NEARBY_LOCKERS:
                break
            if _fits(wanted.needs(), *slots_and_held(session, other, now), other, wanted.accessible):
                times = wanted.times
                found.append(Alternative(other, times.start, times.end, times.pickup_by))
                nearby += 1
    return found


def _fits(needs: list[PartNeed], slots: list[Slot], held: list[Held], locker: str, accessible: bool) -> bool:
    """Whether the order fits as the bookings lie or after planning the movable ones again (the exact repacking
    would cost seconds over hundreds of candidate windows)."""
    try:
        book(needs, slots, held, locker=locker, accessible=accessible)
    except NoFit:
        return False
    return True


def move(session: Session, moves: dict[str, tuple[str, ...]], now: datetime) -> None:
    """Give the moved orders their new compartments (per part, in part order), audited; nobody was told the old
    ones yet (their drop-off windows have not opened)."""
    for order_id, compartments in sorted(moves.items()):
        parts = session.scalars(
            select(OrderPart)
            .where(OrderPart.order_id == order_id, OrderPart.compartment_id.is_not(None))
            .order_by(OrderPart.position)
        ).all()
        old = [part.compartment_id for part in parts]
        for part, compartment in zip(parts, compartments, strict=True):
            part.compartment_id = compartment
        audit.record(
            session, audit.SYSTEM, "order.moved", f"order:{order_id}", {"compartments": old},
            {"compartments": list(compartments), "why": "room for a new booking"}, now,
        )  # fmt: skip
