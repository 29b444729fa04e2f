"""What a locker event changes: door states, parts loaded and collected, and the order transitions they complete.

Every effect is idempotent and checks the state it expects, so a repeated or late event is recorded but
changes nothing a second time; events that do not fit (unknown order, wrong state) are logged at WARNING.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from cloud.lifecycle import OrderStatus
from cloud.models import Compartment, Locker, Order, OrderPart
from cloud.services import history
from cloud.services.aftercommit import AfterCommit
from cloud.services.coldchain import ColdChain
from cloud.services.pickup import Pickups
from lockers.layout import Zone
from lockers.protocol.messages import Event, EventKind

log = logging.getLogger(__name__)

_DOOR_AFTER = {EventKind.DOOR_OPENED: "open", EventKind.DOOR_CLOSED: "closed", EventKind.TAMPER: "open"}


@dataclass(frozen=True, slots=True)
class Effect:
    """Whether the locker's desired state changed, and whether the event fit the state we know."""

    republish: bool = False
    consistent: bool = True


NOTHING = Effect()


def set_door(compartment: Compartment, door: str, at: datetime) -> None:
    """Record a door state unless we already know a newer one (events may arrive out of order)."""
    if compartment.door_changed_at is None or at >= compartment.door_changed_at:
        compartment.door = door
        compartment.door_changed_at = at


class EventEffects:
    """Applies one stored event to lockers, compartments and orders inside the caller's transaction."""

    def __init__(self, pickups: Pickups, coldchain: ColdChain) -> None:
        self._pickups = pickups
        self._coldchain = coldchain

    def apply(self, session: Session, locker: Locker, event: Event, now: datetime, after: AfterCommit) -> Effect:
        if event.kind in _DOOR_AFTER:
            return self._door(locker, event)
        if event.kind is EventKind.LOADED:
            return self._loaded(session, locker, event, now, after)
        if event.kind is EventKind.COLLECTED:
            return self._collected(session, locker, event, now, after)
        if event.kind is EventKind.CODE_REJECTED:
            log.info("locker %s refused a %s code: %s", locker.id, event.method or "?", event.reason or "?")
        return NOTHING

    def _door(self, locker: Locker, event: Event) -> Effect:
        compartment = next((c for c in locker.compartments if c.id == event.compartment), None)
        if compartment is None:
            return _misfit(locker, event, f"names compartment {event.compartment!r}, which this locker does not have")
        set_door(compartment, _DOOR_AFTER[event.kind], event.ts)
        if event.kind is EventKind.TAMPER:
            log.warning("locker %s: door %s opened while locked (event %s)", locker.id, compartment.id, event.id)
        return NOTHING

    def _order_parts(self, session: Session, locker: Locker, event: Event) -> tuple[Order, list[OrderPart]] | str:
        """The order the event is about and its parts in the event's compartment, or why that does not fit."""
        if not event.order or not event.compartment:
            return "names no order or no compartment"
        order = session.get(Order, event.order, with_for_update=True)
        if order is None:
            return f"names unknown order {event.order!r}"
        if order.locker_id != locker.id:
            return f"names order {order.id}, which belongs to locker {order.locker_id}"
        parts = [part for part in order.parts if part.compartment_id == event.compartment]
        if not parts:
            return f"names compartment {event.compartment} that order {order.id} does not use"
        return order, parts

    def _loaded(self, session: Session, locker: Locker, event: Event, now: datetime, after: AfterCommit) -> Effect:
        found = self._order_parts(session, locker, event)
        if isinstance(found, str):
            return _misfit(locker, event, found)
        order, parts = found
        if all(part.loaded_at is not None for part in parts):
            log.info(
                "locker %s event %s: %s of order %s was already loaded",
                locker.id,
                event.id,
                event.compartment,
                order.id,
            )
            return NOTHING
        if order.status != OrderStatus.ASSIGNED:
            return _misfit(locker, event, f"loads order {order.id}, which is {order.status}")
        if event.vendor and any(part.vendor_id != event.vendor for part in parts):
            log.warning(
                "locker %s event %s: %s loaded by vendor %s but reserved for %s",
                locker.id,
                event.id,
                event.compartment,
                event.vendor,
                ", ".join(sorted({p.vendor_id for p in parts})),
            )
        # A late report (store-and-forward) must not make the goods look fresher than they are.
        loaded_at = min(event.ts, now)
        for part in parts:
            part.loaded_at = part.loaded_at or loaded_at
            part.loaded_ts = part.loaded_ts or event.ts  # the cold-chain record runs on the locker's clock
        for zone in sorted({Zone(part.zone) for part in parts}):
            self._coldchain.goods_loaded(session, after, order, zone)
        if all(part.loaded_at is not None for part in order.parts):
            who = f"vendor {event.vendor}" if event.vendor else "the vendor"
            cause = f"locker {locker.id} event {event.id}: {who} closed {event.compartment}"
            history.move(order, OrderStatus.LOADED, now, cause)
            self._pickups.issue(session, order, locker, now)
        return Effect(republish=True)

    def _collected(self, session: Session, locker: Locker, event: Event, now: datetime, after: AfterCommit) -> Effect:
        found = self._order_parts(session, locker, event)
        if isinstance(found, str):
            return _misfit(locker, event, found)
        order, parts = found
        if all(part.collected_at is not None for part in parts):
            log.info(
                "locker %s event %s: %s of order %s was already collected",
                locker.id,
                event.id,
                event.compartment,
                order.id,
            )
            return NOTHING
        if order.status != OrderStatus.READY:
            return _misfit(locker, event, f"collects order {order.id}, which is {order.status}")
        collected_at = min(event.ts, now)
        for part in parts:
            part.collected_at = part.collected_at or collected_at
            part.collected_ts = part.collected_ts or event.ts
        if any(part.collected_at is None for part in order.parts):
            return NOTHING  # the rest of the order is still inside; the grant stays as it is
        how = f" with {event.method}" if event.method else ""
        cause = f"locker {locker.id} event {event.id}: resident took the last compartment {event.compartment}{how}"
        history.move(order, OrderStatus.COLLECTED, now, cause)
        self._coldchain.close(session, after, order)
        return Effect(republish=True)


def _misfit(locker: Locker, event: Event, why: str) -> Effect:
    log.warning(
        "locker %s event %s (%s, seq %d) %s: stored, not applied", locker.id, event.id, event.kind, event.seq, why
    )
    return Effect(consistent=False)
