"""Zone limits per locker: the defaults of sensors.rules unless an admin changed them (audited, applied at once)."""

from __future__ import annotations

import dataclasses
import threading

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db import Database, utcnow
from cloud.errors import InvalidRequest
from cloud.models import Locker
from cloud.models_monitoring import ZoneLimitsRow
from cloud.schemas_monitoring import LockerLimitsOut, ZoneLimitsOut, ZoneLimitsUpdate
from cloud.services import audit
from cloud.services.lockers import find_locker
from lockers.layout import Zone
from sensors.rules import DEFAULT_LIMITS, ZoneLimits

EDITABLE = ("limit_c", "critical_c", "delay_s", "hysteresis_c", "door_grace_s")


def effective(zone: Zone, row: ZoneLimitsRow | None) -> ZoneLimits:
    """The limits that apply: the zone's defaults, overridden by the stored row."""
    base = DEFAULT_LIMITS[zone]
    if row is None:
        return base
    return dataclasses.replace(base, **{name: getattr(row, name) for name in EDITABLE})


def limits_json(limits: ZoneLimits) -> dict:
    return {name: getattr(limits, name) for name in EDITABLE}


class Limits:
    """Reads limits through a small cache (ingest asks for every reading) that updates drop at once."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache: dict[tuple[str, Zone], ZoneLimits] = {}
        self._lock = threading.Lock()
        self._generation = 0

    def for_zone(self, session: Session, locker_id: str, zone: Zone) -> ZoneLimits:
        """The limits of `zone` at `locker_id`, as of the latest committed change."""
        key = (locker_id, zone)
        with self._lock:
            cached = self._cache.get(key)
            generation = self._generation
        if cached is not None:
            return cached
        limits = effective(zone, session.get(ZoneLimitsRow, (locker_id, zone.value)))
        with self._lock:
            # An update committed while we read may have made what we read stale: do not cache it then.
            if generation == self._generation:
                self._cache[key] = limits
        return limits

    def forget_all(self) -> None:
        """Drop the whole cache (another process may have changed limits)."""
        with self._lock:
            self._cache.clear()
            self._generation += 1

    def preload(self, session: Session, locker_ids: set[str]) -> None:
        """Cache the limits of every zone of these lockers with one query (ingest of many lockers at once)."""
        with self._lock:
            missing = sorted({lk for lk in locker_ids if any((lk, zone) not in self._cache for zone in Zone)})
            generation = self._generation
        if not missing:
            return
        rows = session.scalars(select(ZoneLimitsRow).where(ZoneLimitsRow.locker_id.in_(missing)))
        stored = {(row.locker_id, Zone(row.zone)): row for row in rows}
        with self._lock:
            if generation != self._generation:
                return  # a change committed meanwhile; read one by one instead
            for locker_id in missing:
                for zone in Zone:
                    self._cache.setdefault((locker_id, zone), effective(zone, stored.get((locker_id, zone))))

    def view(self, session: Session, locker_id: str) -> LockerLimitsOut:
        locker = find_locker(session, locker_id)
        return LockerLimitsOut(locker=locker.id, zones=[self._zone_out(session, locker, z) for z in _zones(locker)])

    @staticmethod
    def _zone_out(session: Session, locker: Locker, zone: Zone) -> ZoneLimitsOut:
        row = session.get(ZoneLimitsRow, (locker.id, zone.value))
        return ZoneLimitsOut(
            zone=zone,
            **limits_json(effective(zone, row)),
            custom=row is not None,
            updated_at=row.updated_at if row else None,
        )

    def update(self, actor: str, locker_id: str, zone: Zone, change: ZoneLimitsUpdate) -> ZoneLimitsOut:
        """Apply the fields sent, check the result, store it with an audit entry, and drop the cached copy."""
        with self._db.write() as session:
            locker = find_locker(session, locker_id)
            if zone not in _zones(locker):
                raise InvalidRequest(f"locker {locker.id} has no {zone} compartments")
            row = session.get(ZoneLimitsRow, (locker.id, zone.value), with_for_update=True)
            old = effective(zone, row)
            new = dataclasses.replace(old, **{name: getattr(change, name) for name in change.model_fields_set})
            _check(new)
            if row is None:
                row = ZoneLimitsRow(locker_id=locker.id, zone=zone.value)
                session.add(row)
            for name in EDITABLE:
                setattr(row, name, getattr(new, name))
            row.updated_at = utcnow()
            audit.record(
                session, actor, "limits.changed", f"limits:{locker.id}/{zone}", limits_json(old), limits_json(new)
            )
            session.flush()
            result = self._zone_out(session, locker, zone)
        self.forget(locker.id, zone)
        return result

    def forget(self, locker_id: str, zone: Zone) -> None:
        with self._lock:
            self._generation += 1
            self._cache.pop((locker_id, zone), None)


def _zones(locker: Locker) -> list[Zone]:
    present = {Zone(c.zone) for c in locker.compartments}
    return [zone for zone in Zone if zone in present]


def _check(limits: ZoneLimits) -> None:
    if limits.limit_c is not None and limits.critical_c is not None and limits.critical_c < limits.limit_c:
        raise InvalidRequest(
            f"critical_c ({limits.critical_c} °C) must not be below limit_c ({limits.limit_c} °C): "
            "critical means further above the limit"
        )
