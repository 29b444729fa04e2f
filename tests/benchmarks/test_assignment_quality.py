"""The assignment benchmark's yardsticks: the MILP optimum is the true optimum (brute force on small weeks), the
engine's bookings keep every rule, and nothing beats the optimum."""

from __future__ import annotations

import itertools
import random
from datetime import timedelta

import pytest

from benchmarks.bench_assignment import (
    MONDAY,
    WeekOrder,
    first_come_ceiling,
    online,
    optimum,
    utilisation,
    zwartsluis_cabinet,
    zwartsluis_week,
)
from cloud.assignment import Slot, Window
from lockers.layout import Size, Zone

C, A = Zone.CHILLED, Zone.AMBIENT
S, M, L = Size.S, Size.M, Size.L
TINY = [Slot("B1", C, S, False), Slot("B2", C, M, True), Slot("A1", A, L, False)]


def tiny_week(seed: int, count: int = 7) -> list[WeekOrder]:
    rng = random.Random(seed)
    orders = []
    for i in range(count):
        parts = tuple((rng.choice([C, C, A]), rng.choice([S, S, M, L])) for _ in range(rng.choice([1, 1, 2])))
        start = MONDAY + timedelta(hours=rng.randint(0, 6))
        window = Window(start, start + timedelta(hours=rng.randint(1, 5)))
        orders.append(WeekOrder(i, MONDAY - timedelta(hours=count - i), parts, window, False))
    return orders


def fits_together(orders: list[WeekOrder], slots: list[Slot]) -> bool:
    """Brute force: can every part go somewhere, parts of one order sharing within litres, orders never sharing a
    compartment at the same time?"""
    parts = [(o, zone, size) for o in orders for zone, size in o.parts]
    for choice in itertools.product(range(len(slots)), repeat=len(parts)):
        load: dict[tuple[int, int], int] = {}
        users: dict[int, set[int]] = {}
        if any(slots[c].zone != zone for c, (_, zone, _) in zip(choice, parts, strict=True)):
            continue
        for c, (order, _zone, size) in zip(choice, parts, strict=True):
            load[(order.id, c)] = load.get((order.id, c), 0) + size.volume_l
            users.setdefault(c, set()).add(order.id)
        if any(litres > slots[c].size.volume_l for (_, c), litres in load.items()):
            continue
        by_id = {o.id: o for o in orders}
        if all(
            not by_id[a].window.overlaps(by_id[b].window)
            for ids in users.values()
            for a, b in itertools.combinations(sorted(ids), 2)
        ):
            return True
    return False


@pytest.mark.parametrize("seed", range(6))
def test_the_milp_optimum_is_the_brute_force_optimum(seed):
    orders = tiny_week(seed)
    best = max(
        size
        for size in range(len(orders) + 1)
        for subset in itertools.combinations(orders, size)
        if fits_together(list(subset), TINY)
    )
    found, bound, accepted = optimum(orders, TINY, time_limit_s=30)
    assert found == best == len(accepted) and bound == pytest.approx(best)
    assert fits_together([o for o in orders if o.id in accepted], TINY)


def test_the_engine_keeps_every_rule_and_never_beats_the_optimum():
    slots = zwartsluis_cabinet()
    orders = zwartsluis_week(days=1, per_day=40)
    booked = online(orders, slots)
    by_id, kind = {o.id: o for o in orders}, {s.id: s for s in slots}
    for order_id, compartments in booked.items():
        zones = {zone for zone, _ in by_id[order_id].parts}
        assert {kind[c].zone for c in compartments} <= zones
    for a, b in itertools.combinations(booked, 2):
        if by_id[a].window.overlaps(by_id[b].window):
            assert not booked[a] & booked[b], f"orders {a} and {b} share a compartment at the same time"
    best, _bound, _ = optimum(orders, slots, time_limit_s=60)
    assert len(online(orders, slots, baseline=True)) <= best and len(booked) <= best
    assert len(booked) <= first_come_ceiling(orders, slots) <= best
    assert all(0 < share <= 1 for share in utilisation(orders, booked, slots).values())


def test_the_week_is_the_same_every_run():
    first, again = zwartsluis_week(), zwartsluis_week()
    assert first == again and len(first) == 350
    assert len(zwartsluis_cabinet()) == 48
