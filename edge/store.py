"""The agent's local memory in SQLite (WAL): desired state, used codes, event numbering, loaded parts, alarms,
answered remote commands, the outbox of everything not yet acknowledged by the broker (edge.outbox), and the
events it did acknowledge, kept for a while in case the cloud asks for them again (edge.archive).

Everything here must survive a power cut: a code used before a reboot stays used, sequence numbers never
repeat, and a compartment a vendor loaded while offline is not opened for that vendor again. The schema
grows by appending to MIGRATIONS; `PRAGMA user_version` counts what ran.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from lockers.errors import DorpskluisError
from lockers.protocol.messages import CommandAck, DesiredState

STORE_FILE = "edge.sqlite"

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE desired (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL, body TEXT NOT NULL);
    CREATE TABLE consumed_code (code_id TEXT PRIMARY KEY, consumed_at TEXT NOT NULL);
    CREATE TABLE sequence (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    CREATE TABLE loaded_part (
        compartment TEXT NOT NULL, order_id TEXT NOT NULL, vendor TEXT NOT NULL, loaded_at TEXT NOT NULL,
        PRIMARY KEY (compartment, order_id, vendor)
    );
    """,
    # A used PIN is remembered by its hash, so typing it after its order left the desired state says
    # "already used" instead of counting as a wrong guess.
    "ALTER TABLE consumed_code ADD COLUMN pin_hash TEXT;",
    # The cold-chain rules' memory per sensor (sensors.rules.SensorMonitor as JSON), so an excursion or an
    # alarm is not forgotten by a restart; observed_at is the event time of the newest observation.
    "CREATE TABLE sensor_monitor (sensor TEXT PRIMARY KEY, observed_at TEXT NOT NULL, body TEXT NOT NULL);",
    # Store and forward: every message for the broker, in order, until the broker acknowledged it. AUTOINCREMENT
    # so ids never repeat, even after the table ran empty (the publisher's cursor relies on that). And the
    # answer given to each remote command, so a redelivered command is acknowledged again, never executed twice.
    """
    CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL, payload BLOB NOT NULL);
    CREATE INDEX outbox_by_channel ON outbox (channel, id);
    CREATE TABLE remote_command (id TEXT PRIMARY KEY, ack TEXT NOT NULL, answered_at TEXT NOT NULL);
    """,
    # Resend by sequence number: an event row knows its number, and an event the broker acknowledged is kept
    # (bounded, edge.archive) so the cloud can ask for it again after a broker lost it. Rows queued by an
    # older agent get their number from their payload.
    """
    ALTER TABLE outbox ADD COLUMN seq INTEGER;
    UPDATE outbox SET seq = json_extract(CAST(payload AS TEXT), '$.seq') WHERE channel = 'events';
    CREATE INDEX outbox_by_seq ON outbox (seq) WHERE seq IS NOT NULL;
    CREATE TABLE sent_events (seq INTEGER PRIMARY KEY, payload BLOB NOT NULL, sent_at TEXT NOT NULL);
    """,
)

COMMAND_MEMORY = timedelta(days=30)  # far beyond any command's expiry


class StoreError(DorpskluisError):
    """The local state database cannot be opened or written."""


@dataclass(frozen=True, slots=True, order=True)
class LoadedPart:
    """A vendor's part of an order put into a compartment here, not yet confirmed by the cloud."""

    compartment: str
    order: str
    vendor: str


