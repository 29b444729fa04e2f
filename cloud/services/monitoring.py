"""Feeding readings and door changes to the alarm rules (sensors.rules), one monitor per sensor.

Monitor states are cached in memory and written to `sensor_monitors` in the same transaction as the readings
that changed them; the cache takes the new states only once that transaction committed (`staged`), so a
rolled-back batch leaves no trace and a restarted cloud continues from the stored states.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db import dialect_insert, utcnow
from cloud.models import Locker
from cloud.models_monitoring import SensorMonitorRow
from cloud.services.aftercommit import AfterCommit
from cloud.services.alerts import Alerts
from cloud.services.coldchain import ColdChain
from cloud.services.limits import Limits
from cloud.services.readings import LockerReading, pg_execute, pg_text_array
from lockers.layout import Zone
from sensors.rules import AlarmChange, AlarmKind, SensorMonitor, ZoneLimits, observe_door, observe_reading

Key = tuple[str, str]  # (locker id, sensor id)
QUIET_WRITE_EVERY = timedelta(minutes=1)


@dataclass
class Stage:
    """Monitor states changed by the transaction in progress, and what it wrote of them."""

    states: dict[Key, tuple[Zone, SensorMonitor]] = field(default_factory=dict)
    stored: Mapping[Key, SensorMonitor] = field(default_factory=dict)  # as committed (where known)
    write_all: bool = True
    written: dict[Key, SensorMonitor] = field(default_factory=dict)

    def persist(self, session: Session) -> None:
        """Upsert the changed states that are due in one statement."""
        due = self._due()
        if not due:
            return
        if session.get_bind().dialect.name == "postgresql":
            self._persist_pg(session, due)
        else:
            self._persist_portable(session, due)
        self.written.update({key: state for key, (_zone, state) in due.items()})

    def _due(self) -> dict[Key, tuple[Zone, SensorMonitor]]:
        """Every change, except that a sensor whose last reading time alone moved on is written once a minute
        rather than on every reading: most readings change nothing else, and writing ~300 states a batch cost
        about a tenth of ingest. A restart may so resume up to a minute behind in time alone, and then judges a
        reading that arrives that late as new (it never raises or clears an alarm twice: those changes are
        always written). With several ingest processes every change is written: they share the states."""
        due = {}
        for key, (zone, state) in self.states.items():
            before = self.written.get(key) or self.stored.get(key)
            if before is state:
                continue
            if self.write_all or before is None or not _only_time_moved(before, state):
                due[key] = (zone, state)
        return due

    def _persist_portable(self, session: Session, due: dict[Key, tuple[Zone, SensorMonitor]]) -> None:
        table = SensorMonitorRow.__table__
        insert = dialect_insert(session, table)
        statement = insert.on_conflict_do_update(
            index_elements=[table.c.locker_id, table.c.sensor],
            set_={
                "zone": insert.excluded.zone,
                "state": insert.excluded.state,
                "updated_at": insert.excluded.updated_at,
            },
        )
        now = utcnow()
        rows = [
            {"locker_id": lk, "sensor": sensor, "zone": zone.value, "state": state.to_json(), "updated_at": now}
            for (lk, sensor), (zone, state) in due.items()
        ]
        session.execute(statement, rows)

    def _persist_pg(self, session: Session, due: dict[Key, tuple[Zone, SensorMonitor]]) -> None:
        """The same upsert as one prepared statement over text arrays (the generic one cost ~90 µs a row)."""
        keys = sorted(due)  # the same lock order in every ingest process
        columns = [
            pg_text_array(lk for lk, _ in keys),
            pg_text_array(sensor for _, sensor in keys),
            pg_text_array(due[key][0].value for key in keys),
            pg_text_array(json.dumps(due[key][1].to_json()) for key in keys),
        ]
        pg_execute(session, _PERSIST_PG, [utcnow(), *columns], fetch=False)


def _only_time_moved(before: SensorMonitor, after: SensorMonitor) -> bool:
    """Nothing but the last reading time changed, and by less than a minute."""
    if before.last_ts is None or after.last_ts is None or after.last_ts - before.last_ts >= QUIET_WRITE_EVERY:
        return False
    return before.at(after.last_ts) == after


_PERSIST_PG = """
INSERT INTO sensor_monitors (locker_id, sensor, zone, state, updated_at)
SELECT l, s, z, st::json, %s FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[]) AS u(l, s, z, st)
ON CONFLICT (locker_id, sensor) DO UPDATE SET
    zone = excluded.zone, state = excluded.state, updated_at = excluded.updated_at
