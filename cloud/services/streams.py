"""Each locker's event numbering in the database: taken in by every event inside its ingest transaction (the
locked row serialises a locker's events, also across cloud nodes) and by every `reported` that says the locker
numbered more, shown in the locker view, and searched by the watchdog for gaps to ask the locker for again and
gaps that stay open too long."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud import sequence
from cloud.db import dialect_insert
from cloud.models import EdgeEvent
from cloud.models_edge import EventStream
from cloud.schemas_edge import EventGapsOut, EventStreamOut, GapOut
from cloud.sequence import Arrival, Numbering, Observed

log = logging.getLogger(__name__)


def numbering_of(row: EventStream | None) -> Numbering:
    if row is None:
        return Numbering()
    return Numbering(
        epoch=row.epoch,
        last_seq=row.last_seq,
        gaps=sequence.gaps_from_json(row.gaps or []),
        restarted_at=row.restarted_at,
        written_off=tuple((int(a), int(b)) for a, b in row.written_off or []),
    )


def track(session: Session, locker_id: str, event_id: str, seq: int, now: datetime) -> Observed:
    """Take in the number of a newly stored event (not a repeat); returns where it fell."""
    row = _locked_row(session, locker_id, event_id, now)
    observed = sequence.observe(numbering_of(row), seq, now)
    numbering = observed.numbering
    _store(row, numbering, now)
    if observed.arrival is Arrival.RESTART:
        lost = ", ".join(f"{gap.first}-{gap.last}" for gap in observed.written_off) or "none"
        log.warning(
            "locker %s started numbering its events again at %d (event %s): new numbering %d; "
            "still missing from the old one, written off: %s",
            locker_id,
            seq,
            event_id,
            numbering.epoch,
            lost,
        )
    elif observed.arrival is Arrival.AHEAD:
        log.info("locker %s event %d arrived before %d-%d", locker_id, seq, numbering.gaps[-1].first, seq - 1)
    return observed


def track_reported(session: Session, locker_id: str, last_seq: int, now: datetime) -> Numbering | None:
    """Take in the newest number a `reported` says the locker handed out; the numbering if that opened a gap.

    The usual case (nothing new) only reads; the row is locked only to open a trailing gap."""
    if last_seq < 1:
        return None  # an agent that does not say, or has numbered nothing yet
    row = session.get(EventStream, locker_id)
    if row is not None and row.last_seq >= last_seq:
        return None
    row = _locked_row(session, locker_id, None, now)
    numbering = numbering_of(row)
    opened = sequence.observe_last(numbering, last_seq, now)
    if opened == numbering:
        return None
    _store(row, opened, now)
    log.info(
        "locker %s has numbered its events up to %d; %d-%d not received yet",
        locker_id,
        last_seq,
        numbering.last_seq + 1,
        last_seq,
    )
    return opened


def _store(row: EventStream, numbering: Numbering, now: datetime) -> None:
    row.epoch = numbering.epoch
    row.last_seq = numbering.last_seq
    row.gaps = sequence.gaps_to_json(numbering.gaps)
    row.oldest_gap_since = numbering.oldest_gap_since
    row.restarted_at = numbering.restarted_at
    row.written_off = [list(pair) for pair in numbering.written_off]
    row.updated_at = now


def _locked_row(session: Session, locker_id: str, event_id: str | None, now: datetime) -> EventStream:
    row = session.get(EventStream, locker_id, with_for_update=True, populate_existing=True)
    if row is not None:
        return row
    # First event since numbering is tracked: start from what is stored already (older deployments).
    query = select(EdgeEvent.seq).where(EdgeEvent.locker_id == locker_id)
    if event_id is not None:
        query = query.where(EdgeEvent.event_id != event_id)
    stored = session.scalars(query)
    start = sequence.from_received(stored, now)
    table = EventStream.__table__
    values = {
        "locker_id": locker_id,
        "epoch": 0,
        "last_seq": start.last_seq,
        "gaps": sequence.gaps_to_json(start.gaps),
        "oldest_gap_since": start.oldest_gap_since,
        "written_off": [],
        "updated_at": now,
    }
    # Two nodes may see a locker's first events at once: one row wins, the other waits for it.
    session.execute(dialect_insert(session, table).values(values).on_conflict_do_nothing())
    return session.get(EventStream, locker_id, with_for_update=True, populate_existing=True)


def stream_out(numbering: Numbering) -> EventStreamOut:
    return EventStreamOut(
        last_seq=numbering.last_seq,
        contiguous_to=numbering.contiguous_to,
        gaps=[(gap.first, gap.last) for gap in numbering.gaps],
        missing=numbering.missing,
        numbering=numbering.epoch,
        restarted_at=numbering.restarted_at,
        written_off=list(numbering.written_off),
    )


def stream_view(session: Session, locker_id: str) -> EventStreamOut:
    return stream_out(numbering_of(session.get(EventStream, locker_id)))


def gaps_view(session: Session, locker_id: str, now: datetime, alert_after: timedelta) -> EventGapsOut:
    numbering = numbering_of(session.get(EventStream, locker_id))
    return EventGapsOut(
        locker=locker_id,
        **stream_out(numbering).model_dump(exclude={"gaps"}),
        gaps=[
            GapOut(
                from_=gap.first,
                to=gap.last,
                count=gap.count,
                since=gap.since,
                overdue=now - gap.since >= alert_after,
                quiet=gap.quiet,
                resend_requested_at=gap.requested_at,
                resend_requests=gap.requests,
            )
            for gap in numbering.gaps
        ],
        alert_after_s=alert_after.total_seconds(),
    )


def overdue(
    session: Session, now: datetime, after: timedelta, *, quiet: bool = False
) -> dict[str, tuple[sequence.Gap, ...]]:
    """Lockers with gaps open for at least `after`, and those gaps (with `quiet`: the quiet ones)."""
    rows = session.scalars(select(EventStream).where(EventStream.oldest_gap_since <= now - after))
    found = {row.locker_id: numbering_of(row).overdue(now, after, quiet=quiet) for row in rows}
    return {locker_id: gaps for locker_id, gaps in found.items() if gaps}


def due_for_resend(
    session: Session, now: datetime, after: timedelta, every: timedelta
) -> dict[str, tuple[sequence.Gap, ...]]:
    """Lockers with gaps to ask for again (see cloud.sequence.due_for_resend), and those gaps."""
    rows = session.scalars(select(EventStream).where(EventStream.oldest_gap_since <= now - after))
    found = {row.locker_id: sequence.due_for_resend(numbering_of(row), now, after, every) for row in rows}
    return {locker_id: gaps for locker_id, gaps in found.items() if gaps}


def mark_requested(
    session: Session, locker_id: str, now: datetime, after: timedelta, every: timedelta, limit: int
) -> tuple[sequence.Gap, ...]:
    """Lock the locker's numbering, note that its (oldest `limit`) due gaps are asked for now, and return them
    as they were."""
    row = session.get(EventStream, locker_id, with_for_update=True, populate_existing=True)
    numbering = numbering_of(row)
    due = sequence.due_for_resend(numbering, now, after, every)[:limit]
    if due:
        _store(row, sequence.mark_requested(numbering, due, now), now)
    return due


def write_off_quiet(session: Session, locker_id: str, now: datetime, after: timedelta) -> None:
    """Give up the overdue quiet gaps of a locker (numbers below a restart that never came)."""
    row = session.get(EventStream, locker_id, with_for_update=True)
    numbering = numbering_of(row)
    settled = sequence.write_off_quiet(numbering, now, after)
    if settled != numbering:
        _store(row, settled, now)
        log.info("locker %s: numbers below its restart never came; written off", locker_id)


def describe(gaps: tuple[sequence.Gap, ...], now: datetime, limit: int = 5) -> str:
    """`events 12-14 (3) missing for 11 min, 20 (1) for 10 min`, at most `limit` ranges."""
    parts = [
        f"{gap.first}-{gap.last} ({gap.count}) for {(now - gap.since).total_seconds() / 60:.0f} min"
        for gap in gaps[:limit]
    ]
    more = f" and {len(gaps) - limit} more range(s)" if len(gaps) > limit else ""
    return f"events {', '.join(parts)}{more} missing"
