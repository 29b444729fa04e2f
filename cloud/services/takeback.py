"""Goods a vendor is to take back: orders nobody collected by their pickup deadline (expired), and what
residents returned (crates, jars, packaging). The vendor is told by email; its vendor code opens them."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime

from sqlalchemy.orm import Session

from cloud.lifecycle import OrderStatus
from cloud.models import Locker, Order
from cloud.notify import outbox
from cloud.services import history, order_facts
from cloud.services.aftercommit import AfterCommit

log = logging.getLogger(__name__)


def waiting(order: Order) -> dict[str, list[str]]:
    """Vendor -> compartments still holding goods it is to take back (loaded, not collected or retrieved)."""
    by_vendor: dict[str, set[str]] = defaultdict(set)
    for part in order.parts:
        if part.compartment_id and part.loaded_at is not None and not order_facts.emptied(part):
            by_vendor[part.vendor_id].add(part.compartment_id)
    return {vendor: sorted(ids) for vendor, ids in sorted(by_vendor.items())}


def tell_vendors(session: Session, after: AfterCommit, order: Order, event: str, subject: str, why: str) -> int:
    """Email each vendor with goods in the order still inside: where, which compartments, how to open them."""
    locker = session.get(Locker, order.locker_id)
    where = f"locker {order.locker_id}" + (f" ({locker.name}, {locker.address})" if locker and locker.address else "")
    told = 0
    for vendor_id, compartments in waiting(order).items():
        listed = ", ".join(compartments)
        text = (
            f"{why}\n\nPlease take back what is in compartment{'s' if len(compartments) > 1 else ''} {listed} of "
            f"{where}. Your vendor code opens {'them' if len(compartments) > 1 else 'it'}; the compartment is free for "
            "other orders once you have closed the door.\n"
        )
        told += outbox.to_vendor(session, after, vendor_id, event=event, subject=subject, text=text, order_id=order.id)
    return told


def return_ready(session: Session, after: AfterCommit, order: Order, at: datetime) -> None:
    """The resident put the return in: the vendor is told and may take it back until the booking ends."""
    order.pickup_deadline = order.pickup_by
    told = tell_vendors(
        session,
        after,
        order,
        "return.ready",
        f"[Dorpskluis] return {order.id} from {order.resident_name}: please collect it",
        f"{order.resident_name} returned crates, jars or packaging to you (return {order.id}).",
    )
    vendors = ", ".join(sorted(order.vendor_ids))
    how = "told by email" if told else "not told: no email address on file"
    history.move(order, OrderStatus.READY, at, f"return waits for {vendors} to take it back; vendor {how}")
