"""Cold-chain alarm rules shared by edge and cloud; pure, and driven only by the observations' own timestamps.

One `SensorMonitor` state per temperature sensor. `observe_reading` and `observe_door` take the state, the
zone's `ZoneLimits` and one observation, and return the new state plus the alarm changes it causes:

- **Temperature**: an excursion starts with the first reading above `limit_c` and ends only when a reading is
  at or below `limit_c - hysteresis_c`, so a temperature hovering around the limit is one excursion. An
  excursion that lasts `delay_s` raises one alarm (`delay_s + door_grace_s` when it began while a door of the
  zone was open, or within `door_grace_s` after one closed: warm air from loading is expected). The alarm is
  warning or critical (above `critical_c`) and escalates, never repeats, while the excursion lasts; it clears
  when the excursion ends. A new excursion needs the full delay again: no flapping.
- **Sensor fault**: `fault_min_count` unusable readings (CRC error, 85.000 reset, failed conversion,
  disconnected) within `fault_window_s` raise one sensor-fault alarm, kept apart from temperature alarms;
  it clears once `fault_window_s` passes with usable readings only. Unusable readings never move the
  temperature excursion.
- Readings older than the last one seen are ignored (at-least-once delivery may repeat them).

Offline (no readings at all) is decided by whoever has a wall clock: see `AlarmKind.OFFLINE`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Literal

from lockers.layout import Zone
from lockers.protocol.messages import Quality


class AlarmKind(StrEnum):
    """What an alarm is about; temperature alarms are kept apart from faults of the measurement itself."""

    TEMPERATURE = "temperature"
    SENSOR_FAULT = "sensor_fault"
    OFFLINE = "offline"  # a locker or sensor stopped reporting (decided by the cloud on its wall clock)


class Severity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class ZoneLimits:
    """The limits and timings of one temperature zone (defaults from DESIGN.md, configurable per locker)."""

    zone: Zone
    limit_c: float | None  # an excursion is a reading above this; None: no temperature alarm (ambient)
    critical_c: float | None = None  # above this the alarm is critical; None: critical only if limit is None
    target_c: float | None = None  # what the thermostat aims for; reported, never alarmed
    delay_s: float = 900.0
    hysteresis_c: float = 0.5
    door_grace_s: float = 300.0
    fault_window_s: float = 600.0
    fault_min_count: int = 3

    def severity_for(self, celsius: float) -> Severity:
        """Critical above `critical_c`, else warning."""
        return Severity.CRITICAL if self.critical_c is not None and celsius > self.critical_c else Severity.WARNING


DEFAULT_LIMITS: dict[Zone, ZoneLimits] = {
    # Dutch food law: chilled food at most 7 °C (the thermostat aims for 4 °C); any breach is critical.
    Zone.CHILLED: ZoneLimits(Zone.CHILLED, limit_c=7.0, critical_c=7.0, target_c=4.0),
    # Frozen at -18 °C or colder; brief rises up to -15 °C are tolerated (warning), above -15 °C is critical.
    Zone.FROZEN: ZoneLimits(Zone.FROZEN, limit_c=-18.0, critical_c=-15.0, target_c=-20.0),
    # Ambient shelves have no upper limit for food safety; only their sensors' faults are watched.
    Zone.AMBIENT: ZoneLimits(Zone.AMBIENT, limit_c=None),
}


@dataclass(frozen=True, slots=True)
class ActiveAlarm:
    """An alarm that is raised and not yet cleared, as the monitor sees it."""

    kind: AlarmKind
    severity: Severity
    since: datetime  # event time the alarm was raised
    peak_c: float | None = None


@dataclass(frozen=True, slots=True)
class AlarmChange:
    """What an observation did to the alarms of a sensor."""

    action: Literal["raised", "escalated", "cleared"]
    kind: AlarmKind
    severity: Severity
    at: datetime  # event time
    celsius: float | None
    detail: str  # one plain sentence for people, e.g. "chilled zone above 7.0 °C for 15 min (peak 9.3 °C)"


@dataclass(frozen=True, slots=True)
class SensorMonitor:
    """Everything the rules remember about one sensor; serialisable so alarm state survives a restart."""

    last_ts: datetime | None = None
    excursion_since: datetime | None = None
    excursion_peak_c: float | None = None
    excursion_door_related: bool = False
    doors_open: frozenset[str] = frozenset()
    door_closed_at: datetime | None = None
    temperature_alarm: ActiveAlarm | None = None
    fault_times: tuple[datetime, ...] = ()
    fault_alarm: ActiveAlarm | None = None

    @property
    def quiet(self) -> bool:
        """No excursion, no recent unusable reading, no alarm: the usual state of a sensor."""
        return self.excursion_since is None and not self.fault_times and self.fault_alarm is None

    def at(self, ts: datetime) -> SensorMonitor:
        """This state with `last_ts` moved on (cheaper than dataclasses.replace, which checks every field)."""
        return SensorMonitor(
            ts,
            self.excursion_since,
            self.excursion_peak_c,
            self.excursion_door_related,
            self.doors_open,
            self.door_closed_at,
            self.temperature_alarm,
            self.fault_times,
            self.fault_alarm,
        )

    def to_json(self) -> dict:
        """A JSON-ready dict (ISO timestamps)."""
        return {
            "last_ts": _iso(self.last_ts),
            "excursion_since": _iso(self.excursion_since),
            "excursion_peak_c": self.excursion_peak_c,
            "excursion_door_related": self.excursion_door_related,
            "doors_open": sorted(self.doors_open),
            "door_closed_at": _iso(self.door_closed_at),
            "temperature_alarm": _alarm_json(self.temperature_alarm),
            "fault_times": [t.isoformat() for t in self.fault_times],
            "fault_alarm": _alarm_json(self.fault_alarm),
        }

    @classmethod
    def from_json(cls, data: dict) -> SensorMonitor:
        return cls(
            last_ts=_parse(data.get("last_ts")),
            excursion_since=_parse(data.get("excursion_since")),
            excursion_peak_c=data.get("excursion_peak_c"),
            excursion_door_related=bool(data.get("excursion_door_related", False)),
            doors_open=frozenset(data.get("doors_open", ())),
            door_closed_at=_parse(data.get("door_closed_at")),
            temperature_alarm=_alarm_from(data.get("temperature_alarm")),
            fault_times=tuple(datetime.fromisoformat(t) for t in data.get("fault_times", ())),
            fault_alarm=_alarm_from(data.get("fault_alarm")),
        )


def observe_reading(
    state: SensorMonitor, limits: ZoneLimits, ts: datetime, celsius: float | None, quality: Quality
) -> tuple[SensorMonitor, list[AlarmChange]]:
    """Feed one reading (event time `ts`) to the monitor."""
    if state.last_ts is not None and ts <= state.last_ts:
        return state, []  # a repeat or a straggler: the rules only move forward in event time
    usable = quality is Quality.OK and celsius is not None
    if usable and state.quiet and (limits.limit_c is None or celsius <= limits.limit_c):
        # Nearly every reading of a fleet: nothing but time moves on (the full path below would conclude the
        # same at several times the cost; tests/sensors/test_rules.py compares the two).
        return state.at(ts), []
    return _observe_fully(state, limits, ts, celsius, quality, usable)


def _observe_fully(
    state: SensorMonitor, limits: ZoneLimits, ts: datetime, celsius: float | None, quality: Quality, usable: bool
) -> tuple[SensorMonitor, list[AlarmChange]]:
    state = replace(state, last_ts=ts)
    state, changes = _fault_rule(state, limits, ts, usable, quality)
    if usable and limits.limit_c is not None:
        state, more = _temperature_rule(state, limits, ts, celsius)
        changes += more
    return state, changes


def observe_door(
    state: SensorMonitor, limits: ZoneLimits, ts: datetime, compartment: str, is_open: bool
) -> tuple[SensorMonitor, list[AlarmChange]]:
    """Feed a door change of a compartment in the sensor's zone (event time `ts`)."""
    if is_open:
        return replace(state, doors_open=state.doors_open | {compartment}), []
    remaining = state.doors_open - {compartment}
    closed_at = state.door_closed_at
    if not remaining:  # the last open door of the zone shut: the grace period runs from here
        closed_at = ts if closed_at is None else max(closed_at, ts)
    return replace(state, doors_open=remaining, door_closed_at=closed_at), []


