"""Feeding readings and door changes to the alarm rules (sensors.rules), one monitor per sensor.

Monitor states are cached in memory and written to `sensor_monitors` in the same transaction as the readings
that changed them; the cache takes the new states only once that transaction committed (`staged`), so a
rolled-back batch leaves no trace and a restarted cloud continues from the stored states.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

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
from sensors.rules import AlarmChange, AlarmKind, SensorMonitor, observe_door, observe_reading

Key = tuple[str, str]  # (locker id, sensor id)


@dataclass
class Stage:
    """Monitor states changed by the transaction in progress."""

    states: dict[Key, tuple[Zone, SensorMonitor]] = field(default_factory=dict)

    def persist(self, session: Session) -> None:
        """Upsert every changed state in one statement."""
        if not self.states:
            return
        if session.get_bind().dialect.name == "postgresql":
            self._persist_pg(session)
            return
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
            for (lk, sensor), (zone, state) in self.states.items()
        ]
        session.execute(statement, rows)

    def _persist_pg(self, session: Session) -> None:
        """The same upsert as one prepared statement over text arrays (the generic one cost ~90 µs a row)."""
        keys = sorted(self.states)  # the same lock order in every ingest process
        columns = [
            pg_text_array(lk for lk, _ in keys),
            pg_text_array(sensor for _, sensor in keys),
            pg_text_array(self.states[key][0].value for key in keys),
            pg_text_array(json.dumps(self.states[key][1].to_json()) for key in keys),
        ]
        pg_execute(session, _PERSIST_PG, [utcnow(), *columns])


_PERSIST_PG = """
INSERT INTO sensor_monitors (locker_id, sensor, zone, state, updated_at)
SELECT l, s, z, st::json, %s FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[]) AS u(l, s, z, st)
ON CONFLICT (locker_id, sensor) DO UPDATE SET
    zone = excluded.zone, state = excluded.state, updated_at = excluded.updated_at
"""


class Monitoring:
    """The rules applied to what lockers report, and their alarm changes turned into alerts."""

    def __init__(self, limits: Limits, alerts: Alerts, coldchain: ColdChain) -> None:
        self._limits = limits
        self._alerts = alerts
        self._coldchain = coldchain
        self._states: dict[Key, SensorMonitor] = {}
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
        stage = Stage()
        yield stage
        with self._lock:
            self._states.update({key: state for key, (_zone, state) in stage.states.items()})

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
        self._preload(session, {(locker_id, reading.sensor) for locker_id, reading in batch})
        self._limits.preload(session, {locker_id for locker_id, _ in batch})
        for locker_id, reading in sorted(batch, key=lambda item: item[1].ts):
            key = (locker_id, reading.sensor)
            old = self._state(session, stage, key)
            limits = self._limits.for_zone(session, locker_id, reading.zone)
            new, changes = observe_reading(old, limits, reading.ts, reading.celsius, reading.quality)
            self._changed(session, after, stage, key, reading.zone, old, new, changes)
        stage.persist(session)

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
        stage: Stage,
        key: Key,
        zone: Zone,
        old: SensorMonitor,
        new: SensorMonitor,
        changes: list[AlarmChange],
    ) -> None:
        if new != old:
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
