"""Store and forward: everything the agent sends is written here first and deleted once the broker acked it.

Rows keep insertion order (`id`); the publisher (edge.publisher) sends them in that order and deletes each on
the broker's PUBACK, so after a lost connection or a restart whatever is left goes out again, oldest first
(the cloud de-duplicates repeats by event id). An event's sequence number and its row are written in one
transaction: a crash can never leave a number that was handed out but never sent (a permanent gap upstream).

Bound and policy (docs/protocol.md, "Store and forward"), for a locker offline for days:
- events and command acknowledgements are never dropped, whatever the bound;
- `reported` is retained state, only the latest matters: a new one replaces those still waiting;
- past `max_rows` rows, telemetry is thinned oldest first down to 90 % of the bound: every other batch of the
  oldest stretch goes (`rows_to_thin`), so old hours keep half their resolution instead of vanishing; the
  caller reports each thinning as a `telemetry_thinned` event with the number of batches dropped.
An acknowledged event is not forgotten at once: its row moves to the archive (edge.archive), from where a
`resend` command (`requeue`) queues it again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from edge import archive
from edge.archive import Resent
from edge.store import EdgeStore, bump_sequence, sequence_value
from lockers.protocol.topics import Channel

DEFAULT_MAX_ROWS = 50_000
THIN_TO = 0.9  # a thinning pass sheds down to this share of the bound, so it does not run on every insert
QUEUED = (Channel.EVENTS, Channel.TELEMETRY, Channel.REPORTED, Channel.CMD_ACK)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One message waiting for the broker's acknowledgement."""

    id: int
    channel: Channel
    payload: bytes


def rows_to_thin(telemetry_ids: Sequence[int], excess: int) -> list[int]:
    """Which telemetry rows (ids, oldest first) to drop to shed `excess` rows.

    Every other row of the oldest 2 × excess; when there are too few rows for that, the oldest survivors too.
    Never more rows than there are."""
    if excess <= 0:
        return []
    span = list(telemetry_ids[: 2 * excess])
    dropped = span[1::2]
    if len(dropped) < excess:
        dropped += span[0::2][: excess - len(dropped)]
    return sorted(dropped)


