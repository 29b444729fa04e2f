"""Vendors: onboarding with an API key and a long-lived vendor code, and the vendor's own view."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db import Database, utcnow
from cloud.errors import Conflict, InvalidRequest, NotFound
from cloud.keys import KeyRing
from cloud.lifecycle import OrderStatus
from cloud.models import Order, OrderPart, Vendor
from cloud.models_access import Integration
from cloud.schemas import DropoffOut, VendorCreate, VendorCreated, VendorOut, VendorSummary
from cloud.services import views
from cloud.services.access import VendorCaller
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
        )


def pending_dropoffs(session: Session, vendor_id: str) -> list[DropoffOut]:
    """Compartments this vendor still has to load, per order."""
    rows = session.execute(
        select(Order.id, Order.locker_id, OrderPart.compartment_id)
        .join(OrderPart, OrderPart.order_id == Order.id)
        .where(
            Order.status == OrderStatus.ASSIGNED,
            OrderPart.vendor_id == vendor_id,
            OrderPart.loaded_at.is_(None),
            OrderPart.compartment_id.is_not(None),
        )
        .order_by(Order.created_at, Order.id, OrderPart.compartment_id)
    ).all()
    grouped: dict[tuple[str, str], list[str]] = {}
    for order_id, locker_id, compartment in rows:
        grouped.setdefault((order_id, locker_id), []).append(compartment)
    return [DropoffOut(order=o, locker=lk, compartments=c) for (o, lk), c in grouped.items()]
