"""Who is calling (admin, vendor or a shop platform's integration, from the X-API-Key) and what each may see."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.errors import Forbidden, Unauthorized
from cloud.models import Order, Vendor
from cloud.models_access import Integration
from cloud.tokens import sha256_hex


@dataclass(frozen=True, slots=True)
class Admin:
    """The foundation operating the lockers."""

    def describe(self) -> str:
        return "admin"


@dataclass(frozen=True, slots=True)
class VendorCaller:
    """A vendor (or its shop platform) using its own API key."""

    id: str
    name: str

    def describe(self) -> str:
        return f"vendor {self.id}"


@dataclass(frozen=True, slots=True)
class IntegrationCaller:
    """A shop platform creating and following orders for the vendors it was given, and nothing else."""

    id: str
    name: str
    vendors: frozenset[str]

    def describe(self) -> str:
        return f"integration {self.id}"


Caller = Admin | VendorCaller | IntegrationCaller


def vendor_scope(caller: Caller | None) -> frozenset[str] | None:
    """The vendors whose orders the caller may see and change; None: all of them (admin)."""
    if isinstance(caller, Admin):
        return None
    if isinstance(caller, VendorCaller):
        return frozenset({caller.id})
    if isinstance(caller, IntegrationCaller):
        return caller.vendors
    return frozenset()


def resolve_caller(session: Session | None, admin_key: str, presented: str | None) -> Caller:
    """The caller an API key belongs to, or Unauthorized."""
    if not presented:
        raise Unauthorized("send your API key in the X-API-Key header")
    if hmac.compare_digest(presented.encode(), admin_key.encode()):
        return Admin()
    if session is None:
        raise Unauthorized("this API key is not known here")
    key_hash = sha256_hex(presented)
    vendor = session.scalar(select(Vendor).where(Vendor.api_key_hash == key_hash))
    if vendor is not None:
        return VendorCaller(id=vendor.id, name=vendor.name)
    integration = session.scalar(select(Integration).where(Integration.api_key_hash == key_hash))
    if integration is not None:
        return IntegrationCaller(id=integration.id, name=integration.name, vendors=frozenset(integration.vendors))
    raise Unauthorized("this API key is not known here")


def may_see_order(caller: Caller | None, order: Order) -> bool:
    """Admins see every order; a vendor the orders it has a part in; an integration those of its vendors."""
    scope = vendor_scope(caller)
    return scope is None or not scope.isdisjoint(order.vendor_ids)


def require_order_access(caller: Caller, order: Order) -> None:
    if not may_see_order(caller, order):
        raise Forbidden(f"order {order.id} belongs to other vendors")


def require_admin(caller: Caller) -> Admin:
    if not isinstance(caller, Admin):
        raise Forbidden("only the foundation's admin key may do this")
    return caller


def require_vendor(caller: Caller) -> VendorCaller:
    if not isinstance(caller, VendorCaller):
        raise Forbidden("this is for vendors: use a vendor's API key")
    return caller
