"""Compartment assignment: best fit by size within a zone, accessible preference, parts sharing a compartment,
bookings in time, all or nothing."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from cloud.assignment import Booking, Held, NoFit, PartNeed, Plan, Slot, Window, assign, book
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
    assert assign(parts, DEMO, occupied, locker="demo-1", accessible=accessible, share=False) == expected


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
            need((F, M), (F, M), (F, M), (F, M)),
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
    chosen = assign(parts, DEMO, occupied, locker="demo-1", share=False)
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
        assert _fits(parts, chosen, fridge)
    elif _feasible_shared(parts, fridge):
        assert _fits(parts, assign(parts, fridge, set(), locker="demo-1", accessible=accessible), fridge)
    else:
        with pytest.raises(NoFit):
            assign(parts, fridge, set(), locker="demo-1", accessible=accessible)


def _feasible_shared(parts, slots) -> bool:
    """Brute force: is there any placement, compartments shared, honouring zone and litres?"""
    return any(_fits(parts, [s.id for s in choice], slots) for choice in itertools.product(slots, repeat=len(parts)))


def _fits(parts, chosen, slots) -> bool:
    by_id = {slot.id: slot for slot in slots}
    load: dict[str, int] = {}
    for part, cid in zip(parts, chosen, strict=True):
        if by_id[cid].zone != part.zone:
            return False
        load[cid] = load.get(cid, 0) + part.size.volume_l
    return all(litres <= by_id[cid].size.volume_l for cid, litres in load.items())


@pytest.mark.parametrize(
    ("parts", "occupied", "accessible", "expected"),
    [
        # two small parts (say from the farmer and the baker) share an M once the small compartments are taken
        (need((C, S), (C, S)), {"B1", "B2"}, False, ["B3", "B3"]),
        # ... but not while each has a small compartment of its own: sharing must save room
        (need((C, S), (C, S)), set(), False, ["B1", "B2"]),
        # a third small part moves in beside one in the M instead of taking a compartment of its own
        (need((C, S), (C, S), (C, S)), set(), False, ["B3", "B2", "B3"]),
        # two M parts fill the L freezer compartment together
        (need((F, M), (F, M), (F, M)), set(), False, ["C2", "C3", "C3"]),
        # an L part and an S part: the S goes where it fits on its own, the L never shares beyond its room
        (need((A, L), (A, S)), set(), False, ["A4", "A1"]),
        # a resident who needs low compartments keeps the goods low, shared or not
        (need((C, S), (C, S)), set(), True, ["B3", "B3"]),
    ],
)
def test_parts_share_a_compartment_when_that_saves_room(parts, occupied, accessible, expected):
    assert assign(parts, DEMO, occupied, locker="demo-1", accessible=accessible) == expected


T0 = datetime(2026, 11, 27, 8, tzinfo=UTC)


def hours(start: float, end: float) -> Window:
    return Window(T0 + timedelta(hours=start), T0 + timedelta(hours=end))


@pytest.mark.parametrize(
    ("bookings", "window", "expected"),
    [
        # a booking ending when the window starts leaves the compartment free (windows are half-open)
        ([Booking("B1", hours(0, 10))], hours(10, 20), "B1"),
        ([Booking("B1", hours(0, 11))], hours(10, 20), "B2"),
        ([Booking("B1", hours(20, 30))], hours(10, 20), "B1"),
        # held for good (goods inside, no end known): never free
        ([Booking("B1")], hours(100, 110), "B2"),
        # of two equal compartments, the one whose neighbours leave the smaller idle gaps
        ([Booking("B1", hours(0, 5)), Booking("B2", hours(0, 10))], hours(10, 20), "B2"),
        ([Booking("B1", hours(30, 40)), Booking("B2", hours(22, 40))], hours(10, 20), "B2"),
        # both small compartments booked then: the M, though free before and after
        ([Booking("B1", hours(15, 16)), Booking("B2", hours(5, 11))], hours(10, 20), "B3"),
    ],
)
def test_compartments_are_booked_in_time(bookings, window, expected):
    (chosen,) = assign([PartNeed(C, S, window)], DEMO, bookings, locker="demo-1")
    assert chosen == expected


def test_a_fully_booked_window_says_when():
    fridge = [Booking(cid, hours(0, 30)) for cid in ("B1", "B2", "B3", "B4", "B5")]
    with pytest.raises(NoFit) as caught:
        assign([PartNeed(C, S, hours(10, 20))], DEMO, fridge, locker="demo-1")
    assert caught.value.detail == (
        "no free chilled compartment of size S or larger at demo-1 "
        "(5 chilled compartments, 5 booked between 2026-11-27 18:00 and 2026-11-28 04:00 UTC)"
    )


def test_parts_with_different_windows_never_share():
    chosen = assign([PartNeed(C, S, hours(0, 24)), PartNeed(C, S, hours(0, 48))], DEMO, {"B1", "B2"}, locker="k")
    assert chosen == ["B3", "B4"]


SMALL_FRIDGE = [Slot("B1", C, S, False), Slot("B3", C, M, False)]


def held_small_part(movable: bool) -> Held:
    """An order whose small part sits in the M compartment (B1 was taken when it was booked)."""
    return Held("X", (PartNeed(C, S, hours(10, 20)),), ("B3",), movable=movable)


def test_a_booking_that_fits_as_things_lie_moves_nothing():
    plan = book([PartNeed(C, S, hours(10, 20))], SMALL_FRIDGE, [held_small_part(True)], locker="k")
    assert plan == Plan(["B1"], {})


def test_a_booking_not_yet_dropped_off_moves_to_make_room():
    plan = book([PartNeed(C, M, hours(12, 18))], SMALL_FRIDGE, [held_small_part(True)], locker="k")
    assert plan == Plan(["B3"], {"X": ("B1",)})


def test_goods_already_in_or_a_window_already_open_never_move():
    with pytest.raises(NoFit, match="no free chilled compartment of size M or larger at k"):
        book([PartNeed(C, M, hours(12, 18))], SMALL_FRIDGE, [held_small_part(False)], locker="k")


def test_when_planning_again_cannot_help_the_first_reason_stands():
    both = [held_small_part(True), Held("Y", (PartNeed(C, S, hours(10, 20)),), ("B1",), movable=True)]
    with pytest.raises(NoFit) as caught:
        book([PartNeed(C, M, hours(12, 18))], SMALL_FRIDGE, both, locker="k")
    assert "2 booked between 2026-11-27 20:00 and 2026-11-28 02:00 UTC" in caught.value.detail
