"""The cold-chain rules at the locker: one `SensorMonitor` per sensor, fed with readings and door changes.

Pure bookkeeping around sensors.rules (no I/O): the agent persists `unsaved()`, logs the changes and
publishes `active()` in `reported`. The cloud stays the authority for alerts; this is what a technician or
the kiosk sees locally, and it keeps working while the uplink is down.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from edge.telemetry import SensorRound
from lockers.layout import LockerLayout, SensorSpec, Zone
from lockers.protocol.messages import LocalAlarm
from sensors.rules import (
    DEFAULT_LIMITS,
    ActiveAlarm,
    AlarmChange,
    SensorMonitor,
    ZoneLimits,
    observe_door,
    observe_reading,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SensorAlarmChange:
    """An alarm change of one sensor."""

    sensor: SensorSpec
    change: AlarmChange

    def describe(self) -> str:
        change = self.change
        return (
            f"{change.action} {change.severity.value} {change.kind.value} alarm of sensor {self.sensor.id} "
            f"({self.sensor.zone.value}): {change.detail}"
        )


class ColdChainWatch:
    """The rules' state of every sensor of a cabinet; only the agent's worker thread uses it."""

    def __init__(
        self,
        layout: LockerLayout,
        limits: Mapping[Zone, ZoneLimits] | None = None,
        saved: Mapping[str, dict] | None = None,
    ) -> None:
        self._sensors = {spec.id: spec for spec in layout.sensors}
        self._zones = {c.id: c.zone for c in layout.compartments}
        self._limits = {**DEFAULT_LIMITS, **(limits or {})}
        saved = saved or {}
        self._monitors = {spec.id: _restore(spec, saved.get(spec.id)) for spec in layout.sensors}
        self._unsaved: set[str] = set()

    def limits(self, zone: Zone) -> ZoneLimits:
        return self._limits[zone]

    def observe_round(self, sensor_round: SensorRound) -> list[SensorAlarmChange]:
        """Feed every reading of a sampling round, at the round's event time."""
        changes = []
        for spec, sample in sensor_round.samples:
            if spec.id not in self._monitors:
                continue
            monitor, alarm_changes = observe_reading(
                self._monitors[spec.id], self.limits(spec.zone), sensor_round.taken_at, sample.celsius, sample.quality
            )
            changes += self._update(spec, monitor, alarm_changes)
        return changes

    def observe_doors(self, doors: Mapping[str, bool], ts: datetime) -> list[SensorAlarmChange]:
        """Tell each sensor's monitor about doors of its zone whose position it does not know yet.

        Called with every door position the agent holds, after each change and once at start (a restored
        monitor may remember a door that was shut while the agent was down); repeats feed nothing."""
        changes = []
        for spec in self._sensors.values():
            for compartment, is_open in sorted(doors.items()):
                if self._zones.get(compartment) != spec.zone:
                    continue
                if (compartment in self._monitors[spec.id].doors_open) == is_open:
                    continue
                monitor, alarm_changes = observe_door(
                    self._monitors[spec.id], self.limits(spec.zone), ts, compartment, is_open
                )
                changes += self._update(spec, monitor, alarm_changes)
        return changes

    def active(self) -> list[LocalAlarm]:
        """Alarms raised and not cleared, by sensor, temperature before sensor fault."""
        alarms = []
        for sensor_id in sorted(self._monitors):
            monitor = self._monitors[sensor_id]
            for alarm in (monitor.temperature_alarm, monitor.fault_alarm):
                if alarm is not None:
                    alarms.append(_local(self._sensors[sensor_id], alarm))
        return alarms

    def unsaved(self) -> dict[str, dict]:
        """JSON of the monitors changed since the last call (to persist them)."""
        dirty, self._unsaved = self._unsaved, set()
        return {sensor_id: self._monitors[sensor_id].to_json() for sensor_id in sorted(dirty)}

    def _update(
        self, spec: SensorSpec, monitor: SensorMonitor, alarm_changes: list[AlarmChange]
    ) -> list[SensorAlarmChange]:
        if monitor != self._monitors[spec.id]:
            self._monitors[spec.id] = monitor
            self._unsaved.add(spec.id)
        return [SensorAlarmChange(spec, change) for change in alarm_changes]


def _restore(spec: SensorSpec, saved: dict | None) -> SensorMonitor:
    if saved is None:
        return SensorMonitor()
    try:
        return SensorMonitor.from_json(saved)
    except (KeyError, TypeError, ValueError) as exc:
        # A state this version cannot read must not keep the locker from starting: watch afresh.
        log.warning("forgot the saved cold-chain state of sensor %s (%s): %s", spec.id, spec.zone.value, exc)
        return SensorMonitor()


def _local(spec: SensorSpec, alarm: ActiveAlarm) -> LocalAlarm:
    return LocalAlarm(
        sensor=spec.id, zone=spec.zone, kind=alarm.kind.value, severity=alarm.severity.value, since=alarm.since
    )
