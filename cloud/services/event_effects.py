"""What a locker event changes: door states, facts about order parts, and the order status those facts imply.

Effects commute, so orders converge whatever order events arrive in (replays, store-and-forward, repeats):
`loaded` and `collected` record facts on the parts of their compartment (order_facts.py), and the status
follows from the facts: every part loaded -> loaded -> ready (pickup code issued); every part collected ->
collected. `retrieved` (a vendor took goods back) ends an expired order as returned, and a resident's return as
collected; an expired order whose last part the resident took before the deadline, reported late, is
collected after all. A `collected` that arrives before its `loaded` waits as a fact until the `loaded` comes. The cause
and time of each transition come from the facts (the last part's event), not from whichever event happened
to arrive last, so any arrival order writes the same history. Events about a cancelled order are conflicts:
recorded in its history and raised as an alert (conflicts.py). Events that fit nothing are stored, logged at
WARNING and not applied.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.lifecycle import OrderKind, OrderStatus
from cloud.models import Compartment, EdgeEvent, Locker, Order, OrderPart
from cloud.services import history, order_facts, takeback
from cloud.services.aftercommit import AfterCommit
from cloud.services.alerts import Alerts
from cloud.services.coldchain import ColdChain
from cloud.services.conflicts import Conflicts
from cloud.services.order_facts import Fact
from cloud.services.pickup import Pickups
from lockers.layout import Zone
from lockers.protocol.messages import Event, EventKind, Method

log = logging.getLogger(__name__)

_DOOR_AFTER = {EventKind.DOOR_OPENED: "open", EventKind.DOOR_CLOSED: "closed", EventKind.TAMPER: "open"}
KEYPAD_LOCKED = "keypad_locked"  # alert kind: wrong PINs in a row locked a locker's keypad
_CODE_NAMES = {Method.QR: "the pickup QR code", Method.PIN: "the PIN", Method.REMOTE: "a remote unlock"}


@dataclass(frozen=True, slots=True)
class Effect:
    """Whether the locker's desired state changed, and whether the event fit the state we know."""

    republish: bool = False
    consistent: bool = True


NOTHING = Effect()
CONFLICTING = Effect(consistent=False)


def set_door(compartment: Compartment, door: str, at: datetime) -> None:
    """Record a door state unless we already know a newer one (events may arrive out of order)."""
    if compartment.door_changed_at is None or at >= compartment.door_changed_at:
        compartment.door = door
        compartment.door_changed_at = at


