"""The agent's SQLite state: survives reopening, numbers events without gaps, prunes loaded parts."""

from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta

import pytest

from edge.store import MIGRATIONS, EdgeStore, LoadedPart, StoreError
from tests.edge.codes_fixture import NOW, desired, dropoff, grant


@pytest.fixture
def store(tmp_path):
    s = EdgeStore.open(tmp_path / "state")
    yield s
    s.close()


def test_fresh_store_is_empty(store):
    assert store.desired() is None
    assert store.desired_version() == 0
    assert store.consumed_codes() == frozenset()
    assert store.loaded_parts() == frozenset()


def test_state_survives_reopening(tmp_path):
    first = EdgeStore.open(tmp_path)
    state = desired(7, pickups=[grant("o1", "aa000001", "482913", ["B2"])], dropoffs=[dropoff("o2", "v", ["A1"])])
    first.save_desired(state)
    first.consume_code("aa000001", NOW, pin_hash="ab" * 16)
    first.consume_code("aa000002", NOW)
    first.mark_loaded(LoadedPart("A1", "o2", "v"), NOW)
    assert [first.next_seq() for _ in range(3)] == [1, 2, 3]
    first.close()
    again = EdgeStore.open(tmp_path)
    assert again.desired() == state
    assert again.desired_version() == 7
    assert again.consumed_codes() == {"aa000001", "aa000002"}
    assert again.used_pin_hashes() == {"ab" * 16}
    assert again.loaded_parts() == {LoadedPart("A1", "o2", "v")}
    assert again.next_seq() == 4
    again.close()


def test_the_database_runs_in_wal_mode_with_every_migration(tmp_path):
    EdgeStore.open(tmp_path).close()
    with sqlite3.connect(tmp_path / "edge.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_sequences_are_independent_and_thread_safe(store):
    numbers: list[int] = []
    lock = threading.Lock()

    def draw():
        for _ in range(50):
            n = store.next_seq()
            with lock:
                numbers.append(n)

    threads = [threading.Thread(target=draw) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(numbers) == list(range(1, 201))
    assert store.next_seq("other") == 1


def test_consuming_twice_keeps_one_entry(store):
    store.consume_code("aa000001", NOW)
    store.consume_code("aa000001", NOW + timedelta(minutes=1))
    assert store.consumed_codes() == {"aa000001"}


@pytest.mark.parametrize(
    "still_pending, kept",
    [
        ([dropoff("o1", "v1", ["A1"]), dropoff("o2", "v2", ["B2"])], {"A1", "B2"}),
        ([dropoff("o1", "v1", ["A1"])], {"A1"}),
        ([], set()),
        ([dropoff("o1", "v1", ["A2"])], set()),  # moved to another compartment: the old load is moot
    ],
    ids=["both-pending", "one-acknowledged", "all-acknowledged", "reassigned"],
)
def test_a_newer_desired_state_prunes_acknowledged_loads(store, still_pending, kept):
    store.mark_loaded(LoadedPart("A1", "o1", "v1"), NOW)
    store.mark_loaded(LoadedPart("B2", "o2", "v2"), NOW)
    store.save_desired(desired(2, dropoffs=still_pending))
    assert {p.compartment for p in store.loaded_parts()} == kept


def test_unopenable_database_is_a_store_error(tmp_path):
    (tmp_path / "edge.sqlite").mkdir()
    with pytest.raises(StoreError, match="edge.sqlite"):
        EdgeStore.open(tmp_path)


def test_the_rules_state_survives_reopening_and_tells_where_event_time_got_to(tmp_path):
    first = EdgeStore.open(tmp_path)
    assert (first.monitors(), first.last_observed()) == ({}, None)
    first.save_monitors({"28-00000000b001": {"last_ts": "x", "doors_open": ["B2"]}}, NOW)
    first.save_monitors({"28-00000000c001": {"doors_open": []}}, NOW + timedelta(hours=30))
    first.save_monitors({"28-00000000b001": {"doors_open": []}}, NOW + timedelta(hours=2))  # replaces
    first.save_monitors({}, NOW + timedelta(days=9))  # nothing changed: nothing written
    first.close()
    again = EdgeStore.open(tmp_path)
    assert again.monitors() == {"28-00000000b001": {"doors_open": []}, "28-00000000c001": {"doors_open": []}}
    assert again.last_observed() == NOW + timedelta(hours=30)
    again.close()


def test_an_older_store_gains_the_rules_table(tmp_path):
    path = tmp_path / "edge.sqlite"
    with sqlite3.connect(path) as db:  # a store written by the walking-skeleton agent
        for script in MIGRATIONS[:2]:
            db.executescript(script)
        db.execute("PRAGMA user_version = 2")
        db.execute("INSERT INTO consumed_code (code_id, consumed_at) VALUES ('aa000001', ?)", (NOW.isoformat(),))
    store = EdgeStore(path)
    assert store.consumed_codes() == {"aa000001"}
    store.save_monitors({"28-00000000b001": {}}, NOW)
    assert store.monitors() == {"28-00000000b001": {}}
    store.close()
