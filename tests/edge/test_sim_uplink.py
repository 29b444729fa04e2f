"""`dorpskluis sim uplink LOCKER down|up` on a real `python -m edge.sim` process: the locker works on offline
(PIN pickup, vendor drop-off), its events wait in the outbox and arrive in order, numbered without gaps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from edge.control import request
from lockers.protocol.messages import EventKind
from lockers.protocol.topics import Channel
from tests.edge.codes_fixture import CodeBook, desired, dropoff, grant
from tests.edge.simproc import SimProcess, answering, cli, write_edge_toml
from tests.support import wait_until

K = EventKind


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def book(locker):
    return CodeBook(locker=locker)


def status(locker: str) -> dict:
    return request(locker, {"cmd": "status"})


def door_is(locker: str, compartment: str, position: str) -> bool:
    return status(locker)["doors"][compartment] == position


def test_a_cut_off_locker_works_on_and_reports_everything_in_order_afterwards(
    cloud, broker, locker, book, run_dir, tmp_path
):
    toml = write_edge_toml(tmp_path / "site", broker, locker, book, telemetry_interval_s=0.5)
    day = timedelta(days=1)
    cloud.publish_desired(
        desired(
            1,
            issued_at=now(),
            pickups=[grant("ord-1", "aa000001", "482913", ["B2"], expires_at=now() + day)],
            dropoffs=[dropoff("ord-2", "bakkerij-x", ["A1"], until=now() + day)],
            unlock_pulse_s=0.2,
        )
    )
    sim = SimProcess(toml, tmp_path / "sim.log")
    try:
        wait_until(lambda: answering(locker), timeout=20, what="the control socket")
        cloud.wait_for(Channel.REPORTED, lambda m: m.desired_version == 1, timeout=20)
        assert not request(locker, {"cmd": "scan", "code": "not a code"})["ok"]  # one event while online
        cloud.wait_events(K.CODE_REJECTED)

        down = cli("sim", "uplink", locker, "down")
        assert down.returncode == 0, down.stderr
        assert "cut" in down.stdout
        cloud.wait_for(Channel.STATE, lambda m: m.state == "offline")  # the broker published the Last Will
        wait_until(lambda: not status(locker)["connected"], what="the locker noticing its own cut")
        assert status(locker)["uplink"] == "down"
        online_events = len(cloud.events())

        # Offline: a resident collects with the PIN, a vendor loads with its code; the doors spring open.
        assert request(locker, {"cmd": "scan", "code": "482913"})["opened"] == ["B2"]
        wait_until(lambda: door_is(locker, "B2", "open"), what="B2 open")
        assert request(locker, {"cmd": "door", "compartment": "B2", "action": "close"})["ok"]
        vendor = book.vendor("bakkerij-x", code_id="cc000001", start=now() - day)
        assert request(locker, {"cmd": "scan", "code": vendor})["opened"] == ["A1"]
        wait_until(lambda: door_is(locker, "A1", "open"), what="A1 open")
        assert request(locker, {"cmd": "door", "compartment": "A1", "action": "close"})["ok"]
        assert request(locker, {"cmd": "scan", "code": "482913"})["reason"] == "already_used"  # used, offline too
        queued = wait_until(
            lambda: status(locker)["outbox"]["depth"]["events"] >= 9 and status(locker)["outbox"]["depth"],
            what="nine events queued",
        )
        assert queued["telemetry"] >= 1
        assert len(cloud.events()) == online_events  # nothing got out

        up = cli("sim", "uplink", locker, "up")
        assert up.returncode == 0, up.stderr
        cloud.wait_for(Channel.STATE, lambda m: m.state == "online")
        (collected,) = cloud.wait_events(K.COLLECTED)
        (loaded,) = cloud.wait_events(K.LOADED)
        assert (collected.compartment, collected.order, collected.method) == ("B2", "ord-1", "pin")
        assert (loaded.compartment, loaded.order, loaded.vendor) == ("A1", "ord-2", "bakkerij-x")
        wait_until(lambda: status(locker)["outbox"]["depth"]["events"] == 0, what="the outbox emptied")
        arrived = [e.seq for e in cloud.events()]
        assert arrived == list(range(1, len(arrived) + 1))  # in order, consecutive, no repeats
        assert [e.kind for e in cloud.events()][online_events:][:4] == [
            K.UNLOCKED,
            K.DOOR_OPENED,
            K.DOOR_CLOSED,
            K.COLLECTED,
        ]
        assert status(locker)["uplink"] == "up"
        again = cli("sim", "uplink", locker, "up")
        assert again.returncode == 0 and "already up" in again.stdout
    finally:
        sim.ensure_stopped()


def test_sim_uplink_usage_errors(run_dir):
    missing = cli("sim", "uplink", "ghost", "down")
    assert missing.returncode == 2 and "no locker 'ghost' is running here" in missing.stderr
    wrong = cli("sim", "uplink", "ghost", "sideways")
    assert wrong.returncode == 2 and "sideways" in wrong.stderr
