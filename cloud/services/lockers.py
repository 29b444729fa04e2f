"""Lockers: registration with their layout, and the status view (online, doors, temperatures, occupancy,
event numbering)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db import Database, utcnow
from cloud.errors import Conflict, NotFound
from cloud.lifecycle import HOLDS_COMPARTMENTS, OrderStatus
from cloud.models import Compartment, EdgeEvent, LatestReading, Locker, Order, OrderPart
from cloud.presence import PresenceRule
from cloud.schemas import CompartmentOut, EventsOut, LockerCreate, LockerOut, ZoneOut
from cloud.schemas_edge import EventGapsOut
from cloud.services import streams, views
from cloud.services.access import Admin, Caller, VendorCaller
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
        """Add a locker and its compartments, then publish its first desired state (with its PIN salt)."""
        with self._db.write() as session:
            if session.get(Locker, request.id) is not None:
                raise Conflict(f"locker {request.id!r} already exists")
            locker = Locker(
                id=request.id,
                name=request.name,
                village=request.village,
                layout=request.layout.model_dump(mode="json"),
                pin_salt=new_pin_salt(),
                desired_version=0,
                online=False,
            )
            locker.compartments = [
                Compartment(id=c.id, zone=c.zone.value, size=c.size.value, accessible=c.accessible, door="unknown")
                for c in request.layout.compartments
            ]
            session.add(locker)
        self._desired.publish(request.id)
        with self._db.read() as session:
            return self.status(session, Admin(), request.id)

    def list(self, session: Session, caller: Caller) -> list[LockerOut]:
        ids = session.scalars(select(Locker.id).order_by(Locker.id)).all()
        return [self.status(session, caller, locker_id) for locker_id in ids]

    def status(self, session: Session, caller: Caller, locker_id: str) -> LockerOut:
        locker = find_locker(session, locker_id)
        zones = _zone_temperatures(session, locker)
        holders = _holders(session, locker.id)
        compartments = []
        for comp in locker.compartments:
            held = holders.get(comp.id)
            order_id, vendors, status = held if held else (None, set(), "free")
            visible = isinstance(caller, Admin) or (isinstance(caller, VendorCaller) and caller.id in vendors)
            compartments.append(
                CompartmentOut(
                    id=comp.id,
                    zone=Zone(comp.zone),
                    size=Size(comp.size),
                    accessible=comp.accessible,
                    occupied=held is not None,
                    order=order_id if visible else None,
                    status=status,
                    door=comp.door,
                    celsius=zones[Zone(comp.zone)].celsius if Zone(comp.zone) in zones else None,
                )
            )
        seen = self._presence.of(locker.online, locker.last_seen, utcnow())
        return LockerOut(
            id=locker.id,
            name=locker.name,
            village=locker.village,
            online=seen.online,
            last_seen=locker.last_seen,
            heartbeat_age_s=seen.heartbeat_age_s,
            agent=locker.agent,
            desired_version=locker.desired_version,
            reported_version=locker.reported_version,
            zones=list(zones.values()),
            compartments=compartments,
            events=streams.stream_view(session, locker.id) if isinstance(caller, Admin) else None,
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


def find_locker(session: Session, locker_id: str) -> Locker:
    """The locker with this id, or NotFound; ill-formed ids never reach the database."""
    locker = session.get(Locker, locker_id) if is_locker_id(locker_id) else None
    if locker is None:
        raise NotFound(f"no locker {locker_id!r}")
    return locker


def _holders(session: Session, locker_id: str) -> dict[str, tuple[str, set[str], str]]:
    """Per held compartment: the order, its vendors, and what the compartment is waiting for."""
    rows = session.execute(
        select(OrderPart.compartment_id, OrderPart.vendor_id, OrderPart.loaded_at, Order.id, Order.status)
        .join(Order, Order.id == OrderPart.order_id)
        .where(
            Order.locker_id == locker_id,
            Order.status.in_(HOLDS_COMPARTMENTS),
            OrderPart.compartment_id.is_not(None),
        )
    ).all()
    holders: dict[str, tuple[str, set[str], str]] = {}
    for compartment, vendor, loaded_at, order_id, order_status in rows:
        if order_status == OrderStatus.ASSIGNED:
            status = "loaded" if loaded_at else "reserved"
        elif order_status == OrderStatus.EXPIRED:
            status = "expired"
        else:
            status = "ready"
        previous = holders.get(compartment)
        vendors = (previous[1] if previous else set()) | {vendor}
        holders[compartment] = (order_id, vendors, status)
    return holders


def _zone_temperatures(session: Session, locker: Locker) -> dict[Zone, ZoneOut]:
    """Per zone of the locker, its newest usable reading (or the newest fault when no sensor reads)."""
    latest = session.scalars(select(LatestReading).where(LatestReading.locker_id == locker.id)).all()
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