def _temperature_rule(
    state: SensorMonitor, limits: ZoneLimits, ts: datetime, celsius: float
) -> tuple[SensorMonitor, list[AlarmChange]]:
    limit = limits.limit_c
    assert limit is not None
    if state.excursion_since is None:
        if celsius <= limit:
            return state, []
        state = replace(
            state,
            excursion_since=ts,
            excursion_peak_c=celsius,
            excursion_door_related=_door_recent(state, limits, ts),
        )
    elif celsius <= limit - limits.hysteresis_c:
        return _end_excursion(state, limits, ts, celsius)
    else:
        state = replace(state, excursion_peak_c=max(state.excursion_peak_c or celsius, celsius))
    peak = state.excursion_peak_c if state.excursion_peak_c is not None else celsius
    alarm = state.temperature_alarm
    if alarm is None:
        delay = limits.delay_s + (limits.door_grace_s if state.excursion_door_related else 0.0)
        if (ts - state.excursion_since).total_seconds() < delay:
            return state, []
        severity = limits.severity_for(peak)
        raised = ActiveAlarm(AlarmKind.TEMPERATURE, severity, ts, peak)
        minutes = (ts - state.excursion_since).total_seconds() / 60
        detail = f"{limits.zone} zone above {limit:g} °C for {minutes:.0f} min (peak {peak:.1f} °C)"
        return replace(state, temperature_alarm=raised), [
            AlarmChange("raised", AlarmKind.TEMPERATURE, severity, ts, celsius, detail)
        ]
    severity = limits.severity_for(peak)
    if _RANK[severity] > _RANK[alarm.severity]:
        escalated = replace(alarm, severity=severity, peak_c=peak)
        detail = f"{limits.zone} zone reached {peak:.1f} °C, above {limits.critical_c:g} °C"
        return replace(state, temperature_alarm=escalated), [
            AlarmChange("escalated", AlarmKind.TEMPERATURE, severity, ts, celsius, detail)
        ]
    return replace(state, temperature_alarm=replace(alarm, peak_c=peak)), []


