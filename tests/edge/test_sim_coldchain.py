"""Cold-chain faults in a real `python -m edge.sim --speed 600`, injected by the real `dorpskluis sim fault`.

The test plays the cloud on the real broker: it sees readings stamped in simulated time climb past the limit
and the locker's own rules report local alarms in `reported`.
"""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.control import request
from lockers.layout import Zone
from lockers.protocol.messages import EventKind, LocalAlarm, Quality, Reading, Reported, Telemetry
from lockers.protocol.topics import Channel
from tests.edge.codes_fixture import CodeBook
from tests.edge.harness import CloudSide
from tests.edge.simproc import SimProcess, answering, cli, write_edge_toml
from tests.support import wait_until

SPEED = 600
CHILLED = "28-00000000b001"
FROZEN = "28-00000000c001"


@pytest.fixture
def edge_toml(tmp_path, broker, locker) -> Path:
    return write_edge_toml(tmp_path / "site", broker, locker, CodeBook(locker=locker))  # sampling every 30 s


def readings(cloud: CloudSide, sensor: str) -> list[Reading]:
    batches: list[Telemetry] = cloud.messages(Channel.TELEMETRY)  # type: ignore[assignment]
    return [r for b in batches for r in b.readings if r.sensor == sensor]


def alarm_of(message: Reported, sensor: str, kind: str) -> LocalAlarm | None:
    return next((a for a in message.alarms if a.sensor == sensor and a.kind == kind), None)


def wait_alarm(cloud: CloudSide, sensor: str, kind: str) -> LocalAlarm:
    message = cloud.wait_for(Channel.REPORTED, lambda m: alarm_of(m, sensor, kind) is not None, timeout=30)
    return alarm_of(message, sensor, kind)  # type: ignore[arg-type, return-value]


def now() -> datetime:
    return datetime.now(UTC)


def test_compressor_failure_and_unplugged_sensor_at_speed_600(cloud, locker, edge_toml, run_dir, tmp_path):
    sim = SimProcess(edge_toml, tmp_path / "sim.log", speed=SPEED)
    try:
        wait_until(lambda: answering(locker), timeout=20, what="the control socket")
        wait_until(lambda: len(readings(cloud, CHILLED)) >= 3, what="chilled readings")
        real_start = now()

        injected = cli("sim", "fault", locker, "chilled", "compressor-failure")
        assert (injected.returncode, injected.stdout.strip()) == (
            0,
            "compressor-failure injected into the chilled zone",
        )
        unplugged = request(locker, {"cmd": "fault", "zone": "frozen", "fault": "sensor-unplugged"})
        assert unplugged == {"ok": True, "message": "sensor-unplugged injected into the frozen zone"}

        # The chilled zone warms past 7 °C, in readings stamped with simulated time.
        wait_until(lambda: any(r.celsius > 7.0 for r in readings(cloud, CHILLED) if r.celsius), 30, "chilled > 7 °C")
        chilled = readings(cloud, CHILLED)
        stamps = [r.ts for r in chilled]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
        assert chilled[0].celsius < 6.0 and max(r.celsius for r in chilled if r.celsius) > 7.0
        assert (stamps[-1] - stamps[0]) > 100 * (now() - real_start)  # simulated time outran the wall clock

        alarm = wait_alarm(cloud, CHILLED, "temperature")
        assert (alarm.zone, alarm.severity) == (Zone.CHILLED, "critical")

        # The unplugged frozen sensor: disconnected readings, a sensor_fault event and alarm, no temperature alarm.
        fault = wait_alarm(cloud, FROZEN, "sensor_fault")
        assert (fault.zone, fault.severity) == (Zone.FROZEN, "warning")
        assert any(r.quality is Quality.DISCONNECTED and r.celsius is None for r in readings(cloud, FROZEN))
        (event,) = cloud.wait_events(EventKind.SENSOR_FAULT)
        assert FROZEN in event.detail and "disconnected" in event.detail
        assert all(alarm_of(m, FROZEN, "temperature") is None for m in cloud.messages(Channel.REPORTED))

        status = cli("sim", "status", locker)
        assert status.returncode == 0
        shown = {(a["sensor"], a["kind"]) for a in json.loads(status.stdout)["alarms"]}
        assert {(CHILLED, "temperature"), (FROZEN, "sensor_fault")} <= shown

        # Repaired: the compressor pulls the zone back down and the alarm clears.
        repaired = cli("sim", "fault", locker, "chilled", "clear")
        assert (repaired.returncode, repaired.stdout.strip()) == (0, "faults cleared in the chilled zone")
        cloud.wait_for(
            Channel.REPORTED,
            lambda m: m.ts > alarm.since and alarm_of(m, CHILLED, "temperature") is None,
            timeout=30,
        )
        last_seen = max(r.ts for r in readings(cloud, CHILLED))
        sim.process.send_signal(signal.SIGTERM)
        assert sim.wait() == 0, sim.output()
    finally:
        sim.ensure_stopped()

    # Restarted, the simulated clock carries on from where the locker's data got to, never back.
    seen = len(readings(cloud, CHILLED))
    again = SimProcess(edge_toml, tmp_path / "again.log", speed=SPEED)
    try:
        fresh = wait_until(lambda: readings(cloud, CHILLED)[seen:], timeout=20, what="readings after the restart")
        assert fresh[0].ts > last_seen
        again.process.send_signal(signal.SIGTERM)
        assert again.wait() == 0, again.output()
    finally:
        again.ensure_stopped()


def test_sim_fault_arguments_and_missing_locker(run_dir):
    bad_zone = cli("sim", "fault", "demo-1", "attic", "clear")
    assert bad_zone.returncode == 2 and "attic" in bad_zone.stderr and "chilled" in bad_zone.stderr
    bad_fault = cli("sim", "fault", "demo-1", "chilled", "meltdown")
    assert bad_fault.returncode == 2 and "compressor-failure" in bad_fault.stderr
    ghost = cli("sim", "fault", "ghost", "Chilled", "power-cut")
    assert ghost.returncode == 2 and "no locker 'ghost' is running here" in ghost.stderr


def test_the_cli_offers_the_simulators_faults_and_zones():
    from dorpskluis.cli import FaultChoice, ZoneChoice
    from sensors.simulator import Fault

    assert [c.value for c in FaultChoice] == [f.value for f in Fault]
    assert [c.value for c in ZoneChoice] == [z.value for z in Zone]
