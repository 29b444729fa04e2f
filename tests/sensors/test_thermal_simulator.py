"""Thermal simulator: fridge physics in simulated time, and the w1 files the real driver reads from it."""

from __future__ import annotations

import pytest

from lockers.errors import LayoutError
from lockers.layout import SensorSpec, Zone, demo_layout
from lockers.protocol.messages import Quality
from sensors.ds18b20 import DS18B20, discover
from sensors.simulator import CabinetSimulator, ThermalZone
from tests.support import wait_until

CHILLED_ID, FROZEN_ID, AMBIENT_ID = "28-00000000b001", "28-00000000c001", "28-00000000a001"
HOUR = 3600.0


def track(thermal: ThermalZone, seconds: int, every_s: float = 1.0) -> list[float]:
    """Temperatures after each step of `every_s` simulated seconds."""
    out = []
    for _ in range(int(seconds / every_s)):
        thermal.step(every_s)
        out.append(thermal.temperature_c)
    return out


def read(base, sensor_id: str):
    return DS18B20(sensor_id, base, retries=0).read()


# --- the pure model -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("zone", "low", "high"), [(Zone.CHILLED, 3.0, 5.0), (Zone.FROZEN, -21.5, -18.5)])
def test_closed_cabinet_holds_its_band_and_the_compressor_cycles(zone: Zone, low: float, high: float) -> None:
    thermal = ThermalZone.for_zone(zone)
    switches, running_s, was_on = 0, 0, thermal.cooling
    temps = []
    for _ in range(int(12 * HOUR)):
        thermal.step(1.0)
        temps.append(thermal.temperature_c)
        running_s += thermal.cooling
        switches += thermal.cooling != was_on
        was_on = thermal.cooling
    assert low - 0.05 <= min(temps) and max(temps) <= high + 0.05
    assert switches >= 2 * 12  # at least one on/off cycle an hour
    assert 0.1 < running_s / (12 * HOUR) < 0.7  # a plausible duty cycle


def test_closed_fridge_with_compressor_off_warms_about_a_degree_in_several_minutes() -> None:
    thermal = ThermalZone.for_zone(Zone.CHILLED)
    temps = track(thermal, 600)
    seconds_to_warm = next(i + 1 for i, t in enumerate(temps) if t >= 5.0)
    assert 3 * 60 <= seconds_to_warm <= 10 * 60


def test_open_door_warms_the_fridge_past_the_legal_limit_within_minutes() -> None:
    thermal = ThermalZone.for_zone(Zone.CHILLED)
    thermal.doors_open = 1
    temps = track(thermal, 600)
    seconds_to_7 = next(i + 1 for i, t in enumerate(temps) if t > 7.0)
    assert 60 <= seconds_to_7 <= 6 * 60
    assert thermal.cooling  # the compressor runs flat out and still loses
    thermal.doors_open = 0
    recovered = track(thermal, 1800)
    assert recovered[-1] <= 5.0  # back in its band within half an hour of closing


def test_more_open_doors_warm_faster() -> None:
    one, two = ThermalZone.for_zone(Zone.FROZEN), ThermalZone.for_zone(Zone.FROZEN)
    one.doors_open, two.doors_open = 1, 2
    one.step(60)
    two.step(60)
    assert -20.0 < one.temperature_c < two.temperature_c


def test_compressor_failure_warms_steadily_towards_the_room() -> None:
    thermal = ThermalZone.for_zone(Zone.CHILLED)
    thermal.compressor_failed = True
    every_10_min = track(thermal, int(4 * HOUR), every_s=600)
    assert all(a < b for a, b in zip(every_10_min, every_10_min[1:], strict=False))
    assert every_10_min[5] > 7.0  # above the limit within an hour
    assert every_10_min[-1] < thermal.room_c


