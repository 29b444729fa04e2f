"""`fault` requests of the control channel reaching a simulated cabinet's real thermal simulator."""

from __future__ import annotations

import json

import pytest
from gpiozero.pins.mock import MockFactory

from edge.cabinet import SimulatedCabinet
from edge.control import ControlServer, handle_request, request, socket_path
from lockers.layout import SensorSpec, Zone
from lockers.protocol.messages import Quality
from sensors.ds18b20 import DS18B20
from sensors.simulator import CabinetSimulator, Fault
from tests.edge.harness import LAYOUT

CHILLED_SENSOR = next(s.id for s in LAYOUT.sensors if s.zone is Zone.CHILLED)


class NoAgent:
    """The fault command never reaches the agent: anything it is asked fails the test."""

    def scan(self, text: str, timeout: float = 5.0):
        raise AssertionError("scan was not asked for")

    def status(self, timeout: float = 5.0) -> dict:
        raise AssertionError("status was not asked for")


@pytest.fixture
def thermal(tmp_path) -> CabinetSimulator:
    simulator = CabinetSimulator(base=tmp_path / "w1", sensors=LAYOUT.sensors, seed=3)
    simulator.write()
    return simulator


@pytest.fixture
def cabinet(thermal) -> SimulatedCabinet:
    return SimulatedCabinet(LAYOUT, MockFactory(), thermal)  # not started: no latch thread needed here


def ask(cabinet: SimulatedCabinet | None, payload: object) -> dict:
    faults = cabinet.inject_fault if cabinet else None
    return handle_request(json.dumps(payload).encode(), NoAgent(), doors=None, faults=faults)


def test_compressor_failure_warms_the_zone_and_clear_cools_it_again(cabinet, thermal):
    answer = ask(cabinet, {"cmd": "fault", "zone": "chilled", "fault": "compressor-failure"})
    assert answer == {"ok": True, "message": "compressor-failure injected into the chilled zone"}
    thermal.step(3 * 3600)
    assert thermal.temperature(Zone.CHILLED) > 15
    assert thermal.temperature(Zone.FROZEN) < -17  # other zones keep running

    assert ask(cabinet, {"cmd": "fault", "zone": "chilled", "fault": "clear"}) == {
        "ok": True,
        "message": "faults cleared in the chilled zone",
    }
    thermal.step(3600)
    assert thermal.temperature(Zone.CHILLED) < 5.5


def test_power_cut(cabinet, thermal):
    assert ask(cabinet, {"cmd": "fault", "zone": "frozen", "fault": "power-cut"})["ok"]
    assert not thermal.zone(Zone.FROZEN).powered
    thermal.step(2 * 3600)
    assert thermal.temperature(Zone.FROZEN) > -15


def test_an_unplugged_sensor_disappears_at_once_and_comes_back_on_clear(cabinet, thermal):
    sensor = DS18B20(CHILLED_SENSOR, base=thermal.base, retries=0)
    assert sensor.read().quality is Quality.OK
    assert ask(cabinet, {"cmd": "fault", "zone": "chilled", "fault": "sensor-unplugged"})["ok"]
    assert not sensor.path.exists()  # written out by the request itself, not at the next simulator step
    assert sensor.read().quality is Quality.DISCONNECTED
    assert ask(cabinet, {"cmd": "fault", "zone": "chilled", "fault": "clear"})["ok"]
    assert sensor.read().quality is Quality.OK


def test_a_flaky_sensor_gives_bad_reads_between_good_ones(cabinet, thermal):
    sensor = DS18B20(CHILLED_SENSOR, base=thermal.base, retries=0)
    assert ask(cabinet, {"cmd": "fault", "zone": "chilled", "fault": "sensor-flaky"})["ok"]
    qualities = [sensor.read().quality]
    for _ in range(5):
        thermal.write()
        qualities.append(sensor.read().quality)
    assert Quality.OK in qualities and any(q is not Quality.OK for q in qualities)


@pytest.mark.parametrize(
    "payload, message",
    [
        (
            {"cmd": "fault", "zone": "attic", "fault": "power-cut"},
            "unknown zone 'attic'; use one of ambient, chilled, frozen",
        ),
        (
            {"cmd": "fault", "zone": "chilled", "fault": "meltdown"},
            "unknown fault 'meltdown'; use one of " + ", ".join(f.value for f in Fault),
        ),
        ({"cmd": "fault", "zone": "chilled"}, 'fault needs "zone" (ambient, chilled or frozen) and "fault"'),
        ({"cmd": "fault", "fault": "clear"}, 'fault needs "zone"'),
        ({"cmd": "fault", "zone": ["chilled"], "fault": "clear"}, 'fault needs "zone"'),
    ],
    ids=["unknown-zone", "unknown-fault", "no-fault", "no-zone", "zone-not-text"],
)
def test_bad_fault_requests_are_refused_readably(cabinet, thermal, payload, message):
    answer = ask(cabinet, payload)
    assert answer["ok"] is False and message in answer["message"]
    assert not thermal.zone(Zone.CHILLED).compressor_failed and thermal.zone(Zone.FROZEN).powered


def test_a_zone_without_a_sensor_is_not_simulated(tmp_path):
    thermal = CabinetSimulator(base=tmp_path / "w1", sensors=[SensorSpec(id=CHILLED_SENSOR, zone=Zone.CHILLED)])
    cabinet = SimulatedCabinet(LAYOUT, MockFactory(), thermal)
    answer = ask(cabinet, {"cmd": "fault", "zone": "frozen", "fault": "power-cut"})
    assert answer == {"ok": False, "message": "no sensor measures the frozen zone of this cabinet"}


def test_a_cabinet_without_fridges_and_a_real_locker_refuse():
    without = SimulatedCabinet(LAYOUT, MockFactory(), thermal=None)
    assert ask(without, {"cmd": "fault", "zone": "chilled", "fault": "clear"}) == {
        "ok": False,
        "message": "this simulated cabinet has no thermal simulator",
    }
    assert ask(None, {"cmd": "fault", "zone": "chilled", "fault": "clear"}) == {
        "ok": False,
        "message": "faults can only be injected into a simulated locker",
    }


def test_fault_over_the_socket(cabinet, thermal, run_dir):
    server = ControlServer(socket_path("sim-1"), NoAgent(), faults=cabinet.inject_fault)
    server.start()
    try:
        answer = request("sim-1", {"cmd": "fault", "zone": "frozen", "fault": "compressor-failure"})
        refused = request("sim-1", {"cmd": "fault", "zone": "frozen", "fault": "gremlins"})
    finally:
        server.stop()
    assert answer == {"ok": True, "message": "compressor-failure injected into the frozen zone"}
    assert thermal.zone(Zone.FROZEN).compressor_failed
    assert refused["ok"] is False and "unknown fault 'gremlins'" in refused["message"]
