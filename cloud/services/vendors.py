"""Vendors: onboarding with an API key and a long-lived vendor code, and the vendor's own view."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cloud.db import Database, utcnow
from cloud.errors import Conflict, InvalidRequest, NotFound
from cloud.keys import KeyRing
from cloud.lifecycle import OrderKind, OrderStatus
from cloud.models import Locker, Order, OrderPart, Vendor
from cloud.models_access import Integration
from cloud.schemas import DropoffOut, GeoPoint, TakeBackOut, VendorCreate, VendorCreated, VendorOut, VendorSummary
from cloud.services import views
from cloud.services.access import VendorCaller
from cloud.services.lockers import location_of
from cloud.services.pickup import CLOCK_SKEW
from cloud.tokens import new_api_key, sha256_hex
from lockers.codes import issue_token, peek_claims, vendor_claims

log = logging.getLogger(__name__)
VENDOR_CODE_VALIDITY = timedelta(days=365)


def slugify(name: str) -> str:
    """`Bakkerij De Molen` -> `bakkerij-de-molen`, within the vendor id alphabet."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-")
    return slug or "vendor"


class Vendors:
    """The vendor use cases behind /api/v1/vendors."""

    def __init__(self, db: Database, keys: KeyRing, admin_key: str) -> None:
        self._db = db
        self._keys = keys
        self._admin_key = admin_key

    def create(self, request: VendorCreate) -> VendorCreated:
        """Register a vendor; the API key (given or generated) is returned here once and stored hashed."""
        api_key = request.api_key or new_api_key()
        if api_key == self._admin_key:
            raise InvalidRequest("api_key: a vendor cannot use the admin key")
        with self._db.write() as session:
            vendor_id = request.id or self._free_slug(session, slugify(request.name))
            if session.get(Vendor, vendor_id) is not None:
                raise Conflict(f"vendor {vendor_id!r} already exists")
            key_hash = sha256_hex(api_key)
            in_use = session.scalar(select(Vendor.id).where(Vendor.api_key_hash == key_hash)) or session.scalar(
                select(Integration.id).where(Integration.api_key_hash == key_hash)
            )
            if in_use is not None:
                raise Conflict("api_key: another vendor already uses this API key; choose another")
            now = utcnow()
            claims = vendor_claims(
                key_id=self._keys.key_id, vendor=vendor_id, not_before=now - CLOCK_SKEW, valid_for=VENDOR_CODE_VALIDITY
            )
            vendor = Vendor(
                id=vendor_id,
                name=request.name,
                kind=request.kind,
                email=request.email,
                api_key_hash=key_hash,
                code_id=claims.code_id,
                code_token=issue_token(claims, self._keys.private_key),
                code_expires_at=claims.expires_at,
                created_at=now,
            )
            session.add(vendor)
            session.flush()
            view = self._view(session, vendor)
        return VendorCreated(**view.model_dump(), api_key=api_key)

    @staticmethod
    def _free_slug(session: Session, base: str) -> str:
        candidate, n = base, 1
        while session.get(Vendor, candidate) is not None:
            n += 1
            suffix = f"-{n}"
            candidate = base[: 40 - len(suffix)] + suffix
        return candidate

    def resign_codes(self) -> int:
        """Sign again, with the active key, every vendor code a retired key signed (same code id and expiry), so
        vendors hold a code that outlives the rollover window; how many. Vendors fetch it at /vendors/me."""
        with self._db.write() as session:
            vendors = [
                v for v in session.scalars(select(Vendor)) if peek_claims(v.code_token).key_id != self._keys.key_id
            ]
            now = utcnow()
            for vendor in vendors:
                claims = vendor_claims(
                    key_id=self._keys.key_id,
                    vendor=vendor.id,
                    not_before=now - CLOCK_SKEW,
                    valid_for=vendor.code_expires_at - (now - CLOCK_SKEW),
                    code_id=vendor.code_id,
                )
                vendor.code_token = issue_token(claims, self._keys.private_key)
                vendor.code_expires_at = claims.expires_at
        if vendors:
            log.info("signed %d vendor code(s) again with key id %d", len(vendors), self._keys.key_id)
        return len(vendors)

    def me(self, session: Session, caller: VendorCaller) -> VendorOut:
        vendor = session.get(Vendor, caller.id)
        if vendor is None:  # deleted between authentication and now
            raise NotFound(f"no vendor {caller.id!r}")
        return self._view(session, vendor)

    def list(self, session: Session) -> list[VendorSummary]:
        return [views.vendor_summary(v) for v in session.scalars(select(Vendor).order_by(Vendor.id))]

    @staticmethod
    def _view(session: Session, vendor: Vendor) -> VendorOut:
        return VendorOut(
            id=vendor.id,
            name=vendor.name,
            kind=vendor.kind,
            email=vendor.email,
            code=views.vendor_code_out(vendor),
            dropoffs=pending_dropoffs(session, vendor.id),
            take_back=to_take_back(session, vendor.id),
        )


@dataclass(frozen=True, slots=True)
class LockerDay:
    """One locker on a vendor's day: where it is, what to bring that day (overdue included), what later, and what
    was brought that day."""

    locker: str
    name: str
    village: str | None
    address: str | None
    location: GeoPoint | None
    bring: tuple[DropoffOut, ...]
    later: tuple[DropoffOut, ...]
    delivered: tuple[DropoffOut, ...]
    take_back: tuple[TakeBackOut, ...] = ()