def test_power_cut_stops_cooling_and_the_compressor_waits_before_restarting() -> None:
    thermal = ThermalZone.for_zone(Zone.FROZEN)
    thermal.set_powered(False)
    thermal.step(HOUR)
    warmed = thermal.temperature_c
    assert warmed > -15.0
    thermal.set_powered(True)
    thermal.step(thermal.restart_delay_s - 1)
    assert thermal.temperature_c > warmed  # anti-short-cycle delay: still warming
    thermal.step(2 * HOUR)
    assert thermal.temperature_c <= -18.5


def test_ambient_follows_the_room_and_never_cools() -> None:
    thermal = ThermalZone.for_zone(Zone.AMBIENT, room_c=18.0)
    assert thermal.temperature_c == 18.0
    thermal.temperature_c = 10.0
    temps = track(thermal, int(3 * HOUR), every_s=60)
    assert all(a < b <= 18.0 for a, b in zip(temps, temps[1:], strict=False))
    assert temps[-1] > 17.0
    assert not thermal.cooling


def test_step_is_deterministic_whatever_the_step_size() -> None:
    coarse, fine = ThermalZone.for_zone(Zone.CHILLED), ThermalZone.for_zone(Zone.CHILLED)
    coarse.doors_open = fine.doors_open = 1
    coarse.step(HOUR)
    track(fine, int(HOUR))
    assert coarse.temperature_c == fine.temperature_c
    with pytest.raises(ValueError):
        coarse.step(-1)


# --- the cabinet and its files --------------------------------------------------------------------------


@pytest.fixture
def cabinet(tmp_path) -> CabinetSimulator:
    return CabinetSimulator(tmp_path, demo_layout().sensors, seed=7)


def test_driver_reads_the_simulated_cabinet(cabinet: CabinetSimulator) -> None:
    cabinet.write()
    assert discover(cabinet.base) == [AMBIENT_ID, CHILLED_ID, FROZEN_ID]
    for sensor_id, zone in [(AMBIENT_ID, Zone.AMBIENT), (CHILLED_ID, Zone.CHILLED), (FROZEN_ID, Zone.FROZEN)]:
        for _ in range(20):
            cabinet.step(30)
            cabinet.write()
            sample = read(cabinet.base, sensor_id)
            assert sample.quality is Quality.OK
            assert sample.celsius == pytest.approx(cabinet.temperature(zone), abs=0.3)
            assert abs(sample.celsius * 16 - round(sample.celsius * 16)) < 0.02  # the chip's 1/16 °C steps


def test_same_seed_writes_the_same_files(tmp_path) -> None:
    texts = []
    for run in ("a", "b"):
        sim = CabinetSimulator(tmp_path / run, demo_layout().sensors, seed=42)
        sim.step(600)
        sim.write()
        texts.append((tmp_path / run / CHILLED_ID / "w1_slave").read_text())
    assert texts[0] == texts[1]


def test_doors_of_several_compartments_count_separately(cabinet: CabinetSimulator) -> None:
    cabinet.door_changed(Zone.CHILLED, "B1", True)
    cabinet.door_changed(Zone.CHILLED, "B2", True)
    cabinet.door_changed(Zone.CHILLED, "B2", True)  # a repeated event changes nothing
    assert cabinet.zone(Zone.CHILLED).doors_open == 2
    cabinet.door_changed(Zone.CHILLED, "B1", False)
    assert cabinet.zone(Zone.CHILLED).doors_open == 1
    cabinet.step(300)
    assert cabinet.temperature(Zone.CHILLED) > 7.0
    assert cabinet.temperature(Zone.FROZEN) <= -18.5  # other zones are unaffected
    cabinet.set_door_open(Zone.CHILLED, False)
    assert cabinet.zone(Zone.CHILLED).doors_open == 0


