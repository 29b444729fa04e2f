"""Events the broker acknowledged, kept (bounded) so the cloud can ask for them again by sequence number.

A PUBACK only says the broker has a message: a broker killed before it saved or delivered it loses it, and the
outbox row is gone by then. So the outbox moves each acknowledged event here (table `sent_events`) in the same
transaction that deletes its row, and a `resend` command queues the ones asked for again: the same bytes, so
the same event id (the cloud de-duplicates). Only the newest `keep` events stay, pruned every PRUNE_EVERY.
These helpers run inside the caller's transaction (edge.outbox).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from dataclasses import dataclass

DEFAULT_KEEP = 20_000
PRUNE_EVERY = 500  # archived events between two prunes: pruning scans `keep` index entries


@dataclass(frozen=True, slots=True)
class Resent:
    """What a resend of a range found: queued again, still waiting anyway, gone, or never numbered here."""

    resent: int = 0
    queued: int = 0  # still in the outbox (never acknowledged): they go out without asking
    gone: int = 0  # acknowledged and no longer kept
    unnumbered: int = 0  # above the newest number this locker handed out


def archive(db: sqlite3.Connection, row_ids: Collection[int], at: str) -> int:
    """Keep the events among these outbox rows, before the caller deletes them; how many were events."""
    sql = (
        "INSERT OR REPLACE INTO sent_events (seq, payload, sent_at) "
        "SELECT seq, payload, ? FROM outbox WHERE id = ? AND channel = 'events' AND seq IS NOT NULL"
    )
    return sum(db.execute(sql, (at, row_id)).rowcount for row_id in row_ids)


def prune(db: sqlite3.Connection, keep: int) -> int:
    """Forget all but the newest `keep` events (by number); how many went."""
    row = db.execute("SELECT seq FROM sent_events ORDER BY seq DESC LIMIT 1 OFFSET ?", (keep,)).fetchone()
    if row is None:
        return 0
    return db.execute("DELETE FROM sent_events WHERE seq <= ?", row).rowcount


def kept(db: sqlite3.Connection, first: int, last: int) -> list[tuple[int, bytes]]:
    """The archived events numbered `first`..`last`, in order: (seq, payload)."""
    rows = db.execute("SELECT seq, payload FROM sent_events WHERE seq BETWEEN ? AND ? ORDER BY seq", (first, last))
    return [(seq, bytes(payload)) for seq, payload in rows]


def count(db: sqlite3.Connection) -> int:
    (rows,) = db.execute("SELECT COUNT(*) FROM sent_events").fetchone()
    return rows
