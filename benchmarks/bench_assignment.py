"""7. Assignment quality: how many orders of a synthetic Zwartsluis-like week the engine accepts, against the
offline optimum an exact MILP solver (HiGHS through scipy.optimize.milp) finds with the whole week known ahead.

The week (`zwartsluis_week`, seeded, so every run sees the same orders):
- one cabinet of 48 compartments: ambient 7 S, 6 M, 3 L; chilled 10 S, 8 M, 4 L; frozen 4 S, 4 M, 2 L; the
  lowest of each zone accessible (4 ambient, 5 chilled, 2 frozen);
- 50 orders a day for 7 days, placed 0 to 2 days before their drop-off day, in the order they are placed;
- zones: an order holds chilled goods 50 %, ambient 35 %, frozen 15 % of the time; sizes S 55 %, M 33 %, L 12 %;
  a quarter of the orders carry a second part of the same zone from another vendor (farmer and baker), a tenth
  a part of another zone; 8 % of residents ask for low compartments;
- the drop-off window opens on the hour between 07:00 and 16:00 and lasts 2 hours; the pickup deadline the
  resident chose is 1 to 6 hours after it for 80 % of the orders (the same evening), 12 to 18 hours for 15 %
  (the next morning), and the longest the food allows for 5 % (24 hours; 48 for ambient-only orders); the
  compartments are booked from the window's start to that deadline.

The engine (`cloud.packing.book`, as the cloud books: best fit as things lie, then the movable bookings planned
again, then an exact repacking of those near the order) sees one order at a time, in the order they were
placed, and books it if it fits; a booking may move until its drop-off window opens. The optimum chooses
which orders to accept knowing all of them, under the same rules (zone, litres, parts of one order may share a
compartment, no two orders in one compartment at once); it ignores the accessible preference, which never
refuses an order, so it is an upper bound of what any engine could accept. The baseline is the greedy engine
(`cloud.assignment.assign`) with every part in a compartment of its own and no look at time (first free by
size), as assignment worked before bookings in time.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from benchmarks.context import BenchContext
from benchmarks.results import Figure
from cloud import assignment, packing
from cloud.assignment import Held, NoFit, PartNeed, Slot, Window, assign
from lockers.layout import Size, Zone

BENCH = "7. Assignment"
GOAL_RATIO = 0.98
MONDAY = datetime(2026, 11, 30, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class WeekOrder:
    """An order of the synthetic week: when it was placed, its parts, and the window it books."""

    id: int
    placed_at: datetime
    parts: tuple[tuple[Zone, Size], ...]
    window: Window
    accessible: bool


CABINET = (  # letter, zone, compartments per size, how many of them are low (accessible)
    ("A", Zone.AMBIENT, {Size.S: 7, Size.M: 6, Size.L: 3}, 4),
    ("B", Zone.CHILLED, {Size.S: 10, Size.M: 8, Size.L: 4}, 5),
    ("C", Zone.FROZEN, {Size.S: 4, Size.M: 4, Size.L: 2}, 2),
)


def zwartsluis_cabinet() -> list[Slot]:
    """48 compartments, per zone and size as CABINET says; the last (lowest) ones of each zone accessible."""
    slots = []
    for letter, zone, counts, low in CABINET:
        sizes = [size for size, count in counts.items() for _ in range(count)]
        for number, size in enumerate(sizes, start=1):
            slots.append(Slot(f"{letter}{number}", zone, size, accessible=number > len(sizes) - low))
    return slots


def zwartsluis_week(seed: int = 2026, days: int = 7, per_day: int = 50) -> list[WeekOrder]:
    """The week's orders in the order they were placed (see the module's docstring for the mix)."""
    rng = random.Random(seed)
    zones = [Zone.CHILLED] * 50 + [Zone.AMBIENT] * 35 + [Zone.FROZEN] * 15
    sizes = [Size.S] * 55 + [Size.M] * 33 + [Size.L] * 12
    orders = []
    for day in range(days):
        for _ in range(per_day):
            zone = rng.choice(zones)
            parts = [(zone, rng.choice(sizes))]
            if rng.random() < 0.25:
                parts.append((zone, rng.choice(sizes)))  # the same zone, another vendor
            if rng.random() < 0.10:
                parts.append((rng.choice([z for z in Zone if z != zone]), rng.choice(sizes)))
            opens = MONDAY + timedelta(days=day, hours=rng.randint(7, 16))
            longest = 48 if all(z == Zone.AMBIENT for z, _ in parts) else 24
            draw = rng.random()
            hold = rng.randint(1, 6) if draw < 0.80 else rng.randint(12, 18) if draw < 0.95 else longest
            deadline = opens + timedelta(hours=2 + hold)
            placed = opens - timedelta(minutes=rng.randint(30, 48 * 60))
            orders.append(WeekOrder(0, placed, tuple(parts), Window(opens, deadline), rng.random() < 0.08))
    orders.sort(key=lambda o: o.placed_at)
    return [WeekOrder(i, o.placed_at, o.parts, o.window, o.accessible) for i, o in enumerate(orders)]


def online(
    orders: list[WeekOrder], slots: list[Slot], *, baseline: bool = False, exact: bool = True
) -> dict[int, set[str]]:
    """The orders the engine books, seeing them one at a time as they are placed, with the compartments each
    ends up in (bookings whose window has not opened yet may move to make room). The baseline gives every part
    its own compartment among those free during the window, blind to the bookings around it, and moves nothing."""
    held: dict[int, Held] = {}
    windows = {order.id: order.window for order in orders}
    for order in orders:
        try:
            if baseline:
                busy = {c for i, h in held.items() if windows[i].overlaps(order.window) for c in h.compartments}
                needs = [PartNeed(zone, size) for zone, size in order.parts]
                chosen = assign(needs, slots, busy, locker="bench", accessible=order.accessible, share=False)
                held[order.id] = Held(str(order.id), tuple(needs), tuple(chosen))
                continue
            current = [replace(h, movable=windows[i].start > order.placed_at) for i, h in held.items()]
            needs = [PartNeed(zone, size, order.window) for zone, size in order.parts]
            booker = packing.book if exact else assignment.book  # without the exact repacking: the greedy engine
            plan = booker(needs, slots, current, locker="bench", accessible=order.accessible)
        except NoFit:
            continue
        for moved, compartments in plan.moves.items():
            held[int(moved)] = replace(held[int(moved)], compartments=compartments)
        held[order.id] = Held(str(order.id), tuple(needs), tuple(plan.compartments), order.accessible)
    return {i: set(h.compartments) for i, h in held.items()}


def optimum(orders: list[WeekOrder], slots: list[Slot], time_limit_s: float) -> tuple[float, float, set[int]]:
    """(best found, proven upper bound, accepted orders) of the offline problem, from HiGHS."""
    import numpy as np  # noqa: PLC0415 - only this benchmark needs the solver stack
    from scipy.optimize import Bounds, LinearConstraint, milp  # noqa: PLC0415
    from scipy.sparse import lil_array  # noqa: PLC0415

    columns: list[tuple] = []  # ("x", o) | ("u", o, c) | ("y", o, p, c)
    index: dict[tuple, int] = {}

    def column(key: tuple) -> int:
        index[key] = len(columns)
        columns.append(key)
        return index[key]

    for order in orders:
        column(("x", order.id))
        for c, slot in enumerate(slots):
            fits = [
                p
                for p, (zone, size) in enumerate(order.parts)
                if zone == slot.zone and size.volume_l <= slot.size.volume_l
            ]
            if fits:
                column(("u", order.id, c))
                for p in fits:
                    column(("y", order.id, p, c))
    rows: list[tuple[dict[int, float], float, float]] = []
    for order in orders:
        x = index[("x", order.id)]
        for p, _ in enumerate(order.parts):  # each part placed exactly once if the order is accepted
            row = {index[k]: 1.0 for k in index if k[0] == "y" and k[1] == order.id and k[2] == p}
            rows.append((row | {x: -1.0}, 0.0, 0.0))
        for c, slot in enumerate(slots):
            if ("u", order.id, c) not in index:
                continue
            u = index[("u", order.id, c)]
            ys = [(p, index[("y", order.id, p, c)]) for p in range(len(order.parts)) if ("y", order.id, p, c) in index]
            for _, y in ys:  # a part only in a compartment the order uses
                rows.append(({y: 1.0, u: -1.0}, -np.inf, 0.0))
            litres = {y: float(order.parts[p][1].volume_l) for p, y in ys}  # what fits together
            rows.append((litres | {u: -float(slot.size.volume_l)}, -np.inf, 0.0))
    for c, _slot in enumerate(slots):  # one order per compartment at any moment (checked where windows start)
        users = [o for o in orders if ("u", o.id, c) in index]
        for moment in sorted({o.window.start for o in users}):
            active = [index[("u", o.id, c)] for o in users if o.window.start <= moment < o.window.end]
            if len(active) > 1:
                rows.append(({u: 1.0 for u in active}, -np.inf, 1.0))
    matrix = lil_array((len(rows), len(columns)))
    lower, upper = np.empty(len(rows)), np.empty(len(rows))
    for r, (coefficients, low, high) in enumerate(rows):
        for col, value in coefficients.items():
            matrix[r, col] = value
        lower[r], upper[r] = low, high
    objective = np.array([-1.0 if key[0] == "x" else 0.0 for key in columns])
    result = milp(
        objective,
        constraints=LinearConstraint(matrix.tocsr(), lower, upper),
        integrality=np.ones(len(columns)),
        bounds=Bounds(0, 1),
        options={"time_limit": time_limit_s, "disp": False},
    )
    if result.x is None:
        raise RuntimeError(f"HiGHS found no solution: {result.message}")
    accepted = {key[1] for key, value in zip(columns, result.x, strict=True) if key[0] == "x" and value > 0.5}
    bound = -result.mip_dual_bound if result.mip_dual_bound is not None else len(accepted)
    return float(len(accepted)), float(bound), accepted


def utilisation(orders: list[WeekOrder], accepted: dict[int, set[str]], slots: list[Slot]) -> dict[Zone, float]:
    """Per zone, the share of its compartment-hours booked over the week."""
    zone_of = {slot.id: slot.zone for slot in slots}
    booked: dict[Zone, float] = defaultdict(float)
    for order in orders:
        hours = (order.window.end - order.window.start).total_seconds() / 3600
        for compartment in accepted.get(order.id, ()):
            booked[zone_of[compartment]] += hours
    week = (max(o.window.end for o in orders) - min(o.window.start for o in orders)).total_seconds() / 3600
    count: dict[Zone, int] = defaultdict(int)
    for slot in slots:
        count[slot.zone] += 1
    return {zone: booked[zone] / (week * count[zone]) for zone in Zone}


def first_come_ceiling(orders: list[WeekOrder], slots: list[Slot], progress=None) -> int:
    """How many orders any engine could book that must take each order that fits, as it comes, even with every
    booking free to move: an order counts when it and those booked before it fit together (HiGHS decides, over
    the orders starting within three days of it; a booking holds at most 50 hours). It separates what packing
    loses from what taking the week first come, first served loses."""
    booked: list[WeekOrder] = []
    for order in orders:
        near = [o for o in booked if abs(o.window.start - order.window.start) < timedelta(days=3)]
        _best, _bound, fitted = optimum([*near, order], slots, time_limit_s=60.0)
        if len(fitted) == len(near) + 1:
            booked.append(order)
        if progress is not None:
            progress.advance()
    return len(booked)


def run(ctx: BenchContext) -> list[Figure]:
    slots = zwartsluis_cabinet()
    orders = zwartsluis_week(days=ctx.pick(7, 1), per_day=ctx.pick(50, 20))
    progress = ctx.task("7. assignment: engine, optimum, first-come ceiling", total=len(orders) + 3)
    engine = online(orders, slots)
    greedy = online(orders, slots, exact=False)
    baseline = online(orders, slots, baseline=True)
    progress.advance(2)
    best, bound, _chosen = optimum(orders, slots, time_limit_s=ctx.pick(600.0, 60.0))
    progress.advance()
    ceiling = first_come_ceiling(orders, slots, progress)
    ratio = len(engine) / bound
    used = ", ".join(f"{zone} {share:.0%}" for zone, share in utilisation(orders, engine, slots).items())
    label = "first free by size, no sharing, blind to time"
    return [
        Figure(
            BENCH,
            "orders booked, % of the offline optimum",
            ratio * 100,
            "%",
            baseline=len(baseline) / bound * 100,
            baseline_label=label,
            goal=f"≥ {GOAL_RATIO:.0%}",
            met=ratio >= GOAL_RATIO,
            note=f"{len(engine)} of {len(orders)} orders ({len(greedy)} without the exact repacking); optimum "
            f"{best:.0f} (HiGHS bound {bound:.1f}); compartment-hours booked per zone: {used}",
        ),
        Figure(
            BENCH,
            "orders booked, % of the first-come ceiling",
            len(engine) / ceiling * 100,
            "%",
            baseline=len(baseline) / ceiling * 100,
            baseline_label=label,
            note=f"ceiling {ceiling} orders ({ceiling / bound:.1%} of the optimum): the best any engine that "
            "takes orders as they come can do, bookings free to move",
        ),
    ]