def test_door_of_an_unsensed_zone_is_ignored(tmp_path) -> None:
    sim = CabinetSimulator(tmp_path, [SensorSpec(id=CHILLED_ID, zone=Zone.CHILLED)], seed=1)
    sim.door_changed(Zone.FROZEN, "C1", True)
    with pytest.raises(LayoutError, match="frozen"):
        sim.temperature(Zone.FROZEN)
    with pytest.raises(LayoutError):
        sim.inject(Zone.FROZEN, "compressor-failure")


def test_compressor_failure_then_clear(cabinet: CabinetSimulator) -> None:
    cabinet.inject(Zone.CHILLED, "compressor-failure")
    cabinet.step(2 * HOUR)
    cabinet.write()
    sample = read(cabinet.base, CHILLED_ID)
    assert sample.quality is Quality.OK and sample.celsius > 10.0
    assert cabinet.temperature(Zone.FROZEN) <= -18.5
    cabinet.inject(Zone.CHILLED, "clear")
    cabinet.step(HOUR)
    assert cabinet.temperature(Zone.CHILLED) <= 5.0


def test_power_cut_warms_the_zone(cabinet: CabinetSimulator) -> None:
    cabinet.inject(Zone.FROZEN, "power-cut")
    cabinet.step(HOUR)
    assert cabinet.temperature(Zone.FROZEN) > -15.0
    cabinet.inject(Zone.FROZEN, "clear")
    assert cabinet.zone(Zone.FROZEN).restart_wait_s > 0


def test_unplugged_sensor_reads_disconnected_until_cleared(cabinet: CabinetSimulator) -> None:
    cabinet.write()
    cabinet.inject(Zone.CHILLED, "sensor-unplugged")
    cabinet.write()
    assert read(cabinet.base, CHILLED_ID).quality is Quality.DISCONNECTED
    assert CHILLED_ID not in discover(cabinet.base)
    assert read(cabinet.base, FROZEN_ID).quality is Quality.OK
    cabinet.inject(Zone.CHILLED, "clear")
    cabinet.write()
    assert read(cabinet.base, CHILLED_ID).quality is Quality.OK


def test_flaky_sensor_alternates_good_reads_with_crc_errors_and_resets(cabinet: CabinetSimulator) -> None:
    cabinet.inject(Zone.CHILLED, "sensor-flaky")
    qualities = []
    for _ in range(8):
        cabinet.write()
        qualities.append(read(cabinet.base, CHILLED_ID).quality)
    assert qualities[1::2] == [Quality.OK] * 4
    assert set(qualities[0::2]) == {Quality.CRC_ERROR, Quality.POWER_ON_RESET}
    cabinet.inject(Zone.CHILLED, "clear")
    cabinet.write()
    assert read(cabinet.base, CHILLED_ID).quality is Quality.OK


def test_unknown_fault_is_refused(cabinet: CabinetSimulator) -> None:
    with pytest.raises(ValueError, match="unknown fault 'meltdown'"):
        cabinet.inject(Zone.CHILLED, "meltdown")


def test_start_writes_at_once_then_runs_until_stopped(cabinet: CabinetSimulator) -> None:
    cabinet.door_changed(Zone.CHILLED, "B3", True)
    cabinet.start(period_s=0.01, speed=100.0)  # one simulated second per real 10 ms
    try:
        assert read(cabinet.base, CHILLED_ID).quality is Quality.OK  # no waiting for the first period
        with pytest.raises(RuntimeError):
            cabinet.start()
        wait_until(lambda: cabinet.temperature(Zone.CHILLED) > 5.0, timeout=10, what="the open fridge to warm")
    finally:
        cabinet.stop()
    frozen_at = cabinet.temperature(Zone.CHILLED)
    text = (cabinet.base / CHILLED_ID / "w1_slave").read_text()
    cabinet.stop()  # stopping twice is harmless
    assert cabinet.temperature(Zone.CHILLED) == frozen_at
    assert (cabinet.base / CHILLED_ID / "w1_slave").read_text() == text
    with pytest.raises(ValueError):
        cabinet.start(period_s=0)