def day_plan(session: Session, vendor_id: str, day_start: datetime, day_end: datetime) -> list[LockerDay]:
    """The vendor's drop-offs per locker for the day [day_start, day_end): what is still to bring whose window
    opens by the day's end (soonest deadline first, overdue included), what opens later, and what was loaded
    during the day; lockers with something to bring first."""
    pending = pending_dropoffs(session, vendor_id)
    delivered = delivered_between(session, vendor_id, day_start, day_end)
    back = to_take_back(session, vendor_id)
    ids = sorted({d.locker for d in pending} | {d.locker for d in delivered} | {b.locker for b in back})
    lockers = {locker.id: locker for locker in session.scalars(select(Locker).where(Locker.id.in_(ids)))}
    plan = []
    for locker_id in ids:
        locker = lockers.get(locker_id)
        plan.append(
            LockerDay(
                locker=locker_id,
                name=locker.name if locker else locker_id,
                village=locker.village if locker else None,
                address=locker.address if locker else None,
                location=location_of(locker) if locker else None,
                bring=tuple(d for d in pending if d.locker == locker_id and d.dropoff_from < day_end),
                later=tuple(d for d in pending if d.locker == locker_id and d.dropoff_from >= day_end),
                delivered=tuple(d for d in delivered if d.locker == locker_id),
                take_back=tuple(b for b in back if b.locker == locker_id),
            )
        )
    return sorted(plan, key=lambda day: (not (day.bring or day.take_back), day.name))


def to_take_back(session: Session, vendor_id: str) -> list[TakeBackOut]:
    """Goods this vendor is to take back, per order, oldest first: expired orders and residents' returns."""
    rows = session.execute(
        select(
            Order.id, Order.locker_id, Order.kind, Order.pickup_deadline, OrderPart.compartment_id, OrderPart.loaded_at
        )
        .join(OrderPart, OrderPart.order_id == Order.id)
        .where(
            OrderPart.vendor_id == vendor_id,
            OrderPart.compartment_id.is_not(None),
            OrderPart.loaded_at.is_not(None),
            OrderPart.collected_at.is_(None),
            OrderPart.retrieved_at.is_(None),
            or_(
                (Order.kind == OrderKind.DELIVERY) & (Order.status == OrderStatus.EXPIRED),
                (Order.kind == OrderKind.RETURN) & (Order.status == OrderStatus.READY),
            ),
        )
        .order_by(Order.id, OrderPart.compartment_id)
    ).all()
    grouped: dict[str, TakeBackOut] = {}
    for order_id, locker_id, kind, deadline, compartment, loaded_at in rows:
        is_return = kind == OrderKind.RETURN
        back = grouped.setdefault(
            order_id,
            TakeBackOut(
                order=order_id,
                locker=locker_id,
                compartments=[],
                reason="return" if is_return else "expired",
                since=loaded_at if is_return else deadline,
            ),
        )
        if compartment not in back.compartments:
            back.compartments.append(compartment)
    return sorted(grouped.values(), key=lambda b: (b.since, b.order))


def pending_dropoffs(session: Session, vendor_id: str) -> list[DropoffOut]:
    """Compartments this vendor still has to load, per order, soonest drop-off deadline first."""
    return _dropoffs(
        session,
        vendor_id,
        Order.status == OrderStatus.ASSIGNED,
        OrderPart.loaded_at.is_(None),
    )


def delivered_between(session: Session, vendor_id: str, start: datetime, end: datetime) -> list[DropoffOut]:
    """Compartments this vendor loaded in [start, end), per order (whatever happened to the order since)."""
    return _dropoffs(session, vendor_id, OrderPart.loaded_at >= start, OrderPart.loaded_at < end)


def _dropoffs(session: Session, vendor_id: str, *conditions) -> list[DropoffOut]:
    rows = session.execute(
        select(
            Order.id,
            Order.locker_id,
            Order.created_at,
            Order.dropoff_from,
            Order.dropoff_until,
            OrderPart.compartment_id,
            OrderPart.loaded_at,
        )
        .join(OrderPart, OrderPart.order_id == Order.id)
        .where(
            OrderPart.vendor_id == vendor_id,
            OrderPart.compartment_id.is_not(None),
            Order.kind == OrderKind.DELIVERY,  # a return's parts are brought by the resident
            *conditions,
        )
        .order_by(Order.dropoff_until, Order.created_at, Order.id, OrderPart.compartment_id)
    ).all()
    grouped: dict[str, DropoffOut] = {}
    for order_id, locker_id, created_at, opens, until, compartment, loaded_at in rows:
        drop = grouped.setdefault(
            order_id,
            DropoffOut(
                order=order_id, locker=locker_id, compartments=[], dropoff_from=opens or created_at, dropoff_until=until
            ),
        )
        if compartment not in drop.compartments:  # parts may share a compartment
            drop.compartments.append(compartment)
        if loaded_at is not None and (drop.loaded_at is None or loaded_at > drop.loaded_at):
            drop.loaded_at = loaded_at
    return list(grouped.values())
