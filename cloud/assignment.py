"""Compartment assignment (pure): best fit by size within a zone, accessible compartments kept for those who need them.

Parts are placed largest first, each in the smallest fitting free compartment of its zone. Because a part
can use any compartment at least its size, placing the largest part anywhere it fits never blocks a
smaller one that could have been placed otherwise, so this finds an assignment whenever one exists.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from cloud.errors import Conflict
from lockers.layout import Size, Zone


@dataclass(frozen=True, slots=True)
class Slot:
    """A compartment as assignment sees it."""

    id: str
    zone: Zone
    size: Size
    accessible: bool


@dataclass(frozen=True, slots=True)
class PartNeed:
    """What one order part needs: a zone and a minimum size."""

    zone: Zone
    size: Size


class NoFit(Conflict):
    """No all-or-nothing assignment exists; `detail` says which part could not be placed and why."""


def assign(
    parts: Sequence[PartNeed],
    slots: Sequence[Slot],
    occupied: Collection[str],
    *,
    locker: str,
    accessible: bool = False,
) -> list[str]:
    """Choose one free compartment per part (in the order of `parts`) or raise NoFit; nothing is half-assigned."""
    free = [slot for slot in slots if slot.id not in occupied]
    chosen: dict[int, str] = {}
    taken: set[str] = set()
    largest_first = sorted(range(len(parts)), key=lambda i: (-parts[i].size.volume_l, i))
    for index in largest_first:
        need = parts[index]
        candidates = [
            slot
            for slot in free
            if slot.id not in taken and slot.zone == need.zone and slot.size.volume_l >= need.size.volume_l
        ]
        if not candidates:
            raise NoFit(_reason(need, slots, occupied, taken, locker))
        best = min(candidates, key=lambda slot: _preference(slot, accessible))
        chosen[index] = best.id
        taken.add(best.id)
    return [chosen[i] for i in range(len(parts))]


def _preference(slot: Slot, wants_accessible: bool) -> tuple[bool, int, str]:
    # Reachability matters more than a snug fit: residents who asked get low compartments first,
    # everyone else gets them last so they stay free for those who need them.
    return (slot.accessible != wants_accessible, slot.size.volume_l, slot.id)


def _reason(need: PartNeed, slots: Sequence[Slot], occupied: Collection[str], taken: set[str], locker: str) -> str:
    in_zone = [slot for slot in slots if slot.zone == need.zone]
    if not in_zone:
        return f"{locker} has no {need.zone} compartments"
    fitting = [slot for slot in in_zone if slot.size.volume_l >= need.size.volume_l]
    if not fitting:
        return f"{locker} has no {need.zone} compartment of size {need.size} or larger"
    busy = sum(1 for slot in in_zone if slot.id in occupied)
    counts = f"{len(in_zone)} {need.zone} compartment{'s' if len(in_zone) != 1 else ''}, {busy} occupied"
    own = sum(1 for slot in in_zone if slot.id in taken)
    if own:
        counts += f", {own} chosen for this order's other parts"
    return f"no free {need.zone} compartment of size {need.size} or larger at {locker} ({counts})"
