"""Orders: create and assign in one transaction, look up, list and cancel."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from cloud.db import Database, utcnow
from cloud.errors import Forbidden, InvalidRequest, NotFound
from cloud.lifecycle import OrderStatus
from cloud.models import Locker, Order, OrderPart, Vendor
from cloud.schemas import OrderCreate, OrderOut
from cloud.services import bookings, history, views
from cloud.services.access import Admin, Caller, IntegrationCaller, VendorCaller, require_order_access, vendor_scope
from cloud.services.desired import DesiredStates
from cloud.settings import Settings
from cloud.tokens import ResidentLinks, is_order_id, new_order_id, normalize_order_id
from cloud.windows import Times, requested
from lockers.layout import is_locker_id

log = logging.getLogger(__name__)


def find_order(session: Session, order_id: str, *, lock: bool = False) -> Order:
    """The order with this id (as people type it), or NotFound; ill-formed ids never reach the database."""
    normalized = normalize_order_id(order_id)
    order = session.get(Order, normalized, with_for_update=lock) if is_order_id(normalized) else None
    if order is None:
        raise NotFound(f"no order {order_id!r}")
    return order


def lock_locker(session: Session, locker_id: str) -> tuple[str, str | None]:
    """Lock the locker's row for this transaction (FOR UPDATE; SQLite's writer lock already serialises) without
    loading it; returns its id and village, or NotFound."""
    found = None
    if is_locker_id(locker_id):
        found = session.execute(
            select(Locker.id, Locker.village).where(Locker.id == locker_id).with_for_update()
        ).first()
    if found is None:
        raise NotFound(f"no locker {locker_id!r}")
    return found.id, found.village


def unused_order_id(session: Session) -> str:
    while True:
        candidate = new_order_id()
        if session.get(Order, candidate) is None:
            return candidate


class Orders:
    """The order use cases behind /api/v1/orders."""

    def __init__(self, db: Database, settings: Settings, links: ResidentLinks, desired: DesiredStates) -> None:
        self._db = db
        self._settings = settings
        self._links = links
        self._desired = desired

    def create(self, caller: Caller, request: OrderCreate) -> OrderOut:
        """Create the order and reserve its compartments, all or nothing; then publish the locker's state."""
        with self._db.write() as session:
            # Serialise assignment per locker: PostgreSQL locks the row, SQLite's writer lock already does.
            locker_id, village = lock_locker(session, request.locker)
            vendors = self._part_vendors(session, caller, request)
            now = utcnow()
            times = self._times(request, now)
            wanted = bookings.Wanted(tuple((part.zone, part.size) for part in request.parts), times, request.accessible)
            plan = bookings.place(session, locker_id, wanted, now=now, village=village)
            bookings.move(session, plan.moves, now)
            chosen = plan.compartments
            order = Order(
                id=unused_order_id(session),
                locker_id=locker_id,
                resident_name=request.resident.name,
                resident_email=request.resident.email,
                resident_phone=request.resident.phone,
                accessible=request.accessible,
                created_at=now,
                dropoff_from=times.start,
                dropoff_until=times.end,
                pickup_by=times.pickup_by,
                # A new order has none: saying so spares the response two lazy loads.
                breaches=[],
                coldchain_records=[],
            )
            order.resident_token_hash = self._links.token_hash(order.id)
            order.parts = [
                OrderPart(position=i, zone=part.zone.value, size=part.size.value, vendor_id=vendor, compartment_id=cid)
                for i, (part, vendor, cid) in enumerate(zip(request.parts, vendors, chosen, strict=True))
            ]
            history.start(order, now, f"created by {caller.describe()} via the API")
            reserved = ", ".join(sorted(set(chosen)))
            moved = f"; moved {', '.join(sorted(plan.moves))} to make room" if plan.moves else ""
            history.move(
                order,
                OrderStatus.ASSIGNED,
                now,
                f"compartments {reserved} booked by best fit from {times.start:%Y-%m-%d %H:%M} to "
                f"{times.pickup_by:%Y-%m-%d %H:%M} UTC{moved}",
            )
            session.add(order)
            session.flush()
            result = views.order_out(order)
        log.info("order %s at %s assigned %s", result.id, result.locker, ", ".join(result.compartments))
        self._desired.publish(result.locker)
        return result

    def _times(self, request: OrderCreate, now: datetime) -> Times:
        window = request.dropoff
        return requested(
            window.start if window else None,
            window.end if window else None,
            request.pickup_by,
            now=now,
            window_hours=self._settings.dropoff_window_hours,
            food_hours=[self._settings.expiry_hours(part.zone) for part in request.parts],
        )

    def _part_vendors(self, session: Session, caller: Caller, request: OrderCreate) -> list[str]:
        """The vendor of each part; vendors may only add parts of their own, an integration only parts of its
        vendors, and admins and integrations must name them."""
        vendors: list[str] = []
        for index, part in enumerate(request.parts):
            where = f"parts.{index}.vendor"
            if isinstance(caller, VendorCaller):
                if part.vendor not in (None, caller.id):
                    raise Forbidden(
                        f"{where}: vendor {caller.id} can only order parts of its own, not of {part.vendor!r}"
                    )
                vendors.append(caller.id)
                continue
            if part.vendor is None:
                who = "an admin" if isinstance(caller, Admin) else caller.describe()
                raise InvalidRequest(f"{where}: {who} must name the vendor of every part")
            if isinstance(caller, IntegrationCaller) and part.vendor not in caller.vendors:
                raise Forbidden(f"{where}: {caller.describe()} does not act for vendor {part.vendor!r}")
            if session.get(Vendor, part.vendor) is None:
                raise InvalidRequest(f"{where}: no vendor {part.vendor!r}")
            vendors.append(part.vendor)
        return vendors

    def get(self, session: Session, caller: Caller, order_id: str) -> OrderOut:
        return views.order_out(self._visible(session, caller, order_id))

    @staticmethod
    def _visible(session: Session, caller: Caller, order_id: str, *, lock: bool = False) -> Order:
        order = find_order(session, order_id, lock=lock)
        require_order_access(caller, order)
        return order

    def list(
        self,
        session: Session,
        caller: Caller,
        *,
        status: OrderStatus | None = None,
        locker: str | None = None,
        limit: int = 100,
    ) -> list[OrderOut]:
        """Newest first; a vendor sees the orders it has a part in, an admin sees all."""
        query = select(Order).order_by(Order.created_at.desc(), Order.id).limit(limit)
        if status is not None:
            query = query.where(Order.status == status.value)
        if locker is not None:
            if not is_locker_id(locker):
                return []
            query = query.where(Order.locker_id == locker)
        scope = vendor_scope(caller)
        if scope is not None:
            query = query.where(exists().where(OrderPart.order_id == Order.id, OrderPart.vendor_id.in_(sorted(scope))))
        return [views.order_out(order) for order in session.scalars(query)]

    def cancel(self, caller: Caller, order_id: str) -> OrderOut:
        """Cancel an order that is not yet collected; its compartments are freed and its code revoked."""
        with self._db.write() as session:
            order = self._visible(session, caller, order_id, lock=True)
            history.move(order, OrderStatus.CANCELLED, utcnow(), f"cancelled by {caller.describe()} via the API")
            session.flush()
            result = views.order_out(order)
        self._desired.publish(result.locker)
        return result