class Outbox:
    """The outbox table of an EdgeStore: the worker adds and thins, the publisher reads and deletes."""

    def __init__(
        self, store: EdgeStore, max_rows: int = DEFAULT_MAX_ROWS, archive_rows: int = archive.DEFAULT_KEEP
    ) -> None:
        if max_rows < 1:
            raise ValueError("the outbox bound must be at least one row")
        if archive_rows < 0:
            raise ValueError("the archive cannot keep fewer than no events")
        self.max_rows = max_rows
        self.archive_rows = archive_rows  # acknowledged events kept for resends (0: none)
        self._store = store
        self.thinned = 0  # telemetry batches dropped by thinning since this process started
        self._archived_since_prune = 0
        with store.transaction() as db:
            (self._rows,) = db.execute("SELECT COUNT(*) FROM outbox").fetchone()  # changed under the store's lock
            archive.prune(db, archive_rows)  # the bound may have been lowered since the last run

    def __len__(self) -> int:
        return self._rows

    # --- adding (the agent's worker) ------------------------------------------------------------------

    def add(self, channel: Channel, payload: bytes) -> int:
        """Queue a message; a `reported` replaces the ones still waiting. Returns the row id."""
        if channel not in QUEUED:
            raise ValueError(f"{channel.value} messages do not go through the outbox")
        with self._store.transaction() as db:
            if channel is Channel.REPORTED:
                gone = db.execute("DELETE FROM outbox WHERE channel = ?", (channel.value,)).rowcount
                self._rows -= gone
            row_id = self._insert(db, channel, payload)
        return row_id

    def add_event(self, encode: Callable[[int], bytes]) -> int:
        """Number the next event and queue it in one transaction; `encode(seq)` gives its payload. Returns seq."""
        with self._store.transaction() as db:
            seq = bump_sequence(db, "events")
            self._insert(db, Channel.EVENTS, encode(seq), seq)
        return seq

    def _insert(self, db, channel: Channel, payload: bytes, seq: int | None = None) -> int:
        cursor = db.execute(
            "INSERT INTO outbox (channel, payload, seq) VALUES (?, ?, ?)", (channel.value, payload, seq)
        )
        self._rows += 1
        return cursor.lastrowid

    def requeue(
        self, first: int, last: int, then: Callable[[sqlite3.Connection, Resent], None] | None = None
    ) -> Resent:
        """Queue the archived events numbered `first`..`last` again, in order, unless still queued anyway;
        `then(db, resent)` runs in the same transaction (remembering the command's answer)."""
        with self._store.transaction() as db:
            top = min(last, sequence_value(db, "events"))
            queued = {seq for (seq,) in db.execute("SELECT seq FROM outbox WHERE seq BETWEEN ? AND ?", (first, top))}
            again = [(seq, payload) for seq, payload in archive.kept(db, first, top) if seq not in queued]
            for seq, payload in again:
                self._insert(db, Channel.EVENTS, payload, seq)
            numbered = max(top - first + 1, 0)
            resent = Resent(len(again), len(queued), numbered - len(again) - len(queued), last - first + 1 - numbered)
            if then is not None:
                then(db, resent)
        return resent

    # --- bound ----------------------------------------------------------------------------------------

    @property
    def over_bound(self) -> bool:
        return self._rows > self.max_rows

    def thin(self) -> int:
        """Apply the bound: drop telemetry oldest first (see `rows_to_thin`); how many batches were dropped."""
        with self._store.transaction() as db:
            excess = self._rows - int(self.max_rows * THIN_TO)
            if self._rows <= self.max_rows or excess <= 0:
                return 0
            ids = [
                row[0]
                for row in db.execute(
                    "SELECT id FROM outbox WHERE channel = ? ORDER BY id LIMIT ?", (Channel.TELEMETRY.value, 2 * excess)
                )
            ]
            doomed = rows_to_thin(ids, excess)
            db.executemany("DELETE FROM outbox WHERE id = ?", [(row_id,) for row_id in doomed])
            self._rows -= len(doomed)
        self.thinned += len(doomed)
        return len(doomed)

    # --- sending (the publisher) ----------------------------------------------------------------------

    def after(self, row_id: int, limit: int) -> list[OutboxRow]:
        """Up to `limit` rows newer than `row_id`, oldest first."""
        with self._store.reading() as db:
            rows = db.execute(
                "SELECT id, channel, payload FROM outbox WHERE id > ? ORDER BY id LIMIT ?", (row_id, limit)
            ).fetchall()
        return [OutboxRow(row_id, Channel(channel), bytes(payload)) for row_id, channel, payload in rows]

    def delete(self, ids: Collection[int]) -> int:
        """Forget acknowledged rows, archiving their events (ids already gone, e.g. a replaced `reported`, are
        ignored); how many went."""
        if not ids:
            return 0
        with self._store.transaction() as db:
            if self.archive_rows:
                self._archived_since_prune += archive.archive(db, ids, datetime.now(UTC).isoformat())
                if self._archived_since_prune >= archive.PRUNE_EVERY:
                    archive.prune(db, self.archive_rows)
                    self._archived_since_prune = 0
            gone = sum(db.execute("DELETE FROM outbox WHERE id = ?", (row_id,)).rowcount for row_id in ids)
            self._rows -= gone
        return gone

    def archived(self) -> int:
        """Acknowledged events kept for resends."""
        with self._store.reading() as db:
            return archive.count(db)

    def depth(self) -> dict[str, int]:
        """Rows waiting, by channel (every outbox channel listed, zeros included)."""
        with self._store.reading() as db:
            counts = dict(db.execute("SELECT channel, COUNT(*) FROM outbox GROUP BY channel").fetchall())
        return {channel.value: counts.get(channel.value, 0) for channel in QUEUED}
