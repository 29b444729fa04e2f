"""Lockers: registration with their layout, and the status view (online, doors, temperatures, occupancy,
event numbering)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from cloud.db import Database, utcnow
from cloud.errors import Conflict, NotFound
from cloud.lifecycle import HOLDS_COMPARTMENTS, OrderKind, OrderStatus
from cloud.models import Compartment, EdgeEvent, LatestReading, Locker, Order, OrderPart
from cloud.models_edge import EventStream
from cloud.presence import PresenceRule
from cloud.schemas import CompartmentOut, EventsOut, GeoPoint, LockerCreate, LockerOut, LockerUpdate, ZoneOut
from cloud.schemas_edge import EventGapsOut
from cloud.services import audit, streams, views
from cloud.services.access import Admin, Caller, vendor_scope
from cloud.services.desired import DesiredStates
from lockers.codes import new_pin_salt
from lockers.layout import Size, Zone, is_locker_id
from lockers.protocol.messages import EventKind, Quality


class Lockers:
    """The locker use cases behind /api/v1/lockers."""

    def __init__(self, db: Database, desired: DesiredStates, presence: PresenceRule, gap_alert_after_s: float) -> None:
        self._db = db
        self._desired = desired
        self._presence = presence
        self._gap_alert_after = timedelta(seconds=gap_alert_after_s)

    def register(self, request: LockerCreate) -> LockerOut:
        """Add a locker and its compartments with its first desired state (its PIN salt) in one transaction, then
        publish that state. A new locker has no readings, orders or events: its status needs no query."""
        pin_salt = new_pin_salt()
        with self._desired.first(request.id, pin_salt) as desired, self._db.write() as session:
            if session.get(Locker, request.id) is not None:
                raise Conflict(f"locker {request.id!r} already exists")
            locker = Locker(
                id=request.id,
                name=request.name,
                village=request.village,
                address=request.address,
                latitude=request.location.lat if request.location else None,
                longitude=request.location.lon if request.location else None,
                layout=request.layout.model_dump(mode="json"),
                pin_salt=pin_salt,
                desired_version=desired.version,
                online=False,
            )
            locker.compartments = [
                Compartment(id=c.id, zone=c.zone.value, size=c.size.value, accessible=c.accessible, door="unknown")
                for c in sorted(request.layout.compartments, key=lambda c: c.id)  # the relationship's order
            ]
            session.add(locker)
        return self._out(Admin(), locker, _zone_temperatures(locker, []), {}, {}, None, utcnow())

    def update(self, actor: str, locker_id: str, change: LockerUpdate) -> LockerOut:
        """Change the locker's name or where residents find it; audited with the old and new values."""
        with self._db.write() as session:
            locker = find_locker(session, locker_id)
            old, new = _place(locker), {}
            for field in change.model_fields_set:
                if field == "location":
                    point = change.location
                    locker.latitude, locker.longitude = (point.lat, point.lon) if point else (None, None)
                else:
                    setattr(locker, field, getattr(change, field))
            new = _place(locker)
            if new != old:
                audit.record(session, actor, "locker.updated", f"locker:{locker.id}", old, new)
            return self.status(session, Admin(), locker.id)

    def list(self, session: Session, caller: Caller) -> list[LockerOut]:
        """Every locker's status in a handful of queries, however many lockers (10,000 on one node): each per-locker
        lookup of `status` is made once for all of them here."""
        lockers = session.scalars(select(Locker).order_by(Locker.id).options(selectinload(Locker.compartments))).all()
        latest: dict[str, list[LatestReading]] = defaultdict(list)
        for reading in session.scalars(select(LatestReading)):
            latest[reading.locker_id].append(reading)
        now = utcnow()
        occupancy = _holders(session, None, now)
        streams_by_id = {row.locker_id: row for row in session.scalars(select(EventStream))}
        return [
            self._out(
                caller,
                locker,
                _zone_temperatures(locker, latest.get(locker.id, [])),
                *occupancy.get(locker.id, ({}, {})),
                streams_by_id.get(locker.id),
                now,
            )
            for locker in lockers
        ]

    def status(self, session: Session, caller: Caller, locker_id: str) -> LockerOut:
        locker = find_locker(session, locker_id)
        latest = session.scalars(select(LatestReading).where(LatestReading.locker_id == locker.id)).all()
        now = utcnow()
        holders, later = _holders(session, locker.id, now).get(locker.id, ({}, {}))
        stream = session.get(EventStream, locker.id) if isinstance(caller, Admin) else None
        return self._out(caller, locker, _zone_temperatures(locker, latest), holders, later, stream, now)

    def _out(
        self,
        caller: Caller,
        locker: Locker,
        zones: dict[Zone, ZoneOut],
        holders: Holders,
        later: dict[str, datetime],
        stream: EventStream | None,
        now: datetime,
    ) -> LockerOut:
        compartments = []
        for comp in locker.compartments:
            held = holders.get(comp.id)
            order_id, vendors, status = held if held else (None, set(), "free")
            scope = vendor_scope(caller)
            visible = scope is None or not scope.isdisjoint(vendors)
            compartments.append(
                CompartmentOut(
                    id=comp.id,
                    zone=Zone(comp.zone),
                    size=Size(comp.size),
                    accessible=comp.accessible,
                    occupied=held is not None,
                    order=order_id if visible else None,
                    status=status,
                    booked_from=later.get(comp.id) if held is None else None,
                    door=comp.door,
                    celsius=zones[Zone(comp.zone)].celsius if Zone(comp.zone) in zones else None,
                )
            )
        seen = self._presence.of(locker.online, locker.last_seen, now)
        return LockerOut(
            id=locker.id,
            name=locker.name,
            village=locker.village,
            address=locker.address,
            location=location_of(locker),
            online=seen.online,
            last_seen=locker.last_seen,
            heartbeat_age_s=seen.heartbeat_age_s,
            agent=locker.agent,
            desired_version=locker.desired_version,
            reported_version=locker.reported_version,
            zones=list(zones.values()),
            compartments=compartments,
            events=streams.stream_out(streams.numbering_of(stream)) if isinstance(caller, Admin) else None,
        )

    def events(self, session: Session, locker_id: str, kind: EventKind | None, limit: int) -> EventsOut:
        """Recorded edge events, newest first."""
        find_locker(session, locker_id)
        query = select(EdgeEvent).where(EdgeEvent.locker_id == locker_id)
        if kind is not None:
            query = query.where(EdgeEvent.kind == kind.value)
        # Newest numbering first: after a restart of the locker's numbering, low numbers are the new ones.
        query = query.order_by(EdgeEvent.numbering.desc(), EdgeEvent.seq.desc(), EdgeEvent.pk.desc()).limit(limit)
        return EventsOut(locker=locker_id, events=[views.event_out(event) for event in session.scalars(query)])

    def gaps(self, session: Session, locker_id: str) -> EventGapsOut:
        """The locker's event numbering with each missing range in detail."""
        locker = find_locker(session, locker_id)
        return streams.gaps_view(session, locker.id, utcnow(), self._gap_alert_after)


