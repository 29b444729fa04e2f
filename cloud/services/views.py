"""Turning rows into the API's response bodies."""

from __future__ import annotations

from datetime import datetime

from cloud import qr
from cloud.errors import Conflict
from cloud.lifecycle import OrderKind
from cloud.models import EdgeEvent, Order, Vendor
from cloud.schemas import (
    ColdChainOut,
    ColdChainPartOut,
    EventOut,
    OrderOut,
    PartOut,
    PickupOut,
    ResidentOut,
    TransitionOut,
    VendorCodeOut,
    VendorSummary,
)
from lockers.layout import Size, Zone


def order_out(order: Order) -> OrderOut:
    return OrderOut(
        id=order.id,
        kind=OrderKind(order.kind),
        locker=order.locker_id,
        status=order.status,
        accessible=order.accessible,
        # Once each, in the order of the parts (parts may share a compartment).
        compartments=list(dict.fromkeys(part.compartment_id for part in order.parts if part.compartment_id)),
        parts=[
            PartOut(
                zone=Zone(part.zone),
                size=Size(part.size),
                vendor=part.vendor_id,
                compartment=part.compartment_id,
                loaded_at=part.loaded_at,
                collected_at=part.collected_at,
                retrieved_at=part.retrieved_at,
            )
            for part in order.parts
        ],
        resident=ResidentOut(name=order.resident_name, email=order.resident_email, phone=order.resident_phone),
        created_at=order.created_at,
        dropoff_from=order.dropoff_from or order.created_at,
        dropoff_until=order.dropoff_until,
        pickup_by=order.pickup_by,
        pickup_deadline=order.pickup_deadline,
        history=[TransitionOut(from_=t.from_status, to=t.to_status, at=t.at, cause=t.cause) for t in order.transitions],
        coldchain_breached=coldchain_breached(order),
        pickup_blocked=order.pickup_blocked,
        coldchain=coldchain_out(order),
    )


def coldchain_breached(order: Order) -> bool:
    """Whether a temperature alert hit the goods, while they wait or according to the final record."""
    return bool(order.breaches) or any(record.breached for record in order.coldchain_records)


def coldchain_out(order: Order) -> ColdChainOut | None:
    """The order's cold-chain record, or None before it is collected or expired."""
    records = order.coldchain_records
    if not records:
        return None
    parts = [
        ColdChainPartOut(
            zone=Zone(r.zone),
            compartment=r.compartment_id,
            vendor=r.vendor_id,
            start=r.start,
            end=r.end,
            samples=r.samples,
            faulty_samples=r.faulty_samples,
            min_c=r.min_c,
            max_c=r.max_c,
            mean_c=r.mean_c,
            mkt_c=r.mkt_c,
            minutes_above_limit=r.minutes_above_limit,
            limit_c=r.limit_c,
            breached=r.breached,
            alerts=list(r.alert_ids),
        )
        for r in records
    ]
    return ColdChainOut(breached=any(p.breached for p in parts), policy=records[0].policy, parts=parts)


def resident_url(public_url: str, order_id: str, token: str) -> str:
    """The resident's page (cloud/web/resident.py); the same token opens the order's JSON views."""
    return f"{public_url.rstrip('/')}/r/{order_id}?token={token}"


def pickup_out(order: Order, url: str, link_expires_at: datetime) -> PickupOut:
    """The pickup code of a ready order, with both QR renderings of its token."""
    if not (order.code_token and order.pin and order.pickup_deadline):
        raise Conflict(f"order {order.id} has no pickup code yet")
    return PickupOut(
        order=order.id,
        locker=order.locker_id,
        compartments=order.compartment_ids,
        token=order.code_token,
        pin=order.pin,
        qr_png=qr.png_data_url(order.code_token),
        qr_svg=qr.svg(order.code_token),
        expires_at=order.pickup_deadline,
        resident_url=url,
        resident_link_expires_at=link_expires_at,
        coldchain_breached=coldchain_breached(order),
    )


def vendor_code_out(vendor: Vendor) -> VendorCodeOut:
    return VendorCodeOut(
        token=vendor.code_token,
        code_id=vendor.code_id,
        expires_at=vendor.code_expires_at,
        qr_png=qr.png_data_url(vendor.code_token),
        qr_svg=qr.svg(vendor.code_token),
    )


def vendor_summary(vendor: Vendor) -> VendorSummary:
    return VendorSummary(
        id=vendor.id, name=vendor.name, kind=vendor.kind, email=vendor.email, created_at=vendor.created_at
    )


def event_out(event: EdgeEvent) -> EventOut:
    # Fields a newer edge added that this version does not know are kept in the row, not shown here.
    known = {name: value for name, value in event.fields.items() if name in _EVENT_FIELDS}
    return EventOut(
        id=event.event_id,
        seq=event.seq,
        numbering=event.numbering or 0,
        ts=event.ts,
        kind=event.kind,
        received_at=event.received_at,
        **known,
    )


_EVENT_FIELDS = frozenset(EventOut.model_fields) - {"id", "seq", "numbering", "ts", "kind", "received_at"}