class EventEffects:
    """Applies one stored event to lockers, compartments and orders inside the caller's transaction."""

    def __init__(self, pickups: Pickups, coldchain: ColdChain, conflicts: Conflicts, alerts: Alerts) -> None:
        self._pickups = pickups
        self._coldchain = coldchain
        self._conflicts = conflicts
        self._alerts = alerts

    def apply(self, session: Session, locker: Locker, event: Event, now: datetime, after: AfterCommit) -> Effect:
        if event.kind in _DOOR_AFTER:
            return self._door(locker, event)
        if event.kind is EventKind.LOADED:
            return self._loaded(session, locker, event, now, after)
        if event.kind is EventKind.COLLECTED:
            return self._collected(session, locker, event, now, after)
        if event.kind is EventKind.RETRIEVED:
            return self._retrieved(session, locker, event, now, after)
        if event.kind is EventKind.UNLOCKED:
            return self._unlocked(session, locker, event, now, after)
        if event.kind is EventKind.CODE_REJECTED:
            log.info("locker %s refused a %s code: %s", locker.id, event.method or "?", event.reason or "?")
        if event.kind is EventKind.KEYPAD_LOCKED:
            self._keypad_locked(session, locker, event, after)
        return NOTHING

    def _keypad_locked(self, session: Session, locker: Locker, event: Event, after: AfterCommit) -> None:
        """Wrong PINs in a row locked the keypad: someone may be guessing PINs (one open alert per locker)."""
        wrong = f"{event.count} wrong PINs" if event.count else "wrong PINs"
        detail = f"keypad of locker {locker.id} locked at {event.ts:%Y-%m-%d %H:%M} UTC after {wrong} in a row"
        self._alerts.raise_locker_alert(session, after, locker.id, KEYPAD_LOCKED, detail, event.ts)

    def _door(self, locker: Locker, event: Event) -> Effect:
        compartment = next((c for c in locker.compartments if c.id == event.compartment), None)
        if compartment is None:
            return _misfit(locker, event, f"names compartment {event.compartment!r}, which this locker does not have")
        set_door(compartment, _DOOR_AFTER[event.kind], event.ts)
        if event.kind is EventKind.TAMPER:
            log.warning("locker %s: door %s opened while locked (event %s)", locker.id, compartment.id, event.id)
        return NOTHING

    def _loaded(self, session: Session, locker: Locker, event: Event, now: datetime, after: AfterCommit) -> Effect:
        found = _order_parts(session, locker, event)
        if isinstance(found, str):
            return _misfit(locker, event, found)
        order, parts = found
        # Parts of several vendors may share the compartment: a vendor's loading covers its own parts only.
        parts = [part for part in parts if part.vendor_id == event.vendor] or parts
        if not order_facts.record(parts, Fact.LOADED, event, now):
            log.info(
                "locker %s event %s: %s of order %s was already loaded",
                locker.id,
                event.id,
                event.compartment,
                order.id,
            )
            return NOTHING
        if order.status == OrderStatus.CANCELLED:
            who = f"vendor {event.vendor}" if event.vendor else "a vendor"
            what = (
                f"{who} loaded {event.compartment} at {event.ts:%Y-%m-%d %H:%M:%S} UTC although the order was "
                "cancelled: the goods are in a compartment the cloud counts as free and must be taken back"
            )
            self._conflicts.record(session, after, locker.id, order, event, now, what)
            return CONFLICTING
        if order.status != OrderStatus.ASSIGNED:
            return _misfit(locker, event, f"loads order {order.id}, which is {order.status}")
        if event.vendor and any(part.vendor_id != event.vendor for part in parts):
            reserved = ", ".join(sorted({p.vendor_id for p in parts}))
            log.warning(
                "locker %s event %s: %s loaded by vendor %s but reserved for %s",
                locker.id,
                event.id,
                event.compartment,
                event.vendor,
                reserved,
            )
        for zone in sorted({Zone(part.zone) for part in parts} if order.kind == OrderKind.DELIVERY else ()):
            self._coldchain.goods_loaded(session, after, order, zone)
        self._converge(session, locker, order, now, after)
        return Effect(republish=True)  # the drop-off grant shrinks with every loaded part

    def _collected(self, session: Session, locker: Locker, event: Event, now: datetime, after: AfterCommit) -> Effect:
        found = _order_parts(session, locker, event)
        if isinstance(found, str):
            return _misfit(locker, event, found)
        order, parts = found
        if not order_facts.record(parts, Fact.COLLECTED, event, now):
            log.info(
                "locker %s event %s: %s of order %s was already collected",
                locker.id,
                event.id,
                event.compartment,
                order.id,
            )
            return NOTHING
        when = f"at {event.ts:%Y-%m-%d %H:%M:%S} UTC"
        if order.status == OrderStatus.CANCELLED:
            what = f"{_code_name(event)} opened {event.compartment} {when} and the goods were taken"
            what += ", although the order was cancelled"
            self._conflicts.record(session, after, locker.id, order, event, now, what)
            return CONFLICTING
        if order.pickup_blocked:
            what = f"{_code_name(event)} opened {event.compartment} {when}"
            what += " although the pickup was blocked (cold chain breached)"
            self._conflicts.record(session, after, locker.id, order, event, now, what)
        if order.status == OrderStatus.ASSIGNED:
            # Arrived before the report of its loading (a replay): the fact waits for the `loaded` event.
            log.info(
                "locker %s event %s: %s of order %s collected before its loading was reported",
                locker.id,
                event.id,
                event.compartment,
                order.id,
            )
            return NOTHING
        if order.status not in (OrderStatus.READY, OrderStatus.EXPIRED) or order.kind != OrderKind.DELIVERY:
            return _misfit(locker, event, f"collects {order.kind} {order.id}, which is {order.status}")
        # Expired: a pickup made before the deadline that the locker reported after the expiry ran.
        return Effect(republish=True) if self._converge(session, locker, order, now, after) else NOTHING

    def _retrieved(self, session: Session, locker: Locker, event: Event, now: datetime, after: AfterCommit) -> Effect:
        """A vendor took goods back: expired goods, or a resident's return."""
        found = _order_parts(session, locker, event)
        if isinstance(found, str):
            return _misfit(locker, event, found)
        order, parts = found
        # Only goods the vendor was asked to take back (the grant comes from here, so nothing is early).
        to_take_back = (OrderStatus.READY, OrderStatus.COLLECTED) if order.kind == OrderKind.RETURN else ()
        if order.status not in (OrderStatus.EXPIRED, OrderStatus.RETURNED, *to_take_back):
            return _misfit(locker, event, f"takes back {order.kind} {order.id}, which is {order.status}")
        parts = [part for part in parts if part.vendor_id == event.vendor] or parts
        if not order_facts.record(parts, Fact.RETRIEVED, event, now):
            log.info(
                "locker %s event %s: %s of order %s was already taken back",
                locker.id,
                event.id,
                event.compartment,
                order.id,
            )
            return NOTHING
        self._converge(session, locker, order, now, after)
        return Effect(republish=True)  # the retrieval grant shrinks with every part taken back

    def _unlocked(self, session: Session, locker: Locker, event: Event, now: datetime, after: AfterCommit) -> Effect:
        if not event.order:
            return NOTHING
        order = session.get(Order, event.order, with_for_update=True)
        if order is None or order.locker_id != locker.id or order.status != OrderStatus.CANCELLED:
            return NOTHING
        where = f"{event.compartment} " if event.compartment else ""
        what = (
            f"{_code_name(event)} unlocked {where}at {event.ts:%Y-%m-%d %H:%M:%S} UTC although the order was cancelled"
        )
        self._conflicts.record(session, after, locker.id, order, event, now, what)
        return CONFLICTING

    def _converge(self, session: Session, locker: Locker, order: Order, now: datetime, after: AfterCommit) -> bool:
        """Move the order as far as its facts reach; True when it moved."""
        moved = False
        if order.status == OrderStatus.ASSIGNED and order_facts.complete(order.parts, Fact.LOADED):
            fact = order_facts.last(order.parts, Fact.LOADED)
            who = "the resident" if order.kind == OrderKind.RETURN else _who(session, fact)
            history.move(
                order, OrderStatus.LOADED, fact.at, f"{_source(locker, fact)}: {who} closed {fact.compartment}"
            )
            if order.kind == OrderKind.RETURN:
                takeback.return_ready(session, after, order, now)
            else:
                self._pickups.issue(session, order, locker, now)
            moved = True
        if (
            order.status == OrderStatus.READY
            and order.kind == OrderKind.RETURN
            and order_facts.complete(order.parts, Fact.RETRIEVED)
        ):
            fact = order_facts.last(order.parts, Fact.RETRIEVED)
            cause = f"{_source(locker, fact)}: {_who(session, fact)} took the return from {fact.compartment}"
            history.move(order, OrderStatus.COLLECTED, fact.at, cause)
            return True
        if order.status == OrderStatus.EXPIRED and all(order_facts.emptied(part) for part in order.parts):
            taken = [part for part in order.parts if order_facts.known(part, Fact.RETRIEVED)]
            if taken:
                fact = order_facts.last(taken, Fact.RETRIEVED)
                cause = f"{_source(locker, fact)}: {_who(session, fact)} took back {fact.compartment}"
                history.move(order, OrderStatus.RETURNED, fact.at, cause)
            else:
                fact = order_facts.last(order.parts, Fact.COLLECTED)
                cause = f"{_source(locker, fact)}: resident took {fact.compartment} before the deadline (reported late)"
                history.move(order, OrderStatus.COLLECTED, fact.at, cause)
                self._coldchain.close(session, after, order)
            return True
        if order.status == OrderStatus.READY and order_facts.complete(order.parts, Fact.COLLECTED):
            fact = order_facts.last(order.parts, Fact.COLLECTED)
            method = _event_fields(session, fact.event).get("method")
            how = f" with {method}" if method else ""
            cause = f"{_source(locker, fact)}: resident took the last compartment {fact.compartment}{how}"
            history.move(order, OrderStatus.COLLECTED, fact.at, cause)
            self._coldchain.close(session, after, order)
            moved = True
        return moved


def _order_parts(session: Session, locker: Locker, event: Event) -> tuple[Order, list[OrderPart]] | str:
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


def _event_fields(session: Session, event_id: str | None) -> dict:
    if event_id is None:
        return {}
    return session.scalar(select(EdgeEvent.fields).where(EdgeEvent.event_id == event_id)) or {}


def _who(session: Session, fact: order_facts.Known) -> str:
    vendor = _event_fields(session, fact.event).get("vendor")
    return f"vendor {vendor}" if vendor else "the vendor"


def _source(locker: Locker, fact: order_facts.Known) -> str:
    return f"locker {locker.id} event {fact.event}" if fact.event else f"locker {locker.id}"


def _code_name(event: Event) -> str:
    if event.method is Method.VENDOR:
        return f"vendor {event.vendor}'s code" if event.vendor else "a vendor code"
    return _CODE_NAMES.get(event.method, "a code") if event.method else "a code"


def _misfit(locker: Locker, event: Event, why: str) -> Effect:
    log.warning(
        "locker %s event %s (%s, seq %d) %s: stored, not applied", locker.id, event.id, event.kind, event.seq, why
    )
    return Effect(consistent=False)
