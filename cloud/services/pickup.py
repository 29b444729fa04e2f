"""Pickup codes: issuing the signed token and PIN when an order is loaded, and showing them to those allowed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud import qr
from cloud.db import utcnow
from cloud.errors import Conflict, Forbidden, Gone
from cloud.keys import KeyRing
from cloud.lifecycle import HOLDS_COMPARTMENTS, OrderKind, OrderStatus
from cloud.models import Locker, Order, Vendor
from cloud.schemas import ColdChainPartOut, GeoPoint, OrderColdChainOut, PickupOut
from cloud.services import history, views
from cloud.services.access import Caller, may_see_order
from cloud.services.lockers import location_of
from cloud.services.orders import find_order
from cloud.settings import Settings
from cloud.tokens import ResidentLinks, same_secret
from lockers.codes import hash_pin, issue_token, new_pin, pickup_claims
from lockers.layout import Zone


@dataclass(frozen=True, slots=True)
class ResidentCompartment:
    id: str
    zone: str


@dataclass(frozen=True, slots=True)
class ResidentView:
    """The resident's page: no names of other people, no vendor keys; the code only while it can be used."""

    order: str
    kind: str  # OrderKind: a delivery to collect, or a return to bring
    status: str
    blocked: bool
    locker_name: str
    village: str | None
    address: str | None
    location: GeoPoint | None
    compartments: tuple[ResidentCompartment, ...]
    pin: str | None
    qr_svg: str | None
    deadline: datetime | None
    breached: bool
    record: tuple[ColdChainPartOut, ...]
    vendors: tuple[tuple[str, str], ...] = ()  # (id, name) of the order's vendors
    window: tuple[datetime, datetime] | None = None  # of a return: when the resident may bring it
    may_return: bool = False  # a collected delivery with no return booked yet: crates may go back
    open_return: str | None = None  # the page of the return booked for this order (a relative link)


# A locker's clock may run a little behind ours; a code must already work when the resident arrives.
CLOCK_SKEW = timedelta(minutes=5)
MIN_PICKUP = timedelta(hours=1)
# A return waiting for the resident (assigned) already holds its deposit PIN.
_PIN_HOLDERS = (OrderStatus.ASSIGNED, OrderStatus.LOADED, OrderStatus.READY, OrderStatus.EXPIRED)