class EdgeStore:
    """Small typed API over one SQLite file; safe to call from several threads (one lock, short calls)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # a used code must stay used after a power cut
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the edge state database {path}: {exc}") from exc
        self._lock = threading.Lock()

    @classmethod
    def open(cls, state_dir: Path) -> EdgeStore:
        return cls(state_dir / STORE_FILE)

    def close(self) -> None:
        self._db.close()

    def _migrate(self) -> None:
        (done,) = self._db.execute("PRAGMA user_version").fetchone()
        for number, script in enumerate(MIGRATIONS[done:], start=done + 1):
            self._db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")

    # --- desired state --------------------------------------------------------------------------------

    def desired(self) -> DesiredState | None:
        """The last applied desired state, or None before the first one."""
        with self._lock:
            row = self._db.execute("SELECT body FROM desired WHERE id = 1").fetchone()
        return DesiredState.model_validate_json(row[0]) if row else None

    def desired_version(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT version FROM desired WHERE id = 1").fetchone()
        return row[0] if row else 0

    def save_desired(self, desired: DesiredState) -> None:
        """Replace the applied desired state and forget loaded parts the cloud no longer lists as pending."""
        pending = {LoadedPart(c, grant.order, grant.vendor) for grant in desired.dropoffs for c in grant.compartments}
        with self._lock, self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO desired (id, version, body) VALUES (1, ?, ?)",
                (desired.version, desired.model_dump_json()),
            )
            for part in self._loaded_parts():
                if part not in pending:
                    self._db.execute(
                        "DELETE FROM loaded_part WHERE compartment = ? AND order_id = ? AND vendor = ?",
                        (part.compartment, part.order, part.vendor),
                    )

    # --- used codes -----------------------------------------------------------------------------------

    def consume_code(self, code_id: str, at: datetime, pin_hash: str | None = None) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO consumed_code (code_id, consumed_at, pin_hash) VALUES (?, ?, ?)",
                (code_id, at.isoformat(), pin_hash),
            )

    def consumed_codes(self) -> frozenset[str]:
        with self._lock:
            return frozenset(row[0] for row in self._db.execute("SELECT code_id FROM consumed_code"))

    def used_pin_hashes(self) -> frozenset[str]:
        with self._lock:
            rows = self._db.execute("SELECT pin_hash FROM consumed_code WHERE pin_hash IS NOT NULL")
            return frozenset(row[0] for row in rows)

    # --- event numbering ------------------------------------------------------------------------------

    def next_seq(self, name: str = "events") -> int:
        """The next number of a sequence (1, 2, …), persisted before it is handed out."""
        with self.transaction() as db:
            return bump_sequence(db, name)

    def last_seq(self, name: str = "events") -> int:
        """The newest number a sequence handed out (0 before the first)."""
        with self._lock:
            return sequence_value(self._db, name)

    # --- locally loaded parts -------------------------------------------------------------------------

    def mark_loaded(self, part: LoadedPart, at: datetime) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO loaded_part (compartment, order_id, vendor, loaded_at) VALUES (?, ?, ?, ?)",
                (part.compartment, part.order, part.vendor, at.isoformat()),
            )

    def loaded_parts(self) -> frozenset[LoadedPart]:
        with self._lock:
            return frozenset(self._loaded_parts())

    def _loaded_parts(self) -> list[LoadedPart]:
        rows = self._db.execute("SELECT compartment, order_id, vendor FROM loaded_part")
        return [LoadedPart(*row) for row in rows]

    # --- cold-chain rules ------------------------------------------------------------------------------

    def save_monitors(self, monitors: Mapping[str, dict], observed_at: datetime) -> None:
        """Persist the rules' state of these sensors (JSON-ready dicts) as of event time `observed_at`."""
        if not monitors:
            return
        rows = [(sensor, observed_at.isoformat(), json.dumps(body)) for sensor, body in monitors.items()]
        with self._lock, self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO sensor_monitor (sensor, observed_at, body) VALUES (?, ?, ?)", rows
            )

    def monitors(self) -> dict[str, dict]:
        """The rules' saved state by sensor id."""
        with self._lock:
            rows = self._db.execute("SELECT sensor, body FROM sensor_monitor").fetchall()
        return {sensor: json.loads(body) for sensor, body in rows}

    def last_observed(self) -> datetime | None:
        """Event time of the newest observation the rules have seen (a simulated clock resumes from there)."""
        with self._lock:
            rows = self._db.execute("SELECT observed_at FROM sensor_monitor").fetchall()
        return max((datetime.fromisoformat(row[0]) for row in rows), default=None)

    # --- remote commands ------------------------------------------------------------------------------

    def command_answer(self, command_id: str) -> CommandAck | None:
        """The acknowledgement already given to a command, if any."""
        with self._lock:
            row = self._db.execute("SELECT ack FROM remote_command WHERE id = ?", (command_id,)).fetchone()
        return CommandAck.model_validate_json(row[0]) if row else None

    def save_command_answer(self, ack: CommandAck, at: datetime) -> None:
        """Remember the answer to a command; answers older than COMMAND_MEMORY are forgotten."""
        with self.transaction() as db:
            remember_answer(db, ack, at)

    # --- for modules that keep their own tables here (edge.outbox) ------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection inside BEGIN IMMEDIATE … COMMIT (rolled back on error), holding the store's lock."""
        with self._lock, self._transaction():
            yield self._db

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection for queries, holding the store's lock."""
        with self._lock:
            yield self._db

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


def bump_sequence(db: sqlite3.Connection, name: str) -> int:
    """Advance a named sequence inside the caller's transaction and return its new value (1 the first time)."""
    db.execute(
        "INSERT INTO sequence (name, value) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET value = value + 1", (name,)
    )
    (value,) = db.execute("SELECT value FROM sequence WHERE name = ?", (name,)).fetchone()
    return value


def sequence_value(db: sqlite3.Connection, name: str) -> int:
    """The newest value of a named sequence (0 before the first)."""
    row = db.execute("SELECT value FROM sequence WHERE name = ?", (name,)).fetchone()
    return row[0] if row else 0


def remember_answer(db: sqlite3.Connection, ack: CommandAck, at: datetime) -> None:
    """Store the answer to a command inside the caller's transaction, forgetting those past COMMAND_MEMORY."""
    db.execute("DELETE FROM remote_command WHERE answered_at < ?", ((at - COMMAND_MEMORY).isoformat(),))
    db.execute(
        "INSERT OR REPLACE INTO remote_command (id, ack, answered_at) VALUES (?, ?, ?)",
        (ack.id, ack.model_dump_json(), at.isoformat()),
    )


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, rolled back on error (the connection runs in autocommit mode)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, _exc, _tb) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
