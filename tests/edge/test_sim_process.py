"""`python -m edge.sim` as a real process against the real broker, driven through its control socket."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.control import request, socket_path
from lockers.protocol.messages import EventKind, Quality
from lockers.protocol.topics import Channel
from tests.edge.codes_fixture import CodeBook, desired, dropoff, grant
from tests.edge.simproc import SimProcess, answering, write_edge_toml
from tests.support import wait_until

K = EventKind


@pytest.fixture
def book(locker):
    return CodeBook(locker=locker)


@pytest.fixture
def edge_toml(tmp_path, broker, locker, book) -> Path:
    return write_edge_toml(tmp_path / "site", broker, locker, book, telemetry_interval_s=0.5)


def now() -> datetime:
    return datetime.now(UTC)


def test_simulated_locker_end_to_end(cloud, locker, book, edge_toml, run_dir, tmp_path):
    cloud.publish_desired(
        desired(
            1,
            issued_at=now(),
            pickups=[grant("ord-1", "aa000001", "482913", ["B2", "C1"], expires_at=now() + timedelta(days=1))],
            dropoffs=[dropoff("ord-2", "bakkerij-x", ["A1"], until=now() + timedelta(days=1))],
            unlock_pulse_s=0.2,
        )
    )
    sim = SimProcess(edge_toml, tmp_path / "sim.log")
    try:
        wait_until(lambda: answering(locker), timeout=20, what="the control socket")
        cloud.wait_for(Channel.STATE, lambda m: m.state == "online", timeout=20)
        cloud.wait_for(Channel.REPORTED, lambda m: m.desired_version == 1)

        qr = book.pickup("ord-1", ["B2", "C1"], code_id="aa000001", start=now() - timedelta(hours=1))
        answer = request(locker, {"cmd": "scan", "code": qr})
        assert (answer["ok"], answer["opened"]) == (True, ["B2", "C1"]), answer
        # The spring pushes both doors open on its own once the locks are pulsed.
        opened = cloud.wait_events(K.DOOR_OPENED, 2)
        assert {e.compartment for e in opened} == {"B2", "C1"}
        for compartment in ("B2", "C1"):
            assert request(locker, {"cmd": "door", "compartment": compartment, "action": "close"})["ok"]
        collected = cloud.wait_events(K.COLLECTED, 2)
        assert {(e.compartment, e.order, e.method) for e in collected} == {("B2", "ord-1", "qr"), ("C1", "ord-1", "qr")}

        vendor = request(
            locker,
            {"cmd": "scan", "code": book.vendor("bakkerij-x", code_id="cc000001", start=now() - timedelta(days=1))},
        )
        assert vendor["opened"] == ["A1"]
        cloud.wait_for(Channel.EVENTS, lambda e: e.kind is K.DOOR_OPENED and e.compartment == "A1")
        request(locker, {"cmd": "door", "compartment": "A1", "action": "close"})
        (loaded,) = cloud.wait_events(K.LOADED)
        assert (loaded.compartment, loaded.order, loaded.vendor) == ("A1", "ord-2", "bakkerij-x")

        forced = request(locker, {"cmd": "door", "compartment": "A4", "action": "open"})
        assert forced == {"ok": True, "message": "door A4 forced open while locked"}
        assert cloud.wait_events(K.TAMPER)[0].compartment == "A4"
        assert request(locker, {"cmd": "door", "compartment": "A4", "action": "open"})["message"] == (
            "door A4 is already open"
        )
        assert request(locker, {"cmd": "door", "compartment": "Q1", "action": "open"})["ok"] is False

        refused = request(locker, {"cmd": "scan", "code": "000000"})
        assert (refused["ok"], refused["reason"]) == (False, "wrong_pin")

        batch = cloud.wait_for(Channel.TELEMETRY, lambda m: len(m.readings) == 3)
        assert all(r.quality is Quality.OK for r in batch.readings)

        sim.process.send_signal(signal.SIGTERM)
        assert sim.wait() == 0, sim.output()
    finally:
        sim.ensure_stopped()
    cloud.wait_for(Channel.STATE, lambda m: m.state == "offline")
    assert not socket_path(locker).exists()
    seqs = sorted(e.seq for e in cloud.events())
    assert seqs == list(range(1, len(seqs) + 1))


def test_a_killed_locker_goes_offline_by_last_will_and_restarts_over_its_stale_socket(
    cloud, locker, edge_toml, run_dir, tmp_path
):
    first = SimProcess(edge_toml, tmp_path / "first.log")
    try:
        wait_until(lambda: answering(locker), timeout=20, what="the control socket")
        cloud.wait_for(Channel.STATE, lambda m: m.state == "online", timeout=20)
        assert not request(locker, {"cmd": "scan", "code": "junk"})["ok"]
        cloud.wait_events(K.CODE_REJECTED)
        first.process.kill()  # no clean shutdown: the broker must announce it
        first.wait()
    finally:
        first.ensure_stopped()
    cloud.wait_for(Channel.STATE, lambda m: m.state == "offline", timeout=20)
    assert socket_path(locker).exists()  # left behind by the crash

    second = SimProcess(edge_toml, tmp_path / "second.log")
    try:
        status = wait_until(lambda: answering(locker), timeout=20, what="the restarted control socket")
        assert status["locker"] == locker
        wait_until(lambda: cloud.messages(Channel.STATE)[-1].state == "online", timeout=20, what="online again")
        request(locker, {"cmd": "scan", "code": "more junk"})
        cloud.wait_for(Channel.EVENTS, lambda e: e.kind is K.CODE_REJECTED and e.seq == 2)
        # Killed before it settled the broker's PUBACK, the first run may send event 1 again (same id).
        rejected = {e.id: e.seq for e in cloud.events(K.CODE_REJECTED)}
        assert sorted(rejected.values()) == [1, 2]  # numbering carried over the crash
        second.process.send_signal(signal.SIGINT)
        assert second.wait() == 0, second.output()
    finally:
        second.ensure_stopped()
