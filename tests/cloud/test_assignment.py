"""Compartment assignment: best fit by size within a zone, accessible preference, all or nothing."""

from __future__ import annotations

import itertools

import pytest

from cloud.assignment import NoFit, PartNeed, Slot, assign
from lockers.layout import Size, Zone, demo_layout

DEMO = [Slot(c.id, c.zone, c.size, c.accessible) for c in demo_layout().compartments]
A, C, F = Zone.AMBIENT, Zone.CHILLED, Zone.FROZEN
S, M, L = Size.S, Size.M, Size.L


def need(*spec: tuple[Zone, Size]) -> list[PartNeed]:
    return [PartNeed(zone, size) for zone, size in spec]


@pytest.mark.parametrize(
    ("parts", "occupied", "accessible", "expected"),
    [
        # smallest fitting compartment first
        (need((C, S)), set(), False, ["B1"]),
        (need((C, S)), {"B1"}, False, ["B2"]),
        (need((F, S)), set(), False, ["C1"]),
        (need((A, S)), set(), False, ["A1"]),
        # a bigger compartment when the snug ones are taken
        (need((C, S)), {"B1", "B2"}, False, ["B3"]),
        (need((C, M)), set(), False, ["B3"]),
        (need((C, L)), set(), False, ["B5"]),
        # zones are never mixed: the frozen part goes to the freezer even if the fridge has room
        (need((C, S), (F, S), (A, M)), set(), False, ["B1", "C1", "A2"]),
        # accessible residents get low compartments first, even if a higher one fits more snugly
        (need((C, S)), set(), True, ["B3"]),
        (need((A, S)), set(), True, ["A3"]),
        (need((A, M)), set(), True, ["A3"]),
        (need((F, S)), set(), True, ["C2"]),
        # ... and only fall back to high ones when no low one fits
        (need((C, S)), {"B3", "B4", "B5"}, True, ["B1"]),
        # others get low compartments last: A2 (high, M) before A3 (low, M) and A4 (low, L)
        (need((A, M)), set(), False, ["A2"]),
        (need((A, M)), {"A2"}, False, ["A3"]),
        # several parts of one zone each get their own compartment; results follow the order of the parts
        (need((C, S), (C, S), (C, S)), set(), False, ["B1", "B2", "B3"]),
        (need((C, S), (C, L)), set(), False, ["B1", "B5"]),
        # largest first: the L part gets B5 even when listed last, the small ones what remains
        (need((C, M), (C, M), (C, L)), set(), False, ["B3", "B4", "B5"]),
        (need((C, S), (C, M), (C, M), (C, S), (C, L)), set(), False, ["B1", "B3", "B4", "B2", "B5"]),
    ],
)
def test_best_fit(parts, occupied, accessible, expected):
    assert assign(parts, DEMO, occupied, locker="demo-1", accessible=accessible) == expected


@pytest.mark.parametrize(
    ("parts", "occupied", "reason"),
    [
        (
            need((C, M)),
            {"B1", "B2", "B3", "B4", "B5"},
            "no free chilled compartment of size M or larger at demo-1 (5 chilled compartments, 5 occupied)",
        ),
        (
            need((C, L)),
            {"B5"},
            "no free chilled compartment of size L or larger at demo-1 (5 chilled compartments, 1 occupied)",
        ),
        (
            need((F, M), (F, M), (F, M)),
            set(),
            "no free frozen compartment of size M or larger at demo-1 "
            "(3 frozen compartments, 0 occupied, 2 chosen for this order's other parts)",
        ),
    ],
)
def test_nothing_fits_says_why(parts, occupied, reason):
    with pytest.raises(NoFit) as caught:
        assign(parts, DEMO, occupied, locker="demo-1")
    assert caught.value.detail == reason
    assert caught.value.status_code == 409


def test_a_zone_the_locker_lacks():
    ambient_only = [slot for slot in DEMO if slot.zone is A]
    with pytest.raises(NoFit, match="^small-1 has no frozen compartments$"):
        assign(need((F, S)), ambient_only, set(), locker="small-1")


def test_a_size_the_locker_lacks():
    small_fridge = [Slot("B1", C, S, False), Slot("B2", C, M, False)]
    with pytest.raises(NoFit, match="^small-1 has no chilled compartment of size L or larger$"):
        assign(need((C, L)), small_fridge, set(), locker="small-1")


def test_all_or_nothing_returns_nothing_when_one_part_fails():
    # The chilled part would fit, the frozen L would not: no partial result is handed out.
    with pytest.raises(NoFit, match="frozen"):
        assign(need((C, S), (F, L)), DEMO, {"C3"}, locker="demo-1")


def test_no_compartment_is_given_twice_or_taken_while_occupied():
    occupied = {"B1", "A2"}
    parts = need(*[(zone, S) for zone in (A, A, A, C, C, C, C, F, F, F)])
    chosen = assign(parts, DEMO, occupied, locker="demo-1")
    assert len(set(chosen)) == len(chosen)
    assert not set(chosen) & occupied


def _feasible(parts, slots) -> bool:
    """Brute force: is there any one-to-one placement honouring zone and size?"""
    for perm in itertools.permutations(slots, len(parts)):
        if all(s.zone == p.zone and s.size.volume_l >= p.size.volume_l for p, s in zip(parts, perm, strict=False)):
            return True
    return False


@pytest.mark.parametrize("accessible", [False, True])
@pytest.mark.parametrize("sizes", list(itertools.product([S, M, L], repeat=3)))
def test_finds_a_placement_whenever_one_exists(sizes, accessible):
    fridge = [slot for slot in DEMO if slot.zone is C]
    parts = need(*[(C, size) for size in sizes])
    if _feasible(parts, fridge):
        chosen = assign(parts, fridge, set(), locker="demo-1", accessible=accessible)
        by_id = {slot.id: slot for slot in fridge}
        assert all(by_id[cid].size.volume_l >= p.size.volume_l for cid, p in zip(chosen, parts, strict=False))
    else:
        with pytest.raises(NoFit):
            assign(parts, fridge, set(), locker="demo-1", accessible=accessible)
