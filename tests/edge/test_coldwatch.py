"""The locker's bookkeeping around the cold-chain rules, pure: readings and doors in, local alarms out."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from edge.coldwatch import ColdChainWatch
from edge.telemetry import SensorRound
from lockers.layout import Zone
from lockers.protocol.messages import LocalAlarm, Quality
from sensors.ds18b20 import SensorSample
from sensors.rules import SensorMonitor
from tests.edge.codes_fixture import NOW
from tests.edge.harness import LAYOUT

SPECS = {spec.zone: spec for spec in LAYOUT.sensors}
CHILLED, FROZEN = SPECS[Zone.CHILLED].id, SPECS[Zone.FROZEN].id


def round_at(minutes: float, chilled: float | None, frozen: float | None = -20.0) -> SensorRound:
    def sample(zone: Zone, celsius: float | None) -> SensorSample:
        quality = Quality.OK if celsius is not None else Quality.DISCONNECTED
        return SensorSample(SPECS[zone].id, celsius, quality)

    samples = ((SPECS[Zone.CHILLED], sample(Zone.CHILLED, chilled)), (SPECS[Zone.FROZEN], sample(Zone.FROZEN, frozen)))
    return SensorRound(NOW + timedelta(minutes=minutes), samples)


def test_a_long_excursion_becomes_an_active_alarm_and_ends_with_it():
    watch = ColdChainWatch(LAYOUT)
    changes = [c for m in range(0, 20) for c in watch.observe_round(round_at(m, 9.0))]
    assert [(c.sensor.id, c.change.action, c.change.kind.value) for c in changes] == [
        (CHILLED, "raised", "temperature")
    ]
    assert "raised critical temperature alarm of sensor 28-00000000b001 (chilled)" in changes[0].describe()
    assert watch.active() == [
        LocalAlarm(
            sensor=CHILLED, zone=Zone.CHILLED, kind="temperature", severity="critical", since=changes[0].change.at
        )
    ]
    (cleared,) = watch.observe_round(round_at(21, 4.0))
    assert cleared.change.action == "cleared" and watch.active() == []


def test_alarms_are_listed_by_sensor_temperature_first():
    watch = ColdChainWatch(LAYOUT)
    for minute in range(0, 20):
        watch.observe_round(round_at(minute, 9.0 if minute < 16 else None, None))
    assert [(a.sensor, a.kind) for a in watch.active()] == [
        (CHILLED, "temperature"),
        (CHILLED, "sensor_fault"),
        (FROZEN, "sensor_fault"),
    ]


@pytest.mark.parametrize(
    "doors, fed_chilled, fed_frozen",
    [
        ({"B2": True, "A1": True}, {"B2"}, set()),  # an ambient door is no business of the fridges
        ({"B2": True, "C1": True}, {"B2"}, {"C1"}),
        ({"B2": False, "C1": False}, set(), set()),
    ],
)
def test_doors_reach_only_the_sensors_of_their_zone(doors, fed_chilled, fed_frozen):
    watch = ColdChainWatch(LAYOUT)
    watch.observe_doors(doors, NOW)
    saved = watch.unsaved()
    assert set(saved.get(CHILLED, {}).get("doors_open", [])) == fed_chilled
    assert set(saved.get(FROZEN, {}).get("doors_open", [])) == fed_frozen


def test_repeated_door_positions_change_nothing_and_a_shut_remembered_door_is_closed():
    opened = SensorMonitor(doors_open=frozenset({"B4"})).to_json()
    watch = ColdChainWatch(LAYOUT, saved={CHILLED: opened})
    watch.observe_doors({"B4": True, "B1": False}, NOW)  # what the monitor already knows
    assert watch.unsaved() == {}
    watch.observe_doors({"B4": False, "B1": False}, NOW + timedelta(minutes=1))
    saved = watch.unsaved()[CHILLED]
    assert saved["doors_open"] == [] and saved["door_closed_at"] == (NOW + timedelta(minutes=1)).isoformat()
    assert watch.unsaved() == {}  # handed out once


def test_saved_state_is_restored_and_unreadable_state_is_forgotten_with_a_warning(caplog):
    alarmed = ColdChainWatch(LAYOUT)
    for minute in range(0, 20):
        alarmed.observe_round(round_at(minute, 9.0))
    saved = alarmed.unsaved()
    with caplog.at_level(logging.WARNING, logger="edge"):
        restored = ColdChainWatch(LAYOUT, saved={CHILLED: saved[CHILLED], FROZEN: {"fault_times": ["yesterday"]}})
    assert restored.active() == alarmed.active()
    (warning,) = caplog.records
    assert FROZEN in warning.getMessage() and warning.exc_info is None
