"""Per-locker event numbering (pure core): gaps open and fill in any arrival order, restarts are recognised."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from cloud.sequence import (
    Arrival,
    Gap,
    Numbering,
    due_for_resend,
    from_received,
    gaps_from_json,
    gaps_to_json,
    mark_requested,
    observe,
    observe_last,
    write_off_quiet,
)

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
FRESH = Numbering()


def feed(seqs, numbering: Numbering = FRESH, start: datetime = T0) -> tuple[Numbering, list[Arrival]]:
    arrivals = []
    for i, seq in enumerate(seqs):
        observed = observe(numbering, seq, start + timedelta(seconds=i))
        numbering = observed.numbering
        arrivals.append(observed.arrival)
    return numbering, arrivals


def ranges(numbering: Numbering) -> list[tuple[int, int]]:
    return [(gap.first, gap.last) for gap in numbering.gaps]


@pytest.mark.parametrize(
    ("seqs", "last", "contiguous", "gaps", "arrivals"),
    [
        ([1, 2, 3], 3, 3, [], ["next", "next", "next"]),
        ([1, 2, 5], 5, 2, [(3, 4)], ["next", "next", "ahead"]),
        ([1, 5, 3], 5, 1, [(2, 2), (4, 4)], ["next", "ahead", "fill"]),
        ([1, 5, 2, 3, 4], 5, 5, [], ["next", "ahead", "fill", "fill", "fill"]),
        ([3], 3, 0, [(1, 2)], ["ahead"]),  # the first event lost or late: 1 and 2 are missing
        ([3, 1, 2], 3, 3, [], ["ahead", "fill", "fill"]),
        ([1, 10, 4, 7], 10, 1, [(2, 3), (5, 6), (8, 9)], ["next", "ahead", "fill", "fill"]),
    ],
)
def test_gaps_open_and_fill(seqs, last, contiguous, gaps, arrivals):
    numbering, seen = feed(seqs)
    assert (numbering.last_seq, numbering.contiguous_to, ranges(numbering)) == (last, contiguous, gaps)
    assert [a.value for a in seen] == arrivals
    assert numbering.epoch == 0 and numbering.written_off == ()
    assert all(numbering.received(s) for s in seqs)
    assert numbering.missing == sum(b - a + 1 for a, b in gaps)


@pytest.mark.parametrize("order", list(itertools.permutations([1, 2, 3, 4, 5])))
def test_any_arrival_order_of_a_complete_run_ends_without_gaps(order):
    numbering, arrivals = feed(order)
    assert (numbering.last_seq, numbering.contiguous_to, numbering.gaps) == (5, 5, ())
    assert Arrival.RESTART not in arrivals


def test_a_gap_remembers_when_it_opened_and_keeps_that_when_split():
    numbering, _ = feed([1, 6])  # 2-5 missing since T0 + 1 s
    numbering = observe(numbering, 3, T0 + timedelta(minutes=30)).numbering
    assert numbering.gaps == (Gap(2, 2, T0 + timedelta(seconds=1)), Gap(4, 5, T0 + timedelta(seconds=1)))
    assert numbering.oldest_gap_since == T0 + timedelta(seconds=1)
    ten = timedelta(minutes=10)
    assert numbering.overdue(T0 + timedelta(minutes=5), ten) == ()
    assert numbering.overdue(T0 + timedelta(minutes=11), ten) == numbering.gaps


@pytest.mark.parametrize(
    ("before", "restart_at", "gaps_after", "written_off"),
    [
        ([1, 2, 3, 4, 5], 1, [], []),  # store wiped: the new numbering starts at 1 again
        ([1, 2, 3, 4, 5], 2, [(1, 1)], []),  # its event 1 is still on the way
        ([1, 2, 3, 7], 1, [], [(4, 6)]),  # 4-6 never arrived before the wipe: written off, not missing forever
        ([1, 2, 3, 7], 7, [(1, 6)], [(4, 6)]),  # a number received above a gap is used again as well
    ],
)
def test_a_number_used_twice_starts_a_new_numbering(before, restart_at, gaps_after, written_off):
    numbering, _ = feed(before)
    when = T0 + timedelta(hours=1)
    observed = observe(numbering, restart_at, when)
    assert observed.arrival is Arrival.RESTART
    after = observed.numbering
    assert (after.epoch, after.last_seq, after.restarted_at) == (1, restart_at, when)
    assert ranges(after) == gaps_after
    assert all(gap.quiet for gap in after.gaps)  # waited for, never alerted
    assert after.overdue(when + timedelta(days=1), timedelta(minutes=10)) == ()
    assert list(after.written_off) == written_off
    assert [(g.first, g.last) for g in observed.written_off] == written_off
    # the new numbering goes on normally, and a second restart counts up
    after, _ = feed(range(restart_at + 1, restart_at + 4), after)
    assert after.epoch == 1 and after.last_seq == restart_at + 3
    second = observe(after, restart_at + 1, when)
    assert (second.arrival, second.numbering.epoch, second.numbering.last_seq) == (Arrival.RESTART, 2, restart_at + 1)


def test_written_off_ranges_are_capped_to_the_newest():
    numbering = Numbering()
    for _ in range(60):
        numbering, _ = feed([1, 3], numbering)  # 2 missing, then the numbering restarts at 1
    assert len(numbering.written_off) == 50 and numbering.epoch == 59


def test_numbers_start_at_one():
    with pytest.raises(ValueError, match="start at 1"):
        observe(Numbering(), 0, T0)


def test_starting_from_stored_numbers_and_the_json_form():
    numbering = from_received([5, 1, 2, 2, 8], T0)
    assert (numbering.last_seq, ranges(numbering)) == (8, [(3, 4), (6, 7)])
    assert from_received([], T0) == Numbering()
    assert gaps_from_json(gaps_to_json(numbering.gaps)) == numbering.gaps


def test_quiet_gaps_below_a_restart_are_written_off_once_overdue():
    numbering, _ = feed([1, 2, 3, 4, 5, 9])  # 6-8 missing, loud
    restarted = observe(numbering, 3, T0 + timedelta(hours=1)).numbering  # e.g. an agent restored from a backup
    restarted, _ = feed([5], restarted, start=T0 + timedelta(hours=1, seconds=1))  # 4 missing in the new numbering
    assert [(g.first, g.last, g.quiet) for g in restarted.gaps] == [(1, 2, True), (4, 4, False)]
    ten = timedelta(minutes=10)
    early = T0 + timedelta(hours=1, minutes=5)
    assert write_off_quiet(restarted, early, ten) == restarted
    late = T0 + timedelta(hours=2)
    settled = write_off_quiet(restarted, late, ten)
    assert ranges(settled) == [(4, 4)] and list(settled.written_off) == [(6, 8), (1, 2)]
    assert [(g.first, g.last) for g in settled.overdue(late, ten)] == [(4, 4)]


def test_gaps_stored_before_quiet_gaps_existed_read_as_loud():
    (gap,) = gaps_from_json([[3, 4, T0.isoformat()]])
    assert gap == Gap(3, 4, T0, quiet=False)


# --- trailing gaps (reported.last_seq) and resend requests --------------------------------------------------

LATER = T0 + timedelta(minutes=1)


@pytest.mark.parametrize(
    ("received", "last_seq", "last", "gaps"),
    [
        ([1, 2, 3], 5, 5, [(4, 5)]),  # 4 and 5 were lost after 3: a trailing gap
        ([1, 2, 3], 4, 4, [(4, 4)]),
        ([1, 2, 3], 3, 3, []),  # nothing new
        ([1, 2, 3], 2, 3, []),  # below ours: nothing (restarts are recognised by events only)
        ([1, 2, 3], 0, 3, []),  # an older agent that does not say
        ([1, 5], 3, 5, [(2, 4)]),  # inside a gap already open: waited for there
        ([1, 5], 8, 8, [(2, 4), (6, 8)]),  # a trailing gap beside an inner one
        ([], 3, 3, [(1, 3)]),  # a locker whose events never arrived at all
    ],
    ids=["trailing", "one", "equal", "below", "unknown", "inside-a-gap", "beside-a-gap", "nothing-received"],
)
def test_the_newest_number_a_locker_reports_opens_a_trailing_gap(received, last_seq, last, gaps):
    numbering, _ = feed(received)
    after = observe_last(numbering, last_seq, LATER)
    assert (after.last_seq, ranges(after)) == (last, gaps)
    assert after.epoch == numbering.epoch
    if ranges(after) != ranges(numbering):
        assert after.gaps[-1].since == LATER and not after.gaps[-1].quiet


def test_a_trailing_gap_fills_like_any_other_and_the_numbering_goes_on():
    numbering, _ = feed([1, 2])
    numbering = observe_last(numbering, 5, LATER)
    numbering, arrivals = feed([4, 3, 5, 6], numbering, start=LATER)
    assert [a.value for a in arrivals] == ["fill", "fill", "fill", "next"]
    assert (numbering.last_seq, numbering.gaps, numbering.epoch) == (6, (), 0)


def test_a_reported_below_a_restart_changes_nothing():
    numbering, _ = feed([1, 2, 3, 4, 5])
    restarted = observe(numbering, 3, LATER).numbering  # restored from a backup: 1-2 waited for quietly
    assert observe_last(restarted, 2, LATER) == restarted
    assert observe_last(restarted, 4, LATER).gaps == (*restarted.gaps, Gap(4, 4, LATER))


A, E = timedelta(seconds=20), timedelta(seconds=60)  # ask after, ask again every


@pytest.mark.parametrize(
    ("gap", "now", "due"),
    [
        (Gap(4, 5, T0), T0 + timedelta(seconds=19), False),  # too fresh: it may simply be on its way
        (Gap(4, 5, T0), T0 + A, True),
        (Gap(4, 5, T0, quiet=True), T0 + timedelta(hours=1), False),  # below a restart: never asked for
        (Gap(4, 5, T0, requested_at=T0 + A), T0 + A + timedelta(seconds=59), False),  # asked a moment ago
        (Gap(4, 5, T0, requested_at=T0 + A), T0 + A + E, True),  # still open: ask again
    ],
    ids=["fresh", "due", "quiet", "asked-recently", "ask-again"],
)
def test_which_gaps_are_asked_for(gap, now, due):
    numbering = Numbering(last_seq=9, gaps=(gap,))
    assert due_for_resend(numbering, now, A, E) == ((gap,) if due else ())


def test_asking_is_noted_on_the_gap_and_kept_when_it_splits():
    numbering, _ = feed([1, 9])  # 2-8 missing since T0 + 1 s
    numbering = observe_last(numbering, 12, T0 + timedelta(seconds=15))  # and 10-12
    asked_at = T0 + timedelta(seconds=30)
    (first,) = due_for_resend(numbering, asked_at, A, E)  # 10-12 opened too recently
    assert (first.first, first.last) == (2, 8)
    numbering = mark_requested(numbering, [first], asked_at)
    assert [(g.first, g.requested_at, g.requests) for g in numbering.gaps] == [(2, asked_at, 1), (10, None, 0)]
    assert [g.first for g in due_for_resend(numbering, asked_at + timedelta(seconds=5), A, E)] == [10]
    numbering = observe(numbering, 5, asked_at).numbering  # a part arrives: the rest was asked for too
    assert [(g.first, g.last, g.requested_at) for g in numbering.gaps[:2]] == [(2, 4, asked_at), (6, 8, asked_at)]
    numbering = mark_requested(numbering, due_for_resend(numbering, asked_at + E, A, E), asked_at + E)
    assert [g.requests for g in numbering.gaps] == [2, 2, 1]
    assert gaps_from_json(gaps_to_json(numbering.gaps)) == numbering.gaps