def _end_excursion(
    state: SensorMonitor, limits: ZoneLimits, ts: datetime, celsius: float
) -> tuple[SensorMonitor, list[AlarmChange]]:
    alarm = state.temperature_alarm
    cleared = replace(
        state, excursion_since=None, excursion_peak_c=None, excursion_door_related=False, temperature_alarm=None
    )
    if alarm is None:
        return cleared, []
    detail = f"{limits.zone} zone back at {celsius:.1f} °C (peak was {alarm.peak_c:.1f} °C)"
    return cleared, [AlarmChange("cleared", AlarmKind.TEMPERATURE, alarm.severity, ts, celsius, detail)]


def _door_recent(state: SensorMonitor, limits: ZoneLimits, ts: datetime) -> bool:
    """A door of the zone is open, or closed less than the grace period ago: warm air was let in."""
    if state.doors_open:
        return True
    return state.door_closed_at is not None and (ts - state.door_closed_at).total_seconds() <= limits.door_grace_s


def _fault_rule(
    state: SensorMonitor, limits: ZoneLimits, ts: datetime, usable: bool, quality: Quality
) -> tuple[SensorMonitor, list[AlarmChange]]:
    recent = tuple(t for t in state.fault_times if (ts - t).total_seconds() < limits.fault_window_s)
    if not usable:
        recent += (ts,)
        state = replace(state, fault_times=recent)
        if state.fault_alarm is None and len(recent) >= limits.fault_min_count:
            alarm = ActiveAlarm(AlarmKind.SENSOR_FAULT, Severity.WARNING, ts)
            window = limits.fault_window_s / 60
            detail = f"{limits.zone} sensor gave {len(recent)} unusable readings in {window:g} min ({quality})"
            return replace(state, fault_alarm=alarm), [
                AlarmChange("raised", AlarmKind.SENSOR_FAULT, Severity.WARNING, ts, None, detail)
            ]
        return state, []
    state = replace(state, fault_times=recent)
    if state.fault_alarm is not None and not recent:
        detail = f"{limits.zone} sensor readings usable again"
        return replace(state, fault_alarm=None), [
            AlarmChange("cleared", AlarmKind.SENSOR_FAULT, state.fault_alarm.severity, ts, None, detail)
        ]
    return state, []


_RANK = {Severity.WARNING: 1, Severity.CRITICAL: 2}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _alarm_json(alarm: ActiveAlarm | None) -> dict | None:
    if alarm is None:
        return None
    return {
        "kind": alarm.kind.value,
        "severity": alarm.severity.value,
        "since": alarm.since.isoformat(),
        "peak_c": alarm.peak_c,
    }


def _alarm_from(data: dict | None) -> ActiveAlarm | None:
    if not data:
        return None
    return ActiveAlarm(
        AlarmKind(data["kind"]), Severity(data["severity"]), datetime.fromisoformat(data["since"]), data.get("peak_c")
    )
