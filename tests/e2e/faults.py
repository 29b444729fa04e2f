"""Tools of the fault-injection tests: a burst of keypad events from a thread, and the books that must balance
afterwards (what the locker numbered against what the cloud's database holds)."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass

import sqlalchemy as sa

from edge.control import request
from edge.store import STORE_FILE
from lockers.errors import ControlError
from tests.support import wait_until


class Burst:
    """Junk codes typed at the locker as fast as it answers, from a thread, until `finish`.

    Every refusal the locker answers is a `code_rejected` event it has numbered and committed to its outbox
    (the answer comes after the commit), so `refused` is a lower bound on the events that must reach the cloud.
    While the locker is down the requests fail; they are counted and the burst goes on."""

    def __init__(self, locker: str) -> None:
        self.locker = locker
        self.refused = 0
        self.unanswered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"burst-{locker}", daemon=True)

    def __enter__(self) -> Burst:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.finish()

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            try:
                answer = request(self.locker, {"cmd": "scan", "code": f"JUNK-{n}"}, timeout=10)
            except ControlError:
                self.unanswered += 1
                self._stop.wait(0.05)
                continue
            if not answer["ok"] and answer.get("reason") == "malformed":
                self.refused += 1

    def reach(self, count: int, timeout: float = 60) -> int:
        """Wait until the locker has refused `count` codes of this burst; returns the refusals so far."""
        wait_until(lambda: self.refused >= count, timeout, f"{count} refusals of the burst (now {self.refused})")
        return self.refused

    def more(self, count: int, timeout: float = 60) -> int:
        """Wait for `count` more refusals."""
        return self.reach(self.refused + count, timeout)

    def finish(self) -> int:
        """Stop the burst; returns the refusals."""
        self._stop.set()
        self._thread.join(30)
        return self.refused


def edge_last_seq(stack) -> int:
    """The newest event number the locker handed out, read from its own SQLite store."""
    path = stack.edge_toml.parent / "state" / STORE_FILE
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
        row = db.execute("SELECT value FROM sequence WHERE name = 'events'").fetchone()
    return row[0] if row else 0


@dataclass(frozen=True)
class Ledger:
    """What the cloud's database holds of one locker's events."""

    rows: int
    distinct_ids: int
    distinct_seqs: int
    lowest: int | None
    highest: int | None
    rejected: int


def ledger(database_url: str, locker: str) -> Ledger:
    """Count the locker's events in the cloud's database directly: the API could hide a duplicate."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as db:
            row = db.execute(
                sa.text(
                    "SELECT COUNT(*), COUNT(DISTINCT event_id), COUNT(DISTINCT seq), MIN(seq), MAX(seq), "
                    "SUM(CASE WHEN kind = 'code_rejected' THEN 1 ELSE 0 END) "
                    "FROM edge_events WHERE locker_id = :locker"
                ),
                {"locker": locker},
            ).one()
    finally:
        engine.dispose()
    return Ledger(*row[:5], rejected=row[5] or 0)


def gaps(stack) -> dict:
    response = stack.admin.http.get(f"/api/v1/lockers/{stack.locker}/events/gaps")
    assert response.status_code == 200, response.text
    return response.json()


def assert_every_event_arrived_once(stack, database_url: str, *, refused_at_least: int, timeout: float = 120) -> int:
    """0 events lost and 0 duplicates: the cloud holds every number 1..last of the locker once, in one numbering.

    Waits for the locker to send what it still holds; returns the locker's last event number."""

    def settled() -> bool:
        last = edge_last_seq(stack)
        view = gaps(stack)
        return last > 0 and view["contiguous_to"] == view["last_seq"] == last

    wait_until(settled, timeout, "every event of the locker in the cloud")
    last = edge_last_seq(stack)
    view = gaps(stack)
    assert (view["missing"], view["numbering"], view["written_off"]) == (0, 0, []), view
    books = ledger(database_url, stack.locker)
    counts = (books.rows, books.distinct_ids, books.distinct_seqs, books.lowest, books.highest)
    assert counts == (last, last, last, 1, last), (books, last)
    assert books.rejected >= refused_at_least, "every refusal the locker answered is in the database"
    return last