def location_of(locker: Locker) -> GeoPoint | None:
    """The locker's map point, if the foundation entered one."""
    if locker.latitude is None or locker.longitude is None:
        return None
    return GeoPoint(lat=locker.latitude, lon=locker.longitude)


def _place(locker: Locker) -> dict:
    return {
        "name": locker.name,
        "village": locker.village,
        "address": locker.address,
        "location": [locker.latitude, locker.longitude] if locker.latitude is not None else None,
    }


def find_locker(session: Session, locker_id: str) -> Locker:
    """The locker with this id, or NotFound; ill-formed ids never reach the database."""
    locker = session.get(Locker, locker_id) if is_locker_id(locker_id) else None
    if locker is None:
        raise NotFound(f"no locker {locker_id!r}")
    return locker


Holders = dict[str, tuple[str, set[str], str]]  # compartment -> (order, its vendors, what it waits for)


def _holders(session: Session, locker_id: str | None, now: datetime) -> dict[str, tuple[Holders, dict[str, datetime]]]:
    """Per locker (one, or all with None): per compartment held now, the order, its vendors, and what the
    compartment is waiting for; and per compartment free now but booked for a later drop-off window, when that
    booking starts (the earliest)."""
    query = (
        select(
            Order.locker_id,
            OrderPart.compartment_id,
            OrderPart.vendor_id,
            OrderPart.loaded_at,
            Order.id,
            Order.status,
            Order.kind,
            Order.dropoff_from,
        )
        .join(Order, Order.id == OrderPart.order_id)
        .where(Order.status.in_(HOLDS_COMPARTMENTS), OrderPart.compartment_id.is_not(None))
    )
    if locker_id is not None:
        query = query.where(Order.locker_id == locker_id)
    found: dict[str, tuple[Holders, dict[str, datetime]]] = defaultdict(lambda: ({}, {}))
    for locker, compartment, vendor, loaded_at, order_id, order_status, kind, opens in session.execute(query).all():
        holders, later = found[locker]
        if order_status == OrderStatus.ASSIGNED and loaded_at is None and opens is not None and opens > now:
            later[compartment] = min(opens, later.get(compartment, opens))
            continue
        if order_status == OrderStatus.ASSIGNED:
            status = "loaded" if loaded_at else "reserved"
        elif order_status == OrderStatus.EXPIRED:
            status = "expired"
        elif kind == OrderKind.RETURN:
            status = "return"  # crates brought back, waiting for the vendor
        else:
            status = "ready"
        previous = holders.get(compartment)
        vendors = (previous[1] if previous else set()) | {vendor}
        holders[compartment] = (order_id, vendors, status)
    return found


def _zone_temperatures(locker: Locker, latest: Sequence[LatestReading]) -> dict[Zone, ZoneOut]:
    """Per zone of the locker, its newest usable reading (or the newest fault when no sensor reads); `latest`: the
    locker's rows of latest readings."""
    zones: dict[Zone, ZoneOut] = {}
    for zone in sorted({Zone(c.zone) for c in locker.compartments}, key=list(Zone).index):
        readings = [r for r in latest if r.zone == zone.value]
        usable = [r for r in readings if r.quality == Quality.OK]
        pick = max(usable or readings, key=lambda r: r.ts, default=None)
        zones[zone] = ZoneOut(
            zone=zone,
            celsius=pick.celsius if pick else None,
            quality=pick.quality if pick else None,
            ts=pick.ts if pick else None,
        )
    return zones
