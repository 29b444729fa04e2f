"""The agent's two clocks: event time (a fast simulator's SimClock) stamps its data; wall time judges people."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from gpiozero.pins.mock import MockFactory

from edge.agent import Agent
from edge.clock import SimClock
from edge.link import mqtt_transport
from edge.store import EdgeStore
from lockers.hardware import LockerHardware
from lockers.protocol.messages import EventKind, RejectReason, Reported, Telemetry
from lockers.protocol.topics import Channel
from sensors.simulator import CabinetSimulator
from tests.edge.codes_fixture import NOW, CodeBook, desired, grant
from tests.edge.harness import LAYOUT, CloudSide, MovingClock, edge_config, running_rig
from tests.support import wait_until

K = EventKind
KEY = CodeBook().key
LATER = NOW + timedelta(hours=10)


class Wind:
    """A monotonic source running with real time, plus jumps the test makes: simulated hours in an instant."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    def forward(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def book(locker):
    return CodeBook(locker=locker, key=KEY)


@pytest.fixture
def cabinet(tmp_path):
    simulator = CabinetSimulator(base=tmp_path / "w1", sensors=LAYOUT.sensors, seed=11)
    simulator.write()
    return simulator


@pytest.fixture
def config(broker, book, locker, tmp_path, cabinet):
    return edge_config(broker, book, locker, tmp_path / "state", w1_base=cabinet.base)


def batches(cloud: CloudSide) -> list[Telemetry]:
    return cloud.messages(Channel.TELEMETRY)  # type: ignore[return-value]


def test_at_speed_600_data_carries_simulated_time_while_codes_are_checked_on_the_wall_clock(cloud, config, book):
    cloud.publish_desired(desired(1, pickups=[grant("ord-1", "aa000001", "482913", ["B2"])], unlock_pulse_s=0.1))
    wind = Wind()
    wall = MovingClock(NOW)
    with running_rig(config, wall, event_clock=SimClock(600, start=NOW, monotonic=wind), time_scale=600) as rig:
        cloud.wait_for(Channel.REPORTED, lambda m: m.desired_version == 1)
        first = wait_until(lambda: batches(cloud), what="a first batch")[0]
        assert NOW <= first.readings[0].ts < NOW + timedelta(hours=1)

        wind.forward(60)  # ten simulated hours pass
        # Valid for the next 30 minutes of wall time: expired in simulated time, and still accepted.
        token = book.pickup("ord-1", ["B2"], code_id="aa000001", start=NOW - timedelta(minutes=30), hours=1)
        result = rig.agent.scan(token)
        assert (result.ok, result.opened) == (True, ["B2"]), result.message
        (unlocked,) = cloud.wait_events(K.UNLOCKED)
        assert LATER <= unlocked.ts < LATER + timedelta(hours=1)
        assert wall() < NOW + timedelta(minutes=5)

        rig.open_and_close("B2")
        (collected,) = cloud.wait_events(K.COLLECTED)
        assert collected.ts >= LATER
        assert rig.store.consumed_codes() == {"aa000001"}
        # The open door is reported too (also in simulated time); wait for the report of it closed.
        reported = cloud.wait_for(Channel.REPORTED, lambda m: m.ts >= LATER and m.doors.get("B2") == "closed")
        assert isinstance(reported, Reported)
        later = wait_until(lambda: [b for b in batches(cloud) if b.readings[0].ts >= LATER], what="later batches")
        assert all(r.ts == later[0].readings[0].ts for r in later[0].readings)  # one round, one timestamp


def test_the_keypad_lockout_runs_on_the_wall_clock(cloud, config):
    cloud.publish_desired(desired(1, pickups=[grant("ord-1", "aa000001", "482913", ["B2"])], pin_max_attempts=2))
    wind = Wind()
    with running_rig(
        config, MovingClock(NOW), event_clock=SimClock(600, start=NOW, monotonic=wind), time_scale=600
    ) as rig:
        cloud.wait_for(Channel.REPORTED, lambda m: m.desired_version == 1)
        assert [rig.agent.scan("111111").reason for _ in range(2)] == [RejectReason.WRONG_PIN] * 2
        wind.forward(3600)  # weeks of simulated time; the 5-minute lockout is wall time
        assert rig.agent.status()["keypad_locked"] is True
        assert rig.agent.scan("482913").reason is RejectReason.KEYPAD_LOCKED


def test_door_release_windows_run_on_the_wall_clock(cloud, config):
    cloud.publish_desired(desired(1, pickups=[grant("ord-1", "aa000001", "482913", ["C1"])], unlock_pulse_s=0.1))
    wind = Wind()
    with running_rig(
        config, MovingClock(NOW), event_clock=SimClock(600, start=NOW, monotonic=wind), time_scale=600
    ) as rig:
        cloud.wait_for(Channel.REPORTED, lambda m: m.desired_version == 1)
        assert rig.agent.scan("482913").ok
        cloud.wait_events(K.UNLOCKED)
        wind.forward(600)  # the 30 s release window would have lapsed a hundred times over in event time
        rig.open_and_close("C1")
        (collected,) = cloud.wait_events(K.COLLECTED)
        assert collected.compartment == "C1"
        assert cloud.events(K.TAMPER) == []


def test_sensors_are_sampled_every_telemetry_interval_of_simulated_time(cloud, config):
    with running_rig(config, MovingClock(NOW), event_clock=SimClock(100), time_scale=100) as rig:
        assert rig.agent.sampling_period_s == pytest.approx(0.3)  # 30 s by default, a hundred times faster
        found = wait_until(lambda: len(batches(cloud)) >= 6 and batches(cloud), timeout=5, what="six batches")
        stamps = [b.readings[0].ts for b in found[:6]]
        gaps = [(b - a).total_seconds() for a, b in zip(stamps, stamps[1:], strict=False)]
        assert gaps == pytest.approx([30.0] * 5, abs=6.0)

        cloud.publish_desired(desired(1, telemetry_interval_s=120))
        wait_until(lambda: rig.agent.sampling_period_s == pytest.approx(1.2), what="the desired interval, scaled")


def test_one_clock_and_time_scale_1_by_default(config):
    store = EdgeStore.open(config.state_dir)
    try:
        with LockerHardware.from_layout(LAYOUT, MockFactory()) as hardware:
            agent = Agent(config, hardware, mqtt_transport(config), store)  # built, never started
            assert (agent.time_scale, agent.sampling_period_s) == (1.0, 30.0)
            with pytest.raises(ValueError, match="time_scale must be positive"):
                Agent(config, hardware, mqtt_transport(config), store, time_scale=0)
    finally:
        store.close()
