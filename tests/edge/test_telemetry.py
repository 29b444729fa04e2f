"""Telemetry from the real DS18B20 driver reading files the cabinet simulator writes in the kernel's format."""

from __future__ import annotations

import pytest

from lockers.layout import Zone
from lockers.protocol.messages import EventKind, Quality, Telemetry
from lockers.protocol.topics import Channel
from sensors.simulator import CabinetSimulator
from tests.edge.codes_fixture import CodeBook, desired
from tests.edge.harness import LAYOUT, CloudSide, edge_config, running_rig
from tests.support import wait_until

BOOK = CodeBook()
EXPECTED_ZONES = {"28-00000000a001": Zone.AMBIENT, "28-00000000b001": Zone.CHILLED, "28-00000000c001": Zone.FROZEN}


@pytest.fixture
def cabinet(tmp_path):
    simulator = CabinetSimulator(base=tmp_path / "w1", sensors=LAYOUT.sensors, seed=7)
    simulator.write()
    return simulator


def batches(cloud: CloudSide) -> list[Telemetry]:
    return cloud.messages(Channel.TELEMETRY)  # type: ignore[return-value]


def test_batches_carry_ok_readings_of_every_sensor(broker, cloud, locker, tmp_path, cabinet):
    config = edge_config(broker, BOOK, locker, tmp_path / "state", w1_base=cabinet.base, telemetry_interval_s=0.3)
    with running_rig(config) as rig:
        found = wait_until(lambda: len(batches(cloud)) >= 3 and batches(cloud), what="three telemetry batches")
        assert rig.agent.stats["telemetry_batches"] >= 3
    for batch in found:
        assert {r.sensor: r.zone for r in batch.readings} == EXPECTED_ZONES
        assert all(r.quality is Quality.OK for r in batch.readings)
        by_zone = {r.zone: r.celsius for r in batch.readings}
        assert by_zone[Zone.CHILLED] == pytest.approx(4.0, abs=1.0)
        assert by_zone[Zone.FROZEN] == pytest.approx(-20.0, abs=1.5)
        assert by_zone[Zone.AMBIENT] == pytest.approx(20.0, abs=1.0)
    assert len({b.readings[0].ts for b in found}) == len(found)  # each batch is a fresh sample


def test_a_sensor_fault_shows_in_readings_and_raises_one_event(broker, cloud, locker, tmp_path, cabinet):
    config = edge_config(broker, BOOK, locker, tmp_path / "state", w1_base=cabinet.base, telemetry_interval_s=0.2)
    with running_rig(config):
        wait_until(lambda: batches(cloud), what="a first batch")
        cabinet.inject(Zone.CHILLED, "sensor-unplugged")
        cabinet.write()
        seen_before = len(batches(cloud))

        def disconnected():
            return [
                b for b in batches(cloud)[seen_before:] if any(r.quality is Quality.DISCONNECTED for r in b.readings)
            ]

        faulty = wait_until(lambda: len(disconnected()) >= 3 and disconnected(), what="three batches with the fault")
        chilled = next(r for r in faulty[0].readings if r.sensor == "28-00000000b001")
        assert chilled.celsius is None
        assert all(r.quality is Quality.OK for r in faulty[0].readings if r.sensor != "28-00000000b001")
        (event,) = cloud.events(EventKind.SENSOR_FAULT)  # once per fault, not once per batch
        assert "28-00000000b001" in event.detail and "disconnected" in event.detail

        cabinet.inject(Zone.CHILLED, "clear")
        cabinet.write()
        wait_until(lambda: all(r.quality is Quality.OK for r in batches(cloud)[-1].readings), what="sensor back")
        cabinet.inject(Zone.CHILLED, "sensor-unplugged")
        cabinet.write()
        cloud.wait_events(EventKind.SENSOR_FAULT, 2)


def test_interval_follows_the_desired_state_without_an_override(broker, cloud, locker, tmp_path, cabinet):
    config = edge_config(broker, BOOK, locker, tmp_path / "state", w1_base=cabinet.base)
    with running_rig(config):
        wait_until(lambda: len(batches(cloud)) == 1, what="the sample taken at start")
        cloud.publish_desired(desired(1, telemetry_interval_s=0.2))  # down from the default 30 s
        wait_until(lambda: len(batches(cloud)) >= 4, timeout=5, what="batches at the new interval")


def test_no_sensors_no_telemetry(broker, cloud, locker, tmp_path):
    config = edge_config(broker, BOOK, locker, tmp_path / "state", telemetry_interval_s=0.1)
    config = config.model_copy(update={"layout": LAYOUT.model_copy(update={"sensors": ()})})
    with running_rig(config) as rig:
        cloud.wait_for(Channel.STATE, lambda m: m.state == "online")
        rig.agent.scan("nothing")  # a round trip through the worker: anything queued before is handled
        cloud.wait_events(EventKind.CODE_REJECTED)
    assert batches(cloud) == []
