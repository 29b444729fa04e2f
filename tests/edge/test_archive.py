"""The archive of acknowledged events on a real SQLite store: kept when the outbox row goes, bounded, queued
again by number for a resend (same bytes, in order, nothing twice), and added to older stores."""

from __future__ import annotations

import sqlite3

import pytest

from edge import archive
from edge.archive import Resent
from edge.outbox import Outbox
from edge.store import MIGRATIONS, EdgeStore, remember_answer
from lockers.protocol.messages import CommandAck
from lockers.protocol.topics import Channel
from tests.edge.codes_fixture import NOW


@pytest.fixture
def store(tmp_path):
    s = EdgeStore.open(tmp_path / "state")
    yield s
    s.close()


def events(outbox: Outbox, count: int) -> list[int]:
    """Queue `count` events; their row ids."""
    seqs = [outbox.add_event(lambda seq: f"event {seq}".encode()) for _ in range(count)]
    by_payload = {row.payload: row.id for row in outbox.after(0, 100_000)}
    return [by_payload[f"event {seq}".encode()] for seq in seqs]


def archived(store: EdgeStore) -> list[tuple[int, bytes]]:
    with store.reading() as db:
        return archive.kept(db, 1, 10**9)


def queued(outbox: Outbox) -> list[tuple[Channel, bytes]]:
    return [(row.channel, row.payload) for row in outbox.after(0, 100_000)]


def test_an_acknowledged_event_is_kept_when_its_row_goes(store):
    outbox = Outbox(store)
    rows = events(outbox, 3)
    telemetry = outbox.add(Channel.TELEMETRY, b"t")
    ack = outbox.add(Channel.CMD_ACK, b"a")
    assert outbox.delete([rows[0], rows[2], telemetry, ack]) == 4
    assert archived(store) == [(1, b"event 1"), (3, b"event 3")]  # events only, by number
    assert queued(outbox) == [(Channel.EVENTS, b"event 2")]
    assert outbox.archived() == 2


def test_the_archive_keeps_the_newest_and_is_pruned_every_so_often(store, monkeypatch):
    monkeypatch.setattr(archive, "PRUNE_EVERY", 4)
    outbox = Outbox(store, archive_rows=5)
    for row in events(outbox, 7):
        outbox.delete([row])
    # pruned after the 4th (nothing to prune yet), so between prunes it may exceed its bound a little
    assert [seq for seq, _ in archived(store)] == [1, 2, 3, 4, 5, 6, 7]
    outbox.delete(events(outbox, 1))  # the 8th since the last prune
    assert [seq for seq, _ in archived(store)] == [4, 5, 6, 7, 8]


def test_a_lowered_bound_applies_at_the_next_start(tmp_path):
    first = EdgeStore.open(tmp_path)
    outbox = Outbox(first)
    outbox.delete(events(outbox, 10))
    first.close()
    again = EdgeStore.open(tmp_path)
    assert Outbox(again, archive_rows=3).archived() == 3
    assert [seq for seq, _ in archived(again)] == [8, 9, 10]
    again.close()


def test_no_archive_when_it_keeps_nothing(store):
    outbox = Outbox(store, archive_rows=0)
    outbox.delete(events(outbox, 3))
    assert archived(store) == []


@pytest.mark.parametrize(
    ("first", "last", "expected", "requeued"),
    [
        (2, 4, Resent(resent=3), [2, 3, 4]),
        (1, 6, Resent(resent=4, queued=2), [1, 2, 3, 4]),  # 5 and 6 were never acknowledged: they go anyway
        (6, 6, Resent(queued=1), []),
        (3, 9, Resent(resent=2, queued=2, unnumbered=3), [3, 4]),  # 7-9 were never handed out
        (20, 25, Resent(unnumbered=6), []),
    ],
    ids=["kept", "some-still-queued", "only-queued", "beyond-the-newest", "all-beyond"],
)
def test_a_resend_queues_kept_events_again_in_order(store, first, last, expected, requeued):
    outbox = Outbox(store)
    rows = events(outbox, 6)
    outbox.delete(rows[:4])  # 1-4 acknowledged, 5-6 still waiting
    assert outbox.requeue(first, last) == expected
    again = [payload for channel, payload in queued(outbox)][2:]
    assert again == [f"event {seq}".encode() for seq in requeued]  # the same bytes: the same event ids
    assert len(outbox) == 2 + len(requeued)


def test_events_no_longer_kept_are_counted(store, monkeypatch):
    monkeypatch.setattr(archive, "PRUNE_EVERY", 1)
    outbox = Outbox(store, archive_rows=3)
    outbox.delete(events(outbox, 8))
    assert outbox.requeue(1, 8) == Resent(resent=3, gone=5)
    assert [payload for _, payload in queued(outbox)] == [b"event 6", b"event 7", b"event 8"]


def test_requeued_events_are_not_queued_twice_and_are_kept_again_once_acknowledged(store):
    outbox = Outbox(store)
    outbox.delete(events(outbox, 3))
    assert outbox.requeue(1, 3) == Resent(resent=3)
    assert outbox.requeue(1, 3) == Resent(queued=3)  # still waiting from the first request
    outbox.delete([row.id for row in outbox.after(0, 10)])
    assert archived(store) == [(1, b"event 1"), (2, b"event 2"), (3, b"event 3")]
    assert outbox.add_event(lambda seq: f"event {seq}".encode()) == 4  # numbering untouched


def test_the_answer_is_saved_in_the_same_transaction(store):
    outbox = Outbox(store)
    outbox.delete(events(outbox, 2))
    ack = CommandAck(id="ab" * 16, ok=True, detail="resent 2 events; 0 no longer kept")
    outbox.requeue(1, 2, lambda db, resent: remember_answer(db, ack, NOW))
    assert store.command_answer(ack.id) == ack

    def broken(db, resent):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        outbox.requeue(1, 2, broken)
    assert [payload for _, payload in queued(outbox)] == [b"event 1", b"event 2"]  # only the first request's


def test_an_older_store_gains_the_archive_and_numbers_its_queued_events(tmp_path):
    path = tmp_path / "edge.sqlite"
    with sqlite3.connect(path) as db:  # a store written by the agent before resends
        for script in MIGRATIONS[:4]:
            db.executescript(script)
        db.execute("PRAGMA user_version = 4")
        db.execute("INSERT INTO sequence (name, value) VALUES ('events', 2)")
        db.executemany(
            "INSERT INTO outbox (channel, payload) VALUES (?, ?)",
            [("events", b'{"v":1,"id":"' + b"a" * 32 + b'","seq":2}'), ("telemetry", b'{"seq":9}')],
        )
    store = EdgeStore(path)
    outbox = Outbox(store)
    outbox.delete([row.id for row in outbox.after(0, 10)])
    assert [seq for seq, _ in archived(store)] == [2]  # the event kept its number; telemetry has none
    assert store.last_seq() == 2
    store.close()
