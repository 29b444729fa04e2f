"""Exact repacking (pure computation, no I/O): when a new order does not fit as the bookings lie, and planning
the movable ones again first come, first served did not make room either, find compartments for the new order
and every movable booking near it at once with an exact solver (HiGHS through scipy.optimize.milp), moving as
few bookings as possible. Bookings that may not move (goods inside, window open) stay where they are.

The model: a binary y[o,p,c] puts part p of order o in compartment c, u[o,c] says order o uses c. Each part
goes exactly once, into a compartment of its zone and at least its size; the parts of one order in one
compartment fit in its litres; no two orders use a compartment at the same moment (checked where windows
start); a fixed booking blocks its compartment during its window. Each moved booking costs 1 per compartment
it changes to; a low compartment taken by a resident who did not ask for one costs a little.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

from cloud import assignment
from cloud.assignment import Held, NoFit, PartNeed, Plan, Slot, Window

NEAR = timedelta(days=3)  # movable bookings starting this close to the new order's window take part
TIME_LIMIT_S = 2.0  # per refused order; past it the order is refused as before
_LOW_COST = 0.01


def book(
    parts: Sequence[PartNeed],
    slots: Sequence[Slot],
    held: Sequence[Held],
    *,
    locker: str,
    accessible: bool = False,
    time_limit_s: float = TIME_LIMIT_S,
) -> Plan:
    """`assignment.book`, and when that refuses, an exact repacking of the movable bookings near the order;
    raises the first refusal (it says why the order did not fit as things lay) when no packing exists."""
    try:
        return assignment.book(parts, slots, held, locker=locker, accessible=accessible)
    except NoFit as refusal:
        if not any(h.movable for h in held):
            raise
        new = Held("", tuple(parts), (), accessible, True)
        packed = repack(new, slots, held, time_limit_s=time_limit_s)
        if packed is None:
            raise refusal from None
    current = {h.order: h.compartments for h in held}
    moves = {order: chosen for order, chosen in packed.items() if order and chosen != current[order]}
    return Plan(list(packed[""]), moves)


def repack(
    new: Held, slots: Sequence[Slot], held: Sequence[Held], *, time_limit_s: float = TIME_LIMIT_S
) -> dict[str, tuple[str, ...]] | None:
    """{order: compartments per part} for `new` (whatever its `order` id) and every movable booking that took
    part, or None when no packing exists (or none was found in time). Bookings that did not take part keep
    their compartments."""
    span = _span(new)
    if span is None:
        return None
    near = [h for h in held if h.movable and _near(h, span)]
    fixed = [h for h in held if not (h.movable and _near(h, span))]
    blocked = [(c, p.window) for h in fixed for p, c in zip(h.parts, h.compartments, strict=True)]
    orders = [*near, new]
    model = _Model(orders, slots, blocked)
    if model.impossible:
        return None
    chosen = model.solve(time_limit_s)
    if chosen is None:
        return None
    return {order.order: chosen[i] for i, order in enumerate(orders)}


def _span(order: Held) -> Window | None:
    windows = [p.window for p in order.parts if p.window is not None]
    if len(windows) != len(order.parts):
        return None  # held for good: nothing to pack around
    return Window(min(w.start for w in windows), max(w.end for w in windows))


def _near(order: Held, span: Window) -> bool:
    own = _span(order)
    return own is not None and abs(own.start - span.start) < NEAR


class _Model:
    """The MILP of one repacking, built column by column."""

    def __init__(self, orders: Sequence[Held], slots: Sequence[Slot], blocked: list[tuple[str, Window | None]]) -> None:
        self.orders = orders
        self.slots = slots
        self.impossible = False
        self._costs: list[float] = []
        self._y: dict[tuple[int, int, int], int] = {}
        self._u: dict[tuple[int, int], int] = {}
        rows: list[tuple[dict[int, float], float, float]] = []
        for o, order in enumerate(orders):
            span = _span(order)
            for c, slot in enumerate(slots):
                if any(b == slot.id and (w is None or w.overlaps(span)) for b, w in blocked):
                    continue
                fits = [
                    p
                    for p, part in enumerate(order.parts)
                    if part.zone == slot.zone and part.size.volume_l <= slot.size.volume_l
                ]
                if not fits:
                    continue
                moved = order.movable and bool(order.compartments) and slot.id not in order.compartments
                low = _LOW_COST if slot.accessible and not order.accessible else 0.0
                u = self._column((1.0 if moved else 0.0) + low)
                self._u[(o, c)] = u
                for p in fits:
                    y = self._column(0.0)
                    self._y[(o, p, c)] = y
                    rows.append(({y: 1.0, u: -1.0}, -np.inf, 0.0))  # a part only where its order is
                litres = {self._y[(o, p, c)]: float(order.parts[p].size.volume_l) for p in fits}
                rows.append((litres | {u: -float(slot.size.volume_l)}, -np.inf, 0.0))
            for p in range(len(order.parts)):
                places = {y: 1.0 for (oo, pp, _c), y in self._y.items() if oo == o and pp == p}
                if not places:
                    self.impossible = True
                    return
                rows.append((places, 1.0, 1.0))  # every part exactly once
        for c in range(len(slots)):
            users = [(o, _span(orders[o])) for o in range(len(orders)) if (o, c) in self._u]
            for moment in sorted({span.start for _, span in users}):
                active = [self._u[(o, c)] for o, span in users if span.start <= moment < span.end]
                if len(active) > 1:
                    rows.append(({u: 1.0 for u in active}, -np.inf, 1.0))  # one order at a time
        self._rows = rows

    def _column(self, cost: float) -> int:
        self._costs.append(cost)
        return len(self._costs) - 1

    def solve(self, time_limit_s: float) -> list[tuple[str, ...]] | None:
        data, row_ids, col_ids = [], [], []
        for r, (coefficients, _low, _high) in enumerate(self._rows):
            for col, value in coefficients.items():
                data.append(value)
                row_ids.append(r)
                col_ids.append(col)
        matrix = coo_array((data, (row_ids, col_ids)), shape=(len(self._rows), len(self._costs))).tocsr()
        lower = np.array([low for _, low, _ in self._rows])
        upper = np.array([high for _, _, high in self._rows])
        result = milp(
            np.array(self._costs),
            constraints=LinearConstraint(matrix, lower, upper),
            integrality=np.ones(len(self._costs)),
            bounds=Bounds(0, 1),
            options={"time_limit": time_limit_s, "disp": False},
        )
        if result.x is None:
            return None
        chosen: list[list[str | None]] = [[None] * len(order.parts) for order in self.orders]
        for (o, p, c), y in self._y.items():
            if result.x[y] > 0.5:
                chosen[o][p] = self.slots[c].id
        if any(c is None for parts in chosen for c in parts):
            return None
        return [tuple(parts) for parts in chosen]  # type: ignore[arg-type]
