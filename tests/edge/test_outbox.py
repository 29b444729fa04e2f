"""The outbox on a real SQLite store: order, atomic event numbering, coalesced `reported`, and the bound's
thinning policy (pure, and applied to the table)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

from edge.outbox import Outbox, rows_to_thin
from edge.store import EdgeStore
from edge.uplink import Uplink
from lockers.layout import Zone
from lockers.mqtt import BrokerAddress, MqttSession
from lockers.protocol import codec
from lockers.protocol.messages import EventKind, Reading, Telemetry
from lockers.protocol.topics import Channel


@pytest.fixture
def store(tmp_path):
    s = EdgeStore.open(tmp_path / "state")
    yield s
    s.close()


@pytest.mark.parametrize(
    "ids, excess, dropped",
    [
        (range(1, 11), 0, []),
        (range(1, 11), 3, [2, 4, 6]),  # every other of the oldest six
        (range(1, 11), 5, [2, 4, 6, 8, 10]),
        (range(1, 11), 7, [1, 2, 3, 4, 6, 8, 10]),  # too few to halve: the oldest survivors go as well
        (range(1, 11), 10, list(range(1, 11))),
        (range(1, 11), 25, list(range(1, 11))),  # never more than there are
        ([], 4, []),
        ([5, 9, 40, 41, 77], 2, [9, 41]),
    ],
    ids=["nothing", "three", "half", "seven", "all", "more-than-all", "no-telemetry", "sparse-ids"],
)
def test_rows_to_thin(ids, excess, dropped):
    assert rows_to_thin(list(ids), excess) == dropped


def test_rows_come_back_in_insertion_order_and_go_on_delete(store):
    outbox = Outbox(store)
    ids = [outbox.add(Channel.TELEMETRY, f"t{n}".encode()) for n in range(3)]
    ack = outbox.add(Channel.CMD_ACK, b"ack")
    rows = outbox.after(0, 10)
    assert [(r.id, r.channel, r.payload) for r in rows] == [
        (ids[0], Channel.TELEMETRY, b"t0"),
        (ids[1], Channel.TELEMETRY, b"t1"),
        (ids[2], Channel.TELEMETRY, b"t2"),
        (ack, Channel.CMD_ACK, b"ack"),
    ]
    assert [r.id for r in outbox.after(ids[1], 10)] == [ids[2], ack]
    assert [r.id for r in outbox.after(0, 2)] == ids[:2]
    assert outbox.delete([ids[0], ack, 999]) == 2  # an id already gone is no error
    assert [r.id for r in outbox.after(0, 10)] == ids[1:3]
    assert len(outbox) == 2
    assert outbox.depth() == {"events": 0, "telemetry": 2, "reported": 0, "cmd/ack": 0}


def test_events_are_numbered_in_the_same_transaction_as_their_row(store):
    outbox = Outbox(store)
    seqs = [outbox.add_event(lambda seq: f"event {seq}".encode()) for _ in range(3)]
    assert seqs == [1, 2, 3]
    assert [r.payload for r in outbox.after(0, 10)] == [b"event 1", b"event 2", b"event 3"]

    def broken(seq: int) -> bytes:
        raise ValueError("cannot encode")

    with pytest.raises(ValueError):
        outbox.add_event(broken)
    # Rolled back: no row, and the number was not used up (no gap the cloud would wait for).
    assert outbox.add_event(lambda seq: f"event {seq}".encode()) == 4
    assert len(outbox) == 4
    assert store.next_seq() == 5  # the store's own numbering is the same sequence


def test_a_new_reported_replaces_the_ones_still_waiting(store):
    outbox = Outbox(store)
    outbox.add(Channel.REPORTED, b"r1")
    outbox.add(Channel.EVENTS, b"e1")
    outbox.add(Channel.REPORTED, b"r2")
    outbox.add(Channel.REPORTED, b"r3")
    assert [r.payload for r in outbox.after(0, 10)] == [b"e1", b"r3"]
    assert len(outbox) == 2


def test_only_edge_channels_are_queued(store):
    with pytest.raises(ValueError, match="state"):
        Outbox(store).add(Channel.STATE, b"online")


def test_rows_and_order_survive_reopening_and_ids_never_repeat(tmp_path):
    first = EdgeStore.open(tmp_path)
    outbox = Outbox(first)
    kept = [outbox.add(Channel.TELEMETRY, f"t{n}".encode()) for n in range(3)]
    outbox.delete(kept)  # the table runs empty
    last = outbox.add(Channel.TELEMETRY, b"after")
    assert last > max(kept)  # a publisher's cursor past the old ids still sees it
    first.close()
    again = Outbox(EdgeStore.open(tmp_path))
    assert len(again) == 1
    assert [r.payload for r in again.after(0, 10)] == [b"after"]


def test_thinning_drops_old_telemetry_only_and_counts_it(store):
    outbox = Outbox(store, max_rows=20)
    for n in range(15):
        outbox.add(Channel.TELEMETRY, f"t{n}".encode())
        outbox.add_event(lambda seq: f"e{seq}".encode())
    assert len(outbox) == 30 and outbox.over_bound
    dropped = outbox.thin()
    assert dropped == 12  # down to 90 % of the bound: 30 - 18
    assert outbox.thinned == 12 and len(outbox) == 18 and not outbox.over_bound
    payloads = [r.payload.decode() for r in outbox.after(0, 100)]
    assert [p for p in payloads if p.startswith("e")] == [f"e{seq}" for seq in range(1, 16)]  # every event kept
    # Every other batch first (t1, t3 … t13); too few for that, so then the oldest survivors (t0 … t8).
    assert [p for p in payloads if p.startswith("t")] == ["t10", "t12", "t14"]
    assert outbox.thin() == 0  # within the bound again


def test_thinning_halves_the_oldest_stretch_first(store):
    outbox = Outbox(store, max_rows=100)
    for n in range(110):
        outbox.add(Channel.TELEMETRY, f"{n}".encode())
    assert outbox.thin() == 20
    left = [int(r.payload) for r in outbox.after(0, 200)]
    assert left[:20] == list(range(0, 40, 2))  # the oldest 40 batches at half resolution
    assert left[20:] == list(range(40, 110))


def test_events_alone_may_exceed_the_bound(store):
    outbox = Outbox(store, max_rows=10)
    for _ in range(15):
        outbox.add_event(lambda seq: b"e")
    assert outbox.over_bound and outbox.thin() == 0 and len(outbox) == 15


def test_the_table_is_in_the_store_file(store):
    Outbox(store).add(Channel.EVENTS, b"kept on disk")
    with sqlite3.connect(store.path) as db:
        assert db.execute("SELECT channel, payload FROM outbox").fetchall() == [("events", b"kept on disk")]


def test_thinning_is_reported_at_once_then_at_most_every_interval(store):
    never_started = MqttSession(BrokerAddress("127.0.0.1", 1), "t-thin")  # nothing leaves: all stays queued
    seconds = [0.0]
    uplink = Uplink(
        "t-thin",
        store,
        never_started,
        lambda: datetime(2026, 1, 1, tzinfo=UTC),
        max_rows=10,
        thin_report_s=300,
        monotonic=lambda: seconds[0],
    )
    batch = Telemetry(
        readings=[Reading(sensor="28-00000000b001", zone=Zone.CHILLED, ts=datetime(2026, 1, 1, tzinfo=UTC), celsius=4)]
    )

    def thinned_reports() -> list[int]:
        events = [
            codec.decode(Channel.EVENTS, row.payload)
            for row in uplink.outbox.after(0, 1000)
            if row.channel is Channel.EVENTS
        ]
        return [e.count for e in events if e.kind is EventKind.TELEMETRY_THINNED]

    for _ in range(12):
        uplink.emit(EventKind.CODE_REJECTED)  # events alone beyond the bound
    uplink.send(Channel.TELEMETRY, batch)
    assert thinned_reports() == [1]  # the first thinning is reported at once
    for _ in range(4):
        uplink.send(Channel.TELEMETRY, batch)
    assert thinned_reports() == [1] and uplink.outbox.thinned == 5  # the next ones add up quietly
    seconds[0] = 299.9
    uplink.send(Channel.TELEMETRY, batch)
    assert thinned_reports() == [1]
    seconds[0] = 300.0
    uplink.send(Channel.TELEMETRY, batch)
    assert thinned_reports() == [1, 6]  # five since the first report, and this one
    uplink.send(Channel.TELEMETRY, batch)
    uplink.stop(drain_s=0)  # the rest is reported on the way out
    assert thinned_reports() == [1, 6, 1]
    assert uplink.outbox.depth()["telemetry"] == 0 and uplink.outbox.depth()["events"] == 15
