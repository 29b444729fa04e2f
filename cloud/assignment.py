"""Compartment assignment (pure): compartments are booked in time, from the start of the drop-off window to the
pickup deadline; best fit by size within a zone; parts of one order share a compartment when together they fit
and sharing saves room; accessible (low) compartments go first to residents who need them and last to others.

One order is placed at a time, all or nothing. Per zone, parts are placed largest first: into room left in a
compartment this order already uses, else into the free compartment that fits most snugly, in size and then in
time (the one whose neighbouring bookings leave the smallest idle gaps around the window, so long free stretches
stay whole for long bookings). Then a compartment is given back whenever its parts fit into the room left in
the order's other compartments. `benchmarks/bench_assignment.py` measures the result against an offline optimum.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cloud.errors import Conflict
from lockers.layout import Size, Zone


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open stretch of time [start, end)."""

    start: datetime
    end: datetime

    def overlaps(self, other: Window) -> bool:
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True, slots=True)
class Slot:
    """A compartment as assignment sees it."""

    id: str
    zone: Zone
    size: Size
    accessible: bool


@dataclass(frozen=True, slots=True)
class PartNeed:
    """What one order part needs: a zone, a minimum size, and when (None: from now on, for good)."""

    zone: Zone
    size: Size
    window: Window | None = None


@dataclass(frozen=True, slots=True)
class Booking:
    """A compartment held by another order; without a window it is held for good (e.g. goods inside)."""

    compartment: str
    window: Window | None = None


class NoFit(Conflict):
    """No all-or-nothing assignment exists; `detail` says which part could not be placed and why."""


def assign(
    parts: Sequence[PartNeed],
    slots: Sequence[Slot],
    bookings: Collection[Booking] | Collection[str],
    *,
    locker: str,
    accessible: bool = False,
    share: bool = True,
) -> list[str]:
    """One compartment per part, in the order of `parts` (parts sharing a compartment name it twice), or NoFit.

    `bookings` are the locker's other holds (bare compartment ids: held for good). `share=False` gives every
    part a compartment of its own."""
    held = [b if isinstance(b, Booking) else Booking(b) for b in bookings]
    chosen: dict[int, str] = {}
    groups: dict[tuple[Zone, Window | None], list[int]] = {}
    for index, part in enumerate(parts):
        groups.setdefault((part.zone, part.window), []).append(index)
    for (zone, window), indexes in groups.items():
        free = [slot for slot in slots if slot.zone == zone and _is_free(slot.id, window, held)]
        packing = _pack([parts[i] for i in indexes], free, window, held, accessible, share)
        if isinstance(packing, _Unplaced):
            raise NoFit(_reason(packing, slots, held, window, locker))
        for local, compartment in packing.items():
            chosen[indexes[local]] = compartment
            held.append(Booking(compartment, window))  # the order's other zones and windows must not take it
    return [chosen[i] for i in range(len(parts))]


@dataclass(frozen=True, slots=True)
class _Unplaced:
    need: PartNeed
    opened: int  # compartments already chosen for the order's other parts of that zone


@dataclass(slots=True)
class _Bin:
    slot: Slot
    parts: list[int] = field(default_factory=list)
    used_l: int = 0

    @property
    def room_l(self) -> int:
        return self.slot.size.volume_l - self.used_l


def _pack(
    parts: list[PartNeed],
    free: list[Slot],
    window: Window | None,
    held: list[Booking],
    wants_accessible: bool,
    share: bool,
) -> dict[int, str] | _Unplaced:
    """Parts of one zone and window into free compartments: {part: compartment}, or the part that did not fit."""
    rank = {slot.id: _preference(slot, wants_accessible, window, held) for slot in free}
    bins: list[_Bin] = []
    unopened = sorted(free, key=lambda slot: rank[slot.id])
    for index in sorted(range(len(parts)), key=lambda i: (-parts[i].size.volume_l, i)):
        litres = parts[index].size.volume_l
        # Room left in a compartment this order already uses, the tightest first.
        shared = [b for b in bins if share and b.room_l >= litres]
        target = min(shared, key=lambda b: (b.room_l, rank[b.slot.id])) if shared else None
        if target is None:
            fitting = [slot for slot in unopened if slot.size.volume_l >= litres]
            if not fitting:
                return _Unplaced(parts[index], len(bins))
            target = _Bin(fitting[0])
            unopened.remove(fitting[0])
            bins.append(target)
        target.parts.append(index)
        target.used_l += litres
    if share:
        _give_back(bins, parts, rank, wants_accessible)
    return {index: b.slot.id for b in bins for index in b.parts}


def _give_back(bins: list[_Bin], parts: list[PartNeed], rank: dict, keep_low: bool) -> None:
    """Empty a compartment whenever its parts fit into the room left in the others (largest compartment first),
    never moving the goods of a resident who needs low compartments out of a low one."""
    changed = True
    while changed:
        changed = False
        for source in sorted(bins, key=lambda b: (-b.slot.size.volume_l, rank[b.slot.id])):
            others = [
                b for b in bins if b is not source and (b.slot.accessible or not keep_low or not source.slot.accessible)
            ]
            moves = _fit_into(sorted(source.parts, key=lambda i: -parts[i].size.volume_l), parts, others)
            if moves is None:
                continue
            for index, target in moves:
                target.parts.append(index)
                target.used_l += parts[index].size.volume_l
            bins.remove(source)
            changed = True
            break


