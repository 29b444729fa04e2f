"""The cold-chain rules inside the real agent: local alarms in `reported`, in the log, and across restarts.

The agent runs at 600× on a SimClock (a 30 s sampling interval is 50 ms of real time), reading the w1 files
a (not stepping) cabinet simulator writes; the test sets the zone temperatures by hand.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest

from edge.clock import SimClock
from edge.sim import simulated_clock
from lockers.layout import Zone
from lockers.protocol.messages import EventKind, LocalAlarm, Quality, Reported, Telemetry
from lockers.protocol.topics import Channel
from sensors.rules import AlarmKind, Severity, ZoneLimits
from sensors.simulator import CabinetSimulator
from tests.edge.codes_fixture import CodeBook
from tests.edge.harness import LAYOUT, CloudSide, edge_config, running_rig
from tests.support import wait_until

CHILLED = "28-00000000b001"
FROZEN = "28-00000000c001"
SPEED = 600


@pytest.fixture
def cabinet(tmp_path):
    simulator = CabinetSimulator(base=tmp_path / "w1", sensors=LAYOUT.sensors, seed=5)
    simulator.write()
    return simulator


@pytest.fixture
def config(broker, locker, tmp_path, cabinet):
    return edge_config(broker, CodeBook(locker=locker), locker, tmp_path / "state", w1_base=cabinet.base)


def fast(config):
    """Agent options of a simulated locker at SPEED, resuming its simulated time like `edge.sim` does."""
    return {"event_clock": simulated_clock(config, SPEED), "time_scale": SPEED}


def set_temperature(cabinet: CabinetSimulator, zone: Zone, celsius: float) -> None:
    cabinet.zone(zone).temperature_c = celsius
    cabinet.write()


def readings(cloud: CloudSide, sensor: str) -> list:
    batches: list[Telemetry] = cloud.messages(Channel.TELEMETRY)  # type: ignore[assignment]
    return [r for b in batches for r in b.readings if r.sensor == sensor]


def first_reading_above(cloud: CloudSide, sensor: str, celsius: float) -> datetime:
    def find():
        return next((r.ts for r in readings(cloud, sensor) if r.celsius is not None and r.celsius > celsius), None)

    return wait_until(find, what=f"a reading of {sensor} above {celsius} °C")


def reported(cloud: CloudSide) -> list[Reported]:
    return cloud.messages(Channel.REPORTED)  # type: ignore[return-value]


def alarm_of(message: Reported, sensor: str, kind: str) -> LocalAlarm | None:
    return next((a for a in message.alarms if a.sensor == sensor and a.kind == kind), None)


def wait_alarm(cloud: CloudSide, sensor: str, kind: str, timeout: float = 10.0) -> LocalAlarm:
    message = cloud.wait_for(Channel.REPORTED, lambda m: alarm_of(m, sensor, kind) is not None, timeout)
    return alarm_of(message, sensor, kind)  # type: ignore[arg-type, return-value]


def test_an_excursion_raises_one_alarm_after_the_delay_and_it_survives_a_restart(cloud, config, cabinet, caplog):
    caplog.set_level(logging.INFO, logger="edge")
    with running_rig(config, **fast(config)) as rig:
        cloud.wait_for(Channel.REPORTED, lambda m: True)
        set_temperature(cabinet, Zone.CHILLED, 10.0)
        started = first_reading_above(cloud, CHILLED, 7.0)
        alarm = wait_alarm(cloud, CHILLED, "temperature")
        assert (alarm.zone, alarm.severity) == (Zone.CHILLED, "critical")
        delay = (alarm.since - started).total_seconds()
        assert 900 <= delay <= 960  # 15 min of event time, give or take one 30 s sampling interval
        (shown,) = rig.agent.status()["alarms"]  # what `dorpskluis sim status` shows a technician
        assert shown["kind"] == "temperature" and LocalAlarm.model_validate(shown) == alarm
        before_restart = len(reported(cloud))
    raised = [r for r in caplog.records if "cold chain: raised critical temperature alarm" in r.getMessage()]
    assert len(raised) == 1 and raised[0].levelno == logging.WARNING and CHILLED in raised[0].getMessage()

    with running_rig(config, **fast(config)):
        # The first thing the restarted agent reports already holds the alarm it had: nothing is raised again.
        restarted = wait_until(lambda: reported(cloud)[before_restart:], what="reported after the restart")[0]
        assert restarted.alarms == [alarm]
        set_temperature(cabinet, Zone.CHILLED, 4.0)
        cloud.wait_for(Channel.REPORTED, lambda m: m.alarms == [] and m.ts > alarm.since)
    assert {alarm_of(m, CHILLED, "temperature") for m in reported(cloud)} == {None, alarm}
    cleared = [r for r in caplog.records if "cold chain: cleared critical temperature alarm" in r.getMessage()]
    assert len(cleared) == 1 and cleared[0].levelno == logging.INFO


def test_a_door_open_when_the_excursion_starts_adds_the_grace_period(cloud, config, cabinet):
    with running_rig(config, **fast(config)) as rig:
        cloud.wait_for(Channel.REPORTED, lambda m: True)
        rig.door_pin("B2").drive_high()  # the chilled zone's door stands open (forced: tamper, never mind)
        cloud.wait_for(Channel.REPORTED, lambda m: m.doors["B2"] == "open")
        set_temperature(cabinet, Zone.CHILLED, 9.0)
        started = first_reading_above(cloud, CHILLED, 7.0)
        alarm = wait_alarm(cloud, CHILLED, "temperature")
        assert 1200 <= (alarm.since - started).total_seconds() <= 1260  # delay 15 min + door grace 5 min


def test_an_unplugged_sensor_raises_a_sensor_fault_alarm_not_a_temperature_alarm(cloud, config, cabinet):
    with running_rig(config, **fast(config)):
        cloud.wait_for(Channel.REPORTED, lambda m: True)
        cabinet.inject(Zone.FROZEN, "sensor-unplugged")
        cabinet.write()
        alarm = wait_alarm(cloud, FROZEN, "sensor_fault")
        assert (alarm.zone, alarm.severity) == (Zone.FROZEN, "warning")
        (event,) = cloud.wait_events(EventKind.SENSOR_FAULT)  # the fact, at the first bad reading
        assert FROZEN in event.detail and event.ts <= alarm.since
        assert all(alarm_of(m, FROZEN, "temperature") is None for m in reported(cloud))
        assert any(r.quality is Quality.DISCONNECTED for r in readings(cloud, FROZEN))

        cabinet.inject(Zone.FROZEN, "clear")
        cabinet.write()
        back = cloud.wait_for(
            Channel.REPORTED, lambda m: m.ts > alarm.since and alarm_of(m, FROZEN, "sensor_fault") is None
        )
        # Cleared only after a fault window (10 min of event time) of usable readings.
        assert (back.ts - alarm.since) >= timedelta(minutes=10)


def test_per_locker_limits_replace_the_defaults(broker, cloud, locker, tmp_path, cabinet):
    config = edge_config(broker, CodeBook(locker=locker), locker, tmp_path / "state", w1_base=cabinet.base)
    strict = ZoneLimits(Zone.CHILLED, limit_c=3.0, delay_s=60)  # tighter than the default 7 °C after 15 min
    with running_rig(config, event_clock=SimClock(SPEED), time_scale=SPEED, limits={Zone.CHILLED: strict}):
        alarm = wait_alarm(cloud, CHILLED, AlarmKind.TEMPERATURE.value)  # the fridge sits at its 4 °C setpoint
        assert alarm.severity == Severity.WARNING.value


def test_doors_shut_while_the_agent_was_down_are_forgotten_at_start(cloud, config, cabinet):
    with running_rig(config, **fast(config)) as rig:
        rig.door_pin("B4").drive_high()
        wait_until(lambda: rig.store.monitors().get(CHILLED, {}).get("doors_open") == ["B4"], what="B4 remembered")
    with running_rig(config, **fast(config)) as rig:  # every door shut before this agent starts
        wait_until(lambda: rig.store.monitors()[CHILLED]["doors_open"] == [], what="B4 forgotten")
        assert rig.store.monitors()[CHILLED]["door_closed_at"] is not None  # the grace period runs from the start


def test_the_local_alarm_kinds_are_the_rules_kinds():
    assert {f.value for f in AlarmKind} == set(LocalAlarm.model_fields["kind"].annotation.__args__)
    assert {f.value for f in Severity} == set(LocalAlarm.model_fields["severity"].annotation.__args__)
