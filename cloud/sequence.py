"""Per-locker event numbering (pure): which sequence numbers arrived, which are missing, and when a locker's
numbering started again.

A locker numbers its events 1, 2, 3, … and keeps counting across restarts. The cloud remembers the highest
number it received and the ranges below it that are still missing (gaps); everything else below the highest
number has arrived. A missing number that arrives later fills its gap.

Restart rule: the edge cannot say that its store was wiped, so the cloud infers it. An event with a NEW id
(a repeat of a known id never gets this far) whose number was already received in the current numbering
cannot belong to it: the locker's numbering started again. The cloud then opens a new numbering (`epoch`)
with that event, writes off the gaps of the old one (their events are gone with the wiped store) and reports
them, instead of reporting every old number as missing again. Numbers below the restarting event are waited
for quietly (a wiped store starts at 1, and its event 1 may simply arrive second); a quiet gap never raises
an alert and is written off once it is overdue (an agent restored from an old backup starts far above 1).

Trailing gaps: events lost after the last one received (a broker that acknowledged them to the locker and then
died) leave no hole below the highest number, so a locker's `reported` says the newest number it handed out
(`observe_last`); numbers above ours open a gap like an early event would. The cloud asks the locker to send
open gaps again (`due_for_resend`, `mark_requested`); what arrives fills them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

MAX_WRITTEN_OFF = 50  # ranges written off by restarts that are still shown (the newest)


@dataclass(frozen=True, slots=True)
class Gap:
    """Numbers `first`..`last` (inclusive) are missing; the cloud knows since `since` (its wall clock)."""

    first: int
    last: int
    since: datetime
    quiet: bool = False  # below a restart: may never come (see the module doc), so never alerted
    requested_at: datetime | None = None  # when the cloud last asked the locker to send these again
    requests: int = 0  # how often it asked

    @property
    def count(self) -> int:
        return self.last - self.first + 1


class Arrival(StrEnum):
    """Where an event's number fell."""

    NEXT = "next"  # the number after the highest so far
    AHEAD = "ahead"  # beyond the next one: the numbers in between are missing now
    FILL = "fill"  # a missing number arrived
    RESTART = "restart"  # a number already used by another event: the locker's numbering started again


@dataclass(frozen=True, slots=True)
class Numbering:
    """What arrived of one locker's current numbering."""

    epoch: int = 0  # how often the numbering started again (0: never)
    last_seq: int = 0
    gaps: tuple[Gap, ...] = ()  # sorted, disjoint, all below last_seq
    restarted_at: datetime | None = None
    written_off: tuple[tuple[int, int], ...] = ()  # gaps given up at restarts, oldest first

    @property
    def contiguous_to(self) -> int:
        """Every number from 1 to this one has arrived."""
        return self.gaps[0].first - 1 if self.gaps else self.last_seq

    @property
    def missing(self) -> int:
        return sum(gap.count for gap in self.gaps)

    @property
    def oldest_gap_since(self) -> datetime | None:
        return min((gap.since for gap in self.gaps), default=None)

    def received(self, seq: int) -> bool:
        return 1 <= seq <= self.last_seq and not any(gap.first <= seq <= gap.last for gap in self.gaps)

    def overdue(self, now: datetime, after: timedelta, *, quiet: bool = False) -> tuple[Gap, ...]:
        """Gaps open for at least `after`: those to alert about, or with `quiet` those to write off."""
        return tuple(gap for gap in self.gaps if gap.quiet == quiet and now - gap.since >= after)


@dataclass(frozen=True, slots=True)
class Observed:
    """The numbering after one event, where the event fell, and what a restart wrote off."""

    numbering: Numbering
    arrival: Arrival
    written_off: tuple[Gap, ...] = ()


def observe(numbering: Numbering, seq: int, now: datetime) -> Observed:
    """Take in the number of an event with an id not seen before."""
    if seq < 1:
        raise ValueError(f"event numbers start at 1, not {seq}")
    if seq > numbering.last_seq:
        if seq == numbering.last_seq + 1:
            return Observed(replace(numbering, last_seq=seq), Arrival.NEXT)
        opened = Gap(numbering.last_seq + 1, seq - 1, now)
        return Observed(replace(numbering, last_seq=seq, gaps=(*numbering.gaps, opened)), Arrival.AHEAD)
    for index, gap in enumerate(numbering.gaps):
        if gap.first <= seq <= gap.last:
            rest = tuple(
                part for part in (replace(gap, last=seq - 1), replace(gap, first=seq + 1)) if part.first <= part.last
            )
            gaps = numbering.gaps[:index] + rest + numbering.gaps[index + 1 :]
            return Observed(replace(numbering, gaps=gaps), Arrival.FILL)
    return _restart(numbering, seq, now)