def _fit_into(indexes: list[int], parts: list[PartNeed], bins: list[_Bin]) -> list[tuple[int, _Bin]] | None:
    """Best-fit the parts into the bins' room (without changing them), or None if one does not fit."""
    room = {id(b): b.room_l for b in bins}
    moves = []
    for index in indexes:
        litres = parts[index].size.volume_l
        fitting = [b for b in bins if room[id(b)] >= litres]
        if not fitting:
            return None
        target = min(fitting, key=lambda b: room[id(b)])
        room[id(target)] -= litres
        moves.append((index, target))
    return moves


def _is_free(compartment: str, window: Window | None, held: list[Booking]) -> bool:
    return not any(
        b.compartment == compartment and (b.window is None or window is None or b.window.overlaps(window)) for b in held
    )


def _preference(slot: Slot, wants_accessible: bool, window: Window | None, held: list[Booking]) -> tuple:
    # Reachability matters more than a snug fit: residents who asked get low compartments first, everyone else
    # gets them last so they stay free for those who need them. Then size, then the idle time the booking
    # would leave beside its neighbours: filling gaps keeps long free stretches for long bookings.
    return (slot.accessible != wants_accessible, slot.size.volume_l, _idle_around(slot.id, window, held), slot.id)


def _idle_around(compartment: str, window: Window | None, held: list[Booking]) -> float:
    """Seconds between the window and the neighbouring bookings of the compartment (a side without a neighbour
    counts as a week: open time is worth keeping open)."""
    if window is None:
        return 0.0
    week = 7 * 24 * 3600.0
    before = [b.window.end for b in held if b.compartment == compartment and b.window and b.window.end <= window.start]
    after = [b.window.start for b in held if b.compartment == compartment and b.window and b.window.start >= window.end]
    gap_before = (window.start - max(before)).total_seconds() if before else week
    gap_after = (min(after) - window.end).total_seconds() if after else week
    return min(gap_before, week) + min(gap_after, week)


def _reason(unplaced: _Unplaced, slots: Sequence[Slot], held: list[Booking], window: Window | None, locker: str) -> str:
    need = unplaced.need
    in_zone = [slot for slot in slots if slot.zone == need.zone]
    if not in_zone:
        return f"{locker} has no {need.zone} compartments"
    fitting = [slot for slot in in_zone if slot.size.volume_l >= need.size.volume_l]
    if not fitting:
        return f"{locker} has no {need.zone} compartment of size {need.size} or larger"
    busy = sum(1 for slot in in_zone if not _is_free(slot.id, window, held))
    how = f"booked between {window.start:%Y-%m-%d %H:%M} and {window.end:%Y-%m-%d %H:%M} UTC" if window else "occupied"
    counts = f"{len(in_zone)} {need.zone} compartment{'s' if len(in_zone) != 1 else ''}, {busy} {how}"
    if unplaced.opened:
        counts += f", {unplaced.opened} chosen for this order's other parts"
    return f"no free {need.zone} compartment of size {need.size} or larger at {locker} ({counts})"


@dataclass(frozen=True, slots=True)
class Held:
    """An order holding compartments: its parts, where they are, and whether they may still move (nothing loaded
    and its drop-off window not yet open: nobody has been told which door)."""

    order: str
    parts: tuple[PartNeed, ...]
    compartments: tuple[str, ...]  # per part
    accessible: bool = False
    movable: bool = False


@dataclass(frozen=True, slots=True)
class Plan:
    """Where the new order's parts go, and the held orders that move to make room: {order: compartments}."""

    compartments: list[str]
    moves: dict[str, tuple[str, ...]]


def book(
    parts: Sequence[PartNeed],
    slots: Sequence[Slot],
    held: Sequence[Held],
    *,
    locker: str,
    accessible: bool = False,
) -> Plan:
    """Place a new order beside the held ones; when it does not fit as they lie, plan the movable ones again
    with it, in the order their windows open (first fit by start time keeps intervals packed), and move them
    only if then everything fits. Raises the NoFit of the first attempt otherwise."""
    bookings = [Booking(c, p.window) for h in held for p, c in zip(h.parts, h.compartments, strict=True)]
    try:
        return Plan(assign(parts, slots, bookings, locker=locker, accessible=accessible), {})
    except NoFit as refusal:
        first = refusal
    movable = [h for h in held if h.movable]
    if not movable:
        raise first
    fixed = [Booking(c, p.window) for h in held if not h.movable for p, c in zip(h.parts, h.compartments, strict=True)]
    new = Held("", tuple(parts), (), accessible, True)
    placed: dict[str, list[str]] = {}
    for order in sorted([*movable, new], key=_replan_order):
        try:
            chosen = assign(order.parts, slots, fixed, locker=locker, accessible=order.accessible)
        except NoFit:
            raise first from None
        placed[order.order] = chosen
        fixed += [Booking(c, p.window) for p, c in zip(order.parts, chosen, strict=True)]
    moves = {h.order: tuple(placed[h.order]) for h in movable if tuple(placed[h.order]) != h.compartments}
    return Plan(placed[""], moves)


def _replan_order(order: Held) -> tuple:
    starts = [p.window.start for p in order.parts if p.window]
    litres = sum(p.size.volume_l for p in order.parts)
    # Orders without a window (held from now on) first, then by opening time; the bigger first on a tie.
    return (bool(starts), min(starts) if starts else None, -litres, order.order)
