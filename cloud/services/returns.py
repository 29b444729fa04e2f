"""Returns (reststromen): a resident books a compartment to bring back crates, jars or packaging of a collected
order. The return is an order of kind `return`: booked like any order, with a deposit code for the resident;
once it is in, its vendor is told (takeback.py) and takes it back with its vendor code."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db import Database, utcnow
from cloud.errors import Conflict, Forbidden, InvalidRequest
from cloud.keys import KeyRing
from cloud.lifecycle import HOLDS_COMPARTMENTS, OrderKind, OrderStatus
from cloud.models import Locker, Order, OrderPart
from cloud.schemas import OrderOut, ReturnCreate
from cloud.services import bookings, history, views
from cloud.services.access import Caller
from cloud.services.desired import DesiredStates
from cloud.services.orders import lock_locker, unused_order_id
from cloud.services.pickup import CLOCK_SKEW, Pickups
from cloud.settings import Settings
from cloud.tokens import ResidentLinks
from cloud.windows import Times, requested
from lockers.codes import CodeKind, hash_pin, issue_token, new_pin, pickup_claims
from lockers.layout import Zone

log = logging.getLogger(__name__)


class Returns:
    """Books returns for residents (through their order's link) and for those who may see the order."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        keys: KeyRing,
        links: ResidentLinks,
        pickups: Pickups,
        desired: DesiredStates,
    ) -> None:
        self._db = db
        self._settings = settings
        self._keys = keys
        self._links = links
        self._pickups = pickups
        self._desired = desired

    def book(self, order_id: str, request: ReturnCreate, caller: Caller | None, token: str | None) -> OrderOut:
        """Book a compartment for the return of `order_id`'s crates and issue the resident's deposit code."""
        with self._db.write() as session:
            origin = self._pickups.for_link_or_caller(session, order_id, caller, token)
            locker_id, village = lock_locker(session, request.locker or origin.locker_id)
            # Read again under the locker's lock: two clicks on "book" must not make two returns.
            session.refresh(origin)
            vendor = _vendor_of(origin, request)
            _refuse_second_return(session, origin)
            now = utcnow()
            times = self._times(request, now)
            wanted = bookings.Wanted(((Zone.AMBIENT, request.size),), times, origin.accessible)
            plan = bookings.place(session, locker_id, wanted, now=now, village=village)
            bookings.move(session, plan.moves, now)
            (compartment,) = plan.compartments
            booked = Order(
                id=unused_order_id(session),
                kind=OrderKind.RETURN,
                locker_id=locker_id,
                resident_name=origin.resident_name,
                resident_email=origin.resident_email,
                resident_phone=origin.resident_phone,
                accessible=origin.accessible,
                created_at=now,
                dropoff_from=times.start,
                dropoff_until=times.end,
                pickup_by=times.pickup_by,
                returns_order_id=origin.id,
                breaches=[],
                coldchain_records=[],
            )
            booked.resident_token_hash = self._links.token_hash(booked.id)
            part = OrderPart(position=0, zone=Zone.AMBIENT.value, size=request.size.value, vendor_id=vendor)
            part.compartment_id = compartment
            booked.parts = [part]
            who = "the resident's link" if caller is None else f"{caller.describe()} via the API"
            history.start(booked, now, f"return of order {origin.id} to {vendor}, booked by {who}")
            self._issue_deposit_code(session, booked, times, now)
            moved = f"; moved {', '.join(sorted(plan.moves))} to make room" if plan.moves else ""
            history.move(
                booked,
                OrderStatus.ASSIGNED,
                now,
                f"compartment {compartment} booked from {times.start:%Y-%m-%d %H:%M} to "
                f"{times.pickup_by:%Y-%m-%d %H:%M} UTC{moved}; deposit code {booked.code_id} issued",
            )
            history.note(origin, now, f"return {booked.id} booked: crates, jars or packaging back to {vendor}")
            session.add(booked)
            session.flush()
            result = views.order_out(booked)
        log.info("return %s of order %s booked in %s of %s", result.id, order_id, compartment, result.locker)
        self._desired.publish(result.locker)
        return result

    def _times(self, request: ReturnCreate, now: datetime) -> Times:
        window = request.window
        return requested(
            window.start if window else None,
            window.end if window else None,
            None,
            now=now,
            window_hours=self._settings.dropoff_window_hours,
            food_hours=[self._settings.return_collect_hours],  # not food: the vendor's time to take it back
        )

    def _issue_deposit_code(self, session: Session, booked: Order, times: Times, now: datetime) -> None:
        """A single-use code (QR token and PIN) that opens the compartment during the window only."""
        locker = session.get(Locker, booked.locker_id)
        not_before = max(times.start, now) - CLOCK_SKEW
        claims = pickup_claims(
            key_id=self._keys.key_id,
            locker=booked.locker_id,
            order=booked.id,
            compartments=booked.compartment_ids,
            not_before=not_before,
            valid_for=times.end - not_before,
            kind=CodeKind.DEPOSIT,
        )
        booked.code_id = claims.code_id
        booked.code_token = issue_token(claims, self._keys.private_key)
        booked.pin = new_pin(self._pickups.pins_in_use(session, booked.locker_id))
        booked.pin_hash = hash_pin(booked.pin, locker.pin_salt)
        booked.code_issued_at = now
        booked.pickup_deadline = claims.expires_at  # until the return is in: then the vendor's collect-by


def _vendor_of(origin: Order, request: ReturnCreate) -> str:
    """The vendor the return goes to: one of the order's own."""
    if origin.kind != OrderKind.DELIVERY:
        raise Conflict(f"{origin.id} is itself a return")
    if origin.status != OrderStatus.COLLECTED:
        raise Conflict(f"order {origin.id} is {origin.status}: crates can be returned once the order is collected")
    vendors = sorted(origin.vendor_ids)
    if request.vendor is None:
        if len(vendors) > 1:
            raise InvalidRequest(f"vendor: order {origin.id} came from {', '.join(vendors)}; say whose the return is")
        return vendors[0]
    if request.vendor not in vendors:
        raise Forbidden(f"vendor: {request.vendor!r} had no part in order {origin.id} ({', '.join(vendors)})")
    return request.vendor


def _refuse_second_return(session: Session, origin: Order) -> None:
    """One open return per order: a second would only hold a compartment nobody needs."""
    open_return = session.scalar(
        select(Order.id).where(Order.returns_order_id == origin.id, Order.status.in_(HOLDS_COMPARTMENTS)).limit(1)
    )
    if open_return is not None:
        raise Conflict(f"order {origin.id} already has return {open_return} booked; use its code")