def _restart(numbering: Numbering, seq: int, now: datetime) -> Observed:
    lost = numbering.gaps
    written_off = (*numbering.written_off, *((gap.first, gap.last) for gap in lost))[-MAX_WRITTEN_OFF:]
    fresh = Numbering(
        epoch=numbering.epoch + 1,
        last_seq=seq,
        gaps=(Gap(1, seq - 1, now, quiet=True),) if seq > 1 else (),
        restarted_at=now,
        written_off=written_off,
    )
    return Observed(fresh, Arrival.RESTART, lost)


def observe_last(numbering: Numbering, last_seq: int, now: datetime) -> Numbering:
    """Take in the newest number a locker says it handed out: numbers above ours are missing (a trailing gap).

    A number at or below ours changes nothing: restarts are recognised by events alone, and a number that is
    missing already (a gap, quiet or not) is waited for there."""
    if last_seq <= numbering.last_seq:
        return numbering
    opened = Gap(numbering.last_seq + 1, last_seq, now)
    return replace(numbering, last_seq=last_seq, gaps=(*numbering.gaps, opened))


def due_for_resend(numbering: Numbering, now: datetime, after: timedelta, every: timedelta) -> tuple[Gap, ...]:
    """Gaps to ask the locker for: open at least `after`, not quiet, and not asked for within `every`."""
    return tuple(
        gap
        for gap in numbering.gaps
        if not gap.quiet and now - gap.since >= after and (gap.requested_at is None or now - gap.requested_at >= every)
    )


def mark_requested(numbering: Numbering, gaps: Iterable[Gap], now: datetime) -> Numbering:
    """Note that the locker was asked for these gaps now (gaps no longer open are ignored)."""
    asked = {(gap.first, gap.last) for gap in gaps}
    return replace(
        numbering,
        gaps=tuple(
            replace(gap, requested_at=now, requests=gap.requests + 1) if (gap.first, gap.last) in asked else gap
            for gap in numbering.gaps
        ),
    )


def write_off_quiet(numbering: Numbering, now: datetime, after: timedelta) -> Numbering:
    """Give up the quiet gaps open for at least `after`."""
    expired = numbering.overdue(now, after, quiet=True)
    if not expired:
        return numbering
    gaps = tuple(gap for gap in numbering.gaps if gap not in expired)
    written_off = (*numbering.written_off, *((gap.first, gap.last) for gap in expired))[-MAX_WRITTEN_OFF:]
    return replace(numbering, gaps=gaps, written_off=written_off)


def from_received(seqs: Iterable[int], now: datetime) -> Numbering:
    """The numbering implied by numbers already stored (events ingested before numbering was tracked)."""
    received = sorted(set(seqs))
    if not received:
        return Numbering()
    gaps: list[Gap] = []
    expected = 1
    for seq in received:
        if seq > expected:
            gaps.append(Gap(expected, seq - 1, now))
        expected = seq + 1
    return Numbering(last_seq=received[-1], gaps=tuple(gaps))


def gaps_to_json(gaps: Iterable[Gap]) -> list[list]:
    return [
        [
            gap.first,
            gap.last,
            gap.since.isoformat(),
            gap.quiet,
            gap.requested_at.isoformat() if gap.requested_at else None,
            gap.requests,
        ]
        for gap in gaps
    ]


def gaps_from_json(rows: Iterable[list]) -> tuple[Gap, ...]:
    """Gaps stored as JSON lists; older rows lack the later fields."""
    return tuple(
        Gap(
            int(row[0]),
            int(row[1]),
            datetime.fromisoformat(row[2]),
            bool(row[3]) if len(row) > 3 else False,
            datetime.fromisoformat(row[4]) if len(row) > 4 and row[4] else None,
            int(row[5]) if len(row) > 5 else 0,
        )
        for row in rows
    )