"""


@dataclass
class Prepared:
    """The monitor states and zone limits a batch of readings needs, read before the rules run."""

    states: dict[Key, SensorMonitor]
    limits: dict[tuple[str, Zone], ZoneLimits]


@dataclass(frozen=True)
class Judged:
    """A monitor whose alarms changed, or whose open temperature alarm may have a new peak."""

    key: Key
    zone: Zone
    old: SensorMonitor
    new: SensorMonitor
    changes: list[AlarmChange]


class Monitoring:
    """The rules applied to what lockers report, and their alarm changes turned into alerts."""

    def __init__(self, limits: Limits, alerts: Alerts, coldchain: ColdChain) -> None:
        self._limits = limits
        self._alerts = alerts
        self._coldchain = coldchain
        self._states: dict[Key, SensorMonitor] = {}
        self._stored: dict[Key, SensorMonitor] = {}  # as last written to sensor_monitors (committed)
        self._lock = threading.Lock()
        # Several ingest processes share the telemetry (DK_MQTT_SHARE_GROUP): another one may have moved a monitor
        # on or read new limits, so each transaction starts from the stored states and limits (ingest locks the
        # locker rows first, so what it reads is the latest committed).
        self.shared = False

    @contextmanager
    def staged(self) -> Iterator[Stage]:
        """Wrap this AROUND the write transaction: the cache takes the states only if the block succeeds."""
        if self.shared:
            with self._lock:
                self._states.clear()
            self._limits.forget_all()
        stage = Stage(stored=self._stored, write_all=self.shared)
        yield stage
        with self._lock:
            self._states.update({key: state for key, (_zone, state) in stage.states.items()})
            self._stored.update(stage.written)

    def _preload(self, session: Session, keys: set[Key]) -> None:
        """Load the stored states of uncached monitors in one query (after a restart, a batch of many lockers)."""
        with self._lock:
            missing = {key for key in keys if key not in self._states}
        if not missing:
            return
        lockers = sorted({locker_id for locker_id, _ in missing})
        rows = session.scalars(select(SensorMonitorRow).where(SensorMonitorRow.locker_id.in_(lockers)))
        # Committed states (or none: a fresh monitor), so they may enter the cache before this transaction ends;
        # only this (ingest) thread writes monitor states.
        stored = {(r.locker_id, r.sensor): SensorMonitor.from_json(r.state) for r in rows}
        with self._lock:
            for key in missing:
                self._states.setdefault(key, stored.get(key, SensorMonitor()))
                if key in stored:
                    self._stored.setdefault(key, stored[key])

    def _state(self, session: Session, stage: Stage, key: Key) -> SensorMonitor:
        if key in stage.states:
            return stage.states[key][1]
        with self._lock:
            cached = self._states.get(key)
        if cached is not None:
            return cached
        row = session.get(SensorMonitorRow, key)
        return SensorMonitor.from_json(row.state) if row is not None else SensorMonitor()

    def observe_readings(
        self, session: Session, after: AfterCommit, stage: Stage, batch: Sequence[LockerReading]
    ) -> None:
        """Feed readings in time order (each sensor's monitor ignores what is older than it has seen)."""
        judged = self.judge_readings(stage, batch, self.prepare(session, batch))
        stage.persist(session)
        self.apply(session, after, judged)

    def prepare(self, session: Session, batch: Sequence[LockerReading]) -> Prepared:
        """Everything `judge_readings` needs from the database: monitor states and zone limits (mostly cached)."""
        keys: set[Key] = set()
        zones: set[tuple[str, Zone]] = set()
        for locker_id, reading in batch:
            keys.add((locker_id, reading.sensor))
            zones.add((locker_id, reading.zone))
        self._preload(session, keys)
        self._limits.preload(session, {locker_id for locker_id, _ in zones})
        with self._lock:
            states = {key: self._states.get(key) for key in keys}
        for key, state in states.items():
            if state is None:  # not cached after all (a race with a restart of the cache): read it
                states[key] = self._state(session, Stage(), key)
        return Prepared(
            states=states,
            limits={(lk, zone): self._limits.for_zone(session, lk, zone) for lk, zone in zones},
        )

    def judge_readings(self, stage: Stage, batch: Sequence[LockerReading], prepared: Prepared) -> list[Judged]:
        """Run the rules over the batch in time order, touching no database (ingest overlaps this with its
        statements); the new states go into `stage`, the alarm changes come back for `apply`."""
        states, limits_of = prepared.states, prepared.limits
        for key, (_zone, state) in stage.states.items():
            if key in states:
                states[key] = state  # changed earlier in this transaction
        judged: list[Judged] = []
        for locker_id, reading in sorted(batch, key=lambda item: item[1].ts):
            key = (locker_id, reading.sensor)
            old = states[key]
            limits = limits_of[(locker_id, reading.zone)]
            new, changes = observe_reading(old, limits, reading.ts, reading.celsius, reading.quality)
            if new is old:  # the rules hand back the very same state when nothing changed
                continue
            states[key] = new
            stage.states[key] = (reading.zone, new)
            if changes or old.temperature_alarm is not None or new.temperature_alarm is not None:
                judged.append(Judged(key, reading.zone, old, new, changes))
        return judged

    def apply(self, session: Session, after: AfterCommit, judged: Sequence[Judged]) -> None:
        """Turn alarm changes into alerts (and track peaks of open temperature alarms)."""
        for item in judged:
            self._changed(session, after, None, item.key, item.zone, item.old, item.new, item.changes)

    def observe_door(
        self, session: Session, after: AfterCommit, stage: Stage, locker: Locker, compartment_id: str, ts, is_open: bool
    ) -> None:
        """A door of a compartment opened or closed: every monitor of that compartment's zone hears of it."""
        compartment = next((c for c in locker.compartments if c.id == compartment_id), None)
        if compartment is None:
            return
        zone = Zone(compartment.zone)
        for sensor in self._sensors_of(session, locker, zone):
            key = (locker.id, sensor)
            old = self._state(session, stage, key)
            limits = self._limits.for_zone(session, locker.id, zone)
            new, changes = observe_door(old, limits, ts, compartment_id, is_open)
            self._changed(session, after, stage, key, zone, old, new, changes)
        stage.persist(session)

    def _sensors_of(self, session: Session, locker: Locker, zone: Zone) -> list[str]:
        """Sensors of the layout in this zone, and any other sensor that reported readings of it."""
        sensors = {s["id"] for s in (locker.layout or {}).get("sensors", []) if s.get("zone") == zone.value}
        stored = session.scalars(
            select(SensorMonitorRow.sensor).where(
                SensorMonitorRow.locker_id == locker.id, SensorMonitorRow.zone == zone.value
            )
        )
        return sorted(sensors | set(stored))

    def _changed(
        self,
        session: Session,
        after: AfterCommit,
        stage: Stage | None,
        key: Key,
        zone: Zone,
        old: SensorMonitor,
        new: SensorMonitor,
        changes: list[AlarmChange],
    ) -> None:
        if stage is not None and new is not old:  # the rules hand back the very same state when nothing changed
            stage.states[key] = (zone, new)
        locker_id, sensor = key
        for change in changes:
            alert = self._alerts.apply(session, after, locker_id, zone.value, sensor, change)
            if alert is not None and change.action == "raised" and change.kind is AlarmKind.TEMPERATURE:
                self._coldchain.alert_raised(session, after, alert)
        peak = _peak(new)
        if peak is not None and peak != _peak(old):
            self._alerts.track_peak(session, locker_id, sensor, AlarmKind.TEMPERATURE, peak)


def _peak(state: SensorMonitor) -> float | None:
    """The highest temperature of the excursion behind the open temperature alarm (None without one)."""
    alarm = state.temperature_alarm
    if alarm is None:
        return None
    values = [v for v in (alarm.peak_c, state.excursion_peak_c) if v is not None]
    return max(values, default=None)