class Pickups:
    """Issues pickup codes and hands them to the vendor, an admin or the resident's link."""

    def __init__(self, settings: Settings, keys: KeyRing, links: ResidentLinks) -> None:
        self._settings = settings
        self._keys = keys
        self._links = links

    def deadline(self, order: Order, now: datetime) -> datetime:
        """When the goods must be collected: the resident's pickup time, or sooner when the food may not wait
        that long (each part's loading time plus its zone's expiry, earliest wins). A resident always gets at
        least MIN_PICKUP, even when the goods came in late."""
        food = min(
            part.loaded_at + timedelta(hours=self._settings.expiry_hours(Zone(part.zone)))
            for part in order.parts
            if part.loaded_at is not None
        )
        return food if order.pickup_by is None else min(food, max(order.pickup_by, now + MIN_PICKUP))

    def issue(self, session: Session, order: Order, locker: Locker, now: datetime) -> None:
        """Sign a pickup token, draw a PIN unique at the locker, and move the loaded order to `ready`."""
        not_before = now - CLOCK_SKEW
        claims = pickup_claims(
            key_id=self._keys.key_id,
            locker=locker.id,
            order=order.id,
            compartments=order.compartment_ids,
            not_before=not_before,
            valid_for=self.deadline(order, now) - not_before,
        )
        pin = new_pin(self.pins_in_use(session, locker.id))
        order.code_id = claims.code_id
        order.code_token = issue_token(claims, self._keys.private_key)
        order.pin = pin
        order.pin_hash = hash_pin(pin, locker.pin_salt)
        order.code_issued_at = now
        order.pickup_deadline = claims.expires_at
        history.move(
            order,
            OrderStatus.READY,
            now,
            f"pickup code {claims.code_id} issued; resident not notified: no notification channel is configured",
        )

    @staticmethod
    def pins_in_use(session: Session, locker_id: str) -> set[str]:
        """PINs of the locker's orders that may still open something: a new PIN must differ from all of them."""
        return set(
            session.scalars(
                select(Order.pin).where(
                    Order.locker_id == locker_id, Order.status.in_(_PIN_HOLDERS), Order.pin.is_not(None)
                )
            )
        )

    def link_token(self, order_id: str) -> str:
        """The token of the order's resident link."""
        return self._links.token(order_id)

    def resident_url(self, order_id: str) -> str:
        return views.resident_url(self._settings.public_url, order_id, self._links.token(order_id))

    def show(self, session: Session, order_id: str, caller: Caller | None, token: str | None) -> PickupOut:
        """The pickup code of a ready order for its vendor, an admin, or whoever holds the resident link."""
        order = self.for_link_or_caller(session, order_id, caller, token)
        _require_code(order)
        if order.pickup_blocked:
            raise Conflict(
                f"order {order.id} can no longer be collected: its goods got too warm while waiting in the locker "
                "(cold chain breached, site policy block); the vendor has been told"
            )
        return views.pickup_out(order, self.resident_url(order.id), self.link_expires_at(order))

    def coldchain(self, session: Session, order_id: str, caller: Caller | None, token: str | None) -> OrderColdChainOut:
        """The cold-chain view of an order, for the same people as its pickup code, at any status."""
        order = self.for_link_or_caller(session, order_id, caller, token)
        return OrderColdChainOut(
            order=order.id,
            status=order.status,
            coldchain_breached=views.coldchain_breached(order),
            coldchain=views.coldchain_out(order),
        )

    def link_expires_at(self, order: Order) -> datetime:
        """The resident's link works until this long after the pickup deadline (or, before the order is loaded,
        after the latest deadline it could get), so the cold-chain record stays visible for a while."""
        longest = max(self._settings.expiry_hours(zone) for zone in Zone)
        deadline = order.pickup_deadline or order.dropoff_until + timedelta(hours=longest)
        return deadline + timedelta(days=self._settings.resident_link_days)

    def resident_view(self, session: Session, order_id: str, token: str) -> ResidentView:
        """What the resident's page shows: the code while the order is ready, the cold-chain record after."""
        order = self.for_link_or_caller(session, order_id, None, token)
        locker = session.get(Locker, order.locker_id)
        usable = OrderStatus.ASSIGNED if order.kind == OrderKind.RETURN else OrderStatus.READY
        ready = order.status == usable and not order.pickup_blocked and order.pin and order.code_token
        record = views.coldchain_out(order)
        booked = session.scalar(
            select(Order.id).where(Order.returns_order_id == order.id, Order.status.in_(HOLDS_COMPARTMENTS)).limit(1)
        )
        return ResidentView(
            order=order.id,
            kind=order.kind,
            status=order.status,
            blocked=order.pickup_blocked,
            locker_name=locker.name if locker else order.locker_id,
            village=locker.village if locker else None,
            address=locker.address if locker else None,
            location=location_of(locker) if locker else None,
            compartments=tuple(
                ResidentCompartment(part.compartment_id, part.zone)
                for part in sorted(order.parts, key=lambda p: p.compartment_id or "")
                if part.compartment_id
            ),
            pin=order.pin if ready else None,
            qr_svg=qr.svg(order.code_token) if ready else None,
            deadline=order.pickup_deadline,
            breached=views.coldchain_breached(order),
            record=tuple(record.parts) if record else (),
            vendors=tuple(
                (v.id, v.name)
                for v in session.scalars(select(Vendor).where(Vendor.id.in_(order.vendor_ids)).order_by(Vendor.name))
            ),
            window=(order.dropoff_from or order.created_at, order.dropoff_until)
            if order.kind == OrderKind.RETURN
            else None,
            may_return=order.kind == OrderKind.DELIVERY and order.status == OrderStatus.COLLECTED and booked is None,
            open_return=f"/r/{booked}?token={self.link_token(booked)}" if booked else None,
        )

    def for_link_or_caller(self, session: Session, order_id: str, caller: Caller | None, token: str | None) -> Order:
        order = find_order(session, order_id)
        if token is not None:
            if not same_secret(token, order.resident_token_hash):
                raise Forbidden(f"this link is not valid for order {order.id}")
            expired = self.link_expires_at(order)
            if utcnow() >= expired:
                raise Gone(
                    f"this link expired on {expired:%Y-%m-%d} ({self._settings.resident_link_days:g} days after the "
                    "pickup deadline); the vendor can still tell you about the order"
                )
        elif not may_see_order(caller, order):
            raise Forbidden(f"order {order.id} belongs to other vendors")
        return order


def _require_code(order: Order) -> None:
    """A delivery's code is shown while it is ready; a return's (the deposit code) while it awaits the resident."""
    status = OrderStatus(order.status)
    if order.kind == OrderKind.RETURN:
        if status is OrderStatus.ASSIGNED:
            return
        reasons = {
            OrderStatus.LOADED: "the return is in the locker",
            OrderStatus.READY: "the return is in the locker and its vendor has been told",
            OrderStatus.COLLECTED: "the vendor has taken the return back",
            OrderStatus.CANCELLED: "it was cancelled",
        }
        raise Conflict(f"return {order.id} is {status}: {reasons.get(status, 'its code no longer opens anything')}")
    if status is OrderStatus.READY:
        return
    reasons = {
        OrderStatus.CREATED: "the pickup code is issued once the vendor has loaded it",
        OrderStatus.ASSIGNED: "the pickup code is issued once the vendor has loaded it",
        OrderStatus.LOADED: "its pickup code is being issued; try again in a moment",
        OrderStatus.COLLECTED: "it has already been picked up",
        OrderStatus.EXPIRED: f"it was not collected before {_when(order.pickup_deadline)}",
        OrderStatus.RETURNED: "it was not collected in time and went back to the vendor",
        OrderStatus.CANCELLED: "it was cancelled, so there is nothing to collect",
    }
    raise Conflict(f"order {order.id} is {status}: {reasons[status]}")


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "its deadline"
