"""Cold-chain alarm rules: delay, hysteresis, door grace, severities, sensor faults, persistence, and the
issue's simulator scenarios run through the real thermal simulator and DS18B20 driver in simulated time."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from lockers.layout import Zone, demo_layout
from lockers.protocol.messages import Quality
from sensors.ds18b20 import DS18B20
from sensors.rules import (
    DEFAULT_LIMITS,
    AlarmChange,
    AlarmKind,
    SensorMonitor,
    Severity,
    ZoneLimits,
    _observe_fully,
    observe_door,
    observe_reading,
)
from sensors.simulator import CabinetSimulator

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
CHILLED = DEFAULT_LIMITS[Zone.CHILLED]
FROZEN = DEFAULT_LIMITS[Zone.FROZEN]
STEP = timedelta(seconds=30)


def feed(temperatures, limits=CHILLED, state=None, start=T0, quality=Quality.OK):
    """Readings every 30 s; returns the final state and every alarm change with its reading index."""
    state = state or SensorMonitor()
    changes: list[tuple[int, AlarmChange]] = []
    for index, celsius in enumerate(temperatures):
        q = quality if celsius is None else Quality.OK
        state, new = observe_reading(state, limits, start + index * STEP, celsius, q)
        changes += [(index, change) for change in new]
    return state, changes


def actions(changes):
    return [(change.action, change.kind, change.severity) for _, change in changes]


# --- temperature --------------------------------------------------------------------------------------------


def test_an_excursion_raises_one_alarm_after_the_delay_and_clears_below_the_hysteresis():
    # 10 min fine, 20 min at 9 °C, then back to 4 °C
    state, changes = feed([4.0] * 20 + [9.0] * 40 + [4.0] * 10)
    assert actions(changes) == [
        ("raised", AlarmKind.TEMPERATURE, Severity.CRITICAL),
        ("cleared", AlarmKind.TEMPERATURE, Severity.CRITICAL),
    ]
    raised_at, cleared_at = changes[0][0], changes[1][0]
    assert raised_at == 20 + 30  # first reading above 7 °C is index 20; 15 min = 30 readings later
    assert cleared_at == 60
    assert "above 7 °C for 15 min" in changes[0][1].detail
    assert state.temperature_alarm is None and state.excursion_since is None


def test_a_short_excursion_raises_nothing():
    _, changes = feed([4.0] * 5 + [9.0] * 29 + [4.0] * 5)  # 14.5 min above the limit
    assert changes == []


@pytest.mark.parametrize(
    ("hover", "expected"),
    [
        ([6.8, 7.3] * 60, 1),  # hovering across the limit but never below 7 - 0.5: one excursion, one alarm
        ([6.4, 7.3] * 60, 0),  # dipping below the hysteresis band ends every excursion before the delay
    ],
)
def test_hovering_around_the_limit_raises_at_most_one_alarm(hover, expected):
    _, changes = feed([4.0] * 4 + hover)
    assert [c.action for _, c in changes] == ["raised"] * expected


def test_a_new_excursion_needs_the_full_delay_again():
    once = [9.0] * 40 + [5.0] * 4
    _, changes = feed(once + once)
    assert [c.action for _, c in changes] == ["raised", "cleared", "raised", "cleared"]
    assert changes[2][0] - changes[1][0] >= 30


def test_frozen_rises_are_warnings_until_minus_15_then_critical_within_the_same_alarm():
    temps = [-20.0] * 4 + [-16.5] * 40 + [-14.0] * 10 + [-19.0] * 4
    _, changes = feed(temps, limits=FROZEN)
    assert actions(changes) == [
        ("raised", AlarmKind.TEMPERATURE, Severity.WARNING),
        ("escalated", AlarmKind.TEMPERATURE, Severity.CRITICAL),
        ("cleared", AlarmKind.TEMPERATURE, Severity.CRITICAL),
    ]


def test_ambient_has_no_temperature_alarm():
    _, changes = feed([35.0] * 100, limits=DEFAULT_LIMITS[Zone.AMBIENT])
    assert changes == []


def test_an_excursion_that_starts_with_a_door_open_gets_the_grace_period():
    state = SensorMonitor()
    state, _ = observe_door(state, CHILLED, T0, "B2", True)
    # 17 min above the limit starting while the door is open: within 15 + 5 min, no alarm
    state, changes = feed([9.0] * 34 + [4.0] * 2, state=state, start=T0 + STEP)
    assert changes == []
    # the same after the door closed more than the grace period ago: alarm at 15 min
    state, _ = observe_door(state, CHILLED, T0 + timedelta(minutes=20), "B2", False)
    later = T0 + timedelta(minutes=26)
    _, changes = feed([9.0] * 34, state=state, start=later)
    assert [c.action for _, c in changes] == ["raised"]
    assert changes[0][0] == 30


def test_the_grace_period_runs_from_the_last_door_closing():
    state = SensorMonitor()
    for compartment in ("B1", "B2"):
        state, _ = observe_door(state, CHILLED, T0, compartment, True)
    state, _ = observe_door(state, CHILLED, T0 + timedelta(minutes=1), "B1", False)
    assert state.doors_open == {"B2"} and state.door_closed_at is None
    state, _ = observe_door(state, CHILLED, T0 + timedelta(minutes=2), "B2", False)
    assert state.doors_open == frozenset() and state.door_closed_at == T0 + timedelta(minutes=2)


def test_repeated_and_late_readings_are_ignored():
    state, _ = feed([4.0, 9.0])
    again, changes = observe_reading(state, CHILLED, T0, 20.0, Quality.OK)
    assert again == state and changes == []


# --- sensor faults --------------------------------------------------------------------------------------


def test_unusable_readings_raise_a_sensor_fault_not_a_temperature_alarm():
    state, changes = feed([4.0] * 3 + [None] * 10 + [4.0] * 25, quality=Quality.DISCONNECTED)
    assert actions(changes) == [
        ("raised", AlarmKind.SENSOR_FAULT, Severity.WARNING),
        ("cleared", AlarmKind.SENSOR_FAULT, Severity.WARNING),
    ]
    assert changes[0][0] == 5  # the third unusable reading
    assert changes[1][0] == 12 + 20  # ten minutes after the last fault
    assert state.fault_alarm is None


def test_an_isolated_crc_error_raises_nothing():
    _, changes = feed([4.0, None, 4.0, 4.0, None, 4.0] + [4.0] * 30, quality=Quality.CRC_ERROR)
    assert changes == []


def test_faults_do_not_move_the_excursion():
    state, _ = feed([9.0] * 10)
    since = state.excursion_since
    state, _ = feed([None] * 5, state=state, start=T0 + 10 * STEP, quality=Quality.CRC_ERROR)
    assert state.excursion_since == since


# --- the quick path --------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("limits", [CHILLED, FROZEN, DEFAULT_LIMITS[Zone.AMBIENT]], ids=lambda z: z.zone.value)
def test_the_quick_path_for_quiet_sensors_decides_as_the_full_rules_do(seed, limits):
    """observe_reading skips the rules for a usable, in-limit reading of a quiet sensor; over random walks
    through excursions, faults, doors and stragglers it must agree with the full rules at every step."""
    rng = random.Random(seed)
    base = limits.limit_c if limits.limit_c is not None else 20.0
    quick = full = SensorMonitor()
    ts, celsius = T0, base - 3
    quick_path_taken = 0
    for _ in range(600):
        ts += timedelta(seconds=rng.choice([5, 30, 30, 60, 240]))
        if rng.random() < 0.03:
            is_open = rng.random() < 0.5
            quick, _ = observe_door(quick, limits, ts, "B1", is_open)
            full, _ = observe_door(full, limits, ts, "B1", is_open)
            continue
        celsius = min(max(celsius + rng.uniform(-1.5, 1.5), base - 6), base + 6)
        usable = rng.random() > 0.05
        value, quality = (round(celsius, 2), Quality.OK) if usable else (None, Quality.CRC_ERROR)
        at = ts - timedelta(minutes=5) if rng.random() < 0.05 else ts  # now and then a straggler
        quick_path_taken += usable and quick.quiet and (limits.limit_c is None or value <= limits.limit_c)
        quick, quick_changes = observe_reading(quick, limits, at, value, quality)
        if full.last_ts is not None and at <= full.last_ts:
            full_changes = []
        else:
            full, full_changes = _observe_fully(full, limits, at, value, quality, usable)
        assert (quick, quick_changes) == (full, full_changes)
    assert quick_path_taken > 20  # the quick path was exercised, not only the full one


# --- persistence ----------------------------------------------------------------------------------------


def test_state_survives_a_json_round_trip_mid_excursion():
    state, _ = feed([9.0] * 40)
    state, _ = observe_door(state, CHILLED, T0, "B3", True)
    state, _ = feed([None] * 4, state=state, start=T0 + 40 * STEP, quality=Quality.POWER_ON_RESET)
    restored = SensorMonitor.from_json(state.to_json())
    assert restored == state
    # …and continues exactly as the original would
    assert feed([5.0], state=restored, start=T0 + 50 * STEP) == feed([5.0], state=state, start=T0 + 50 * STEP)


def test_limits_are_configurable():
    strict = ZoneLimits(Zone.CHILLED, limit_c=5.0, critical_c=8.0, delay_s=60, hysteresis_c=0.2)
    _, changes = feed([4.0, 6.0, 6.0, 6.0, 9.0, 4.9, 4.7], limits=strict)
    assert actions(changes) == [
        ("raised", AlarmKind.TEMPERATURE, Severity.WARNING),
        ("escalated", AlarmKind.TEMPERATURE, Severity.CRITICAL),
        ("cleared", AlarmKind.TEMPERATURE, Severity.CRITICAL),
    ]


# --- the scenarios on the real simulator and driver, in simulated time --------------------------------


SENSORS = demo_layout().sensors
CHILLED_SENSOR = next(s for s in SENSORS if s.zone is Zone.CHILLED)


def run_cabinet(tmp_path, minutes: float, events=()) -> list[AlarmChange]:
    """Step the cabinet 30 s at a time, read its chilled sensor with the driver, run the rules on it.

    `events` are (minute, action) pairs: ("open", "B2"), ("close", "B2") or ("fault", name)."""
    cabinet = CabinetSimulator(tmp_path / "w1", SENSORS, seed=3, noise_c=0.02)
    cabinet.write()
    driver = DS18B20(CHILLED_SENSOR.id, base=tmp_path / "w1", retry_delay_s=0)
    state, changes = SensorMonitor(), []
    pending = sorted(events)
    for step in range(int(minutes * 2) + 1):
        now = T0 + step * STEP
        while pending and pending[0][0] * 60 <= step * 30:
            _, (action, arg) = pending.pop(0)
            if action == "fault":
                cabinet.inject(Zone.CHILLED, arg)
            else:
                cabinet.door_changed(Zone.CHILLED, arg, action == "open")
                state, _ = observe_door(state, CHILLED, now, arg, action == "open")
        sample = driver.read()
        state, new = observe_reading(state, CHILLED, now, sample.celsius, sample.quality)
        changes += new
        cabinet.step(30)
        cabinet.write()
    return changes


def test_scenario_door_left_open_20_minutes(tmp_path):
    changes = run_cabinet(tmp_path, 90, [(5, ("open", "B2")), (25, ("close", "B2"))])
    assert [(c.action, c.kind) for c in changes] == [
        ("raised", AlarmKind.TEMPERATURE),
        ("cleared", AlarmKind.TEMPERATURE),
    ]


def test_scenario_two_minute_door_opening(tmp_path):
    assert run_cabinet(tmp_path, 60, [(5, ("open", "B2")), (7, ("close", "B2"))]) == []


def test_scenario_compressor_failure(tmp_path):
    changes = run_cabinet(tmp_path, 90, [(5, ("fault", "compressor-failure"))])
    assert [(c.action, c.kind, c.severity) for c in changes] == [("raised", AlarmKind.TEMPERATURE, Severity.CRITICAL)]


def test_scenario_sensor_unplugged(tmp_path):
    changes = run_cabinet(tmp_path, 30, [(5, ("fault", "sensor-unplugged"))])
    assert [(c.action, c.kind) for c in changes] == [("raised", AlarmKind.SENSOR_FAULT)]
