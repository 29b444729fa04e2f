"""The desired state of a locker: built from the database, versioned, published retained after commit."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Protocol

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, lazyload

from cloud.db import Database, utcnow
from cloud.errors import NotFound
from cloud.lifecycle import OrderKind, OrderStatus
from cloud.models import Locker, Order
from cloud.services import takeback
from lockers.errors import TransportError
from lockers.protocol.messages import (
    DepositGrant,
    DesiredState,
    DropoffGrant,
    PickupGrant,
    RetrievalGrant,
    TrustedKey,
)

log = logging.getLogger(__name__)


class Publisher(Protocol):
    """Where desired states go (the MQTT bridge)."""

    def publish_desired(self, locker_id: str, state: DesiredState) -> None: ...


# Of an order the desired state needs only its parts: its other collections are not loaded up front (one query
# each, on every order placed or changed).
_PARTS_ONLY = (lazyload(Order.transitions), lazyload(Order.breaches), lazyload(Order.coldchain_records))


def build_desired(
    session: Session, locker: Locker, version: int, now: datetime, keys: Sequence[TrustedKey] = ()
) -> DesiredState:
    """Everything `locker` must know: pending drop-offs, ready pickups, goods to take back, returns to bring,
    revoked codes, its PIN salt, the keys."""
    live = [OrderStatus.ASSIGNED, OrderStatus.READY, OrderStatus.EXPIRED]
    orders = session.scalars(
        select(Order)
        .where(Order.locker_id == locker.id, Order.status.in_(live))
        .order_by(Order.created_at, Order.id)
        .options(*_PARTS_ONLY)
    ).all()
    dropoffs: list[DropoffGrant] = []
    pickups: list[PickupGrant] = []
    retrievals: list[RetrievalGrant] = []
    deposits: list[DepositGrant] = []
    for order in orders:
        if order.kind == OrderKind.RETURN:
            deposits += _deposit(order)
            if order.status == OrderStatus.READY:
                retrievals += _retrievals(order, "return")
        elif order.status == OrderStatus.EXPIRED:
            retrievals += _retrievals(order, "expired")
        elif order.status == OrderStatus.ASSIGNED:
            waiting: dict[str, list[str]] = defaultdict(list)
            for part in order.parts:
                if part.loaded_at is None and part.compartment_id:
                    waiting[part.vendor_id].append(part.compartment_id)
            dropoffs += [
                DropoffGrant(
                    order=order.id,
                    vendor=vendor,
                    compartments=sorted(set(ids)),  # parts of one vendor may share a compartment
                    until=order.dropoff_until,
                    opens=order.dropoff_from,
                )
                for vendor, ids in sorted(waiting.items())
            ]
        elif order.code_id and order.pickup_deadline and not order.pickup_blocked:
            pickups.append(
                PickupGrant(
                    order=order.id,
                    code_id=order.code_id,
                    pin_hash=order.pin_hash,
                    compartments=order.compartment_ids,
                    expires_at=order.pickup_deadline,
                )
            )
    # Only codes that could still be used need revoking: the edge rejects expired codes by itself.
    # Blocked orders (cold chain breached under policy "block") lose their code the same way.
    revoked = session.scalars(
        select(Order.code_id)
        .where(
            Order.locker_id == locker.id,
            or_(Order.status == OrderStatus.CANCELLED, Order.pickup_blocked.is_(True)),
            Order.code_id.is_not(None),
            Order.pickup_deadline > now,
        )
        .order_by(Order.code_id)
    ).all()
    return DesiredState(
        version=version,
        issued_at=now,
        pin_salt=locker.pin_salt,
        pickups=pickups,
        dropoffs=dropoffs,
        retrievals=retrievals,
        deposits=deposits,
        revoked=list(revoked),
        keys=list(keys),
    )


def _retrievals(order: Order, reason: str) -> list[RetrievalGrant]:
    """One grant per vendor with goods of the order still inside."""
    return [
        RetrievalGrant(order=order.id, vendor=vendor, compartments=ids, reason=reason)
        for vendor, ids in takeback.waiting(order).items()
    ]


def _deposit(order: Order) -> list[DepositGrant]:
    """The resident's code for putting a return in, while the return is waiting for it."""
    if order.status != OrderStatus.ASSIGNED or not order.code_id or not order.compartment_ids:
        return []
    return [
        DepositGrant(
            order=order.id,
            code_id=order.code_id,
            pin_hash=order.pin_hash,
            compartments=order.compartment_ids,
            opens=order.dropoff_from or order.created_at,
            until=order.dropoff_until,
        )
    ]


class DesiredStates:
    """Publishes desired states; one lock per locker so versions reach the broker in increasing order."""

    def __init__(self, db: Database, publisher: Publisher, keys: Sequence[TrustedKey] = ()) -> None:
        """`keys`: the code-signing keys every locker is to trust (the active one and those in rollover)."""
        self._db = db
        self._publisher = publisher
        self._keys = tuple(keys)
        self._locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._locks_guard = threading.Lock()

    def _lock(self, locker_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks[locker_id]

    def publish(self, locker_id: str) -> DesiredState:
        """Bump the locker's version, build its state, commit, then publish it retained at QoS 1.

        Never call this inside an open write transaction: it takes its own."""
        with self._lock(locker_id):
            with self._db.write() as session:
                version = session.execute(
                    update(Locker)
                    .where(Locker.id == locker_id)
                    .values(desired_version=Locker.desired_version + 1)
                    .returning(Locker.desired_version)
                ).scalar_one_or_none()
                if version is None:
                    raise NotFound(f"no locker {locker_id!r}")
                locker = session.get(Locker, locker_id, populate_existing=True, options=[lazyload(Locker.compartments)])
                state = build_desired(session, locker, version, utcnow(), self._keys)
            self._send(locker_id, state)
        return state

    @contextmanager
    def first(self, locker_id: str, pin_salt: str) -> Iterator[DesiredState]:
        """The first desired state of a locker being registered in the caller's block (version 1: its PIN salt, no
        orders yet, as `build_desired` would find), published once the block ended without an error. The locker's
        lock is held throughout, so no later version can reach the broker before it."""
        state = DesiredState(version=1, issued_at=utcnow(), pin_salt=pin_salt, keys=list(self._keys))
        with self._lock(locker_id):
            yield state
            self._send(locker_id, state)

    def _send(self, locker_id: str, state: DesiredState) -> None:
        """Publish a committed state; the caller holds the locker's lock."""
        try:
            self._publisher.publish_desired(locker_id, state)
        except TransportError as exc:
            # Committed already; the next change or restart publishes a newer version anyway.
            log.warning("desired state v%d of %s not published: %s", state.version, locker_id, exc)
            return
        log.info(
            "desired state v%d of %s: %d drop-off(s), %d pickup(s), %d revoked",
            state.version,
            locker_id,
            len(state.dropoffs),
            len(state.pickups),
            len(state.revoked),
        )

    def publish_all(self) -> int:
        """Republish every locker's state (at start-up: the broker may have lost its retained copies)."""
        with self._db.read() as session:
            ids = session.scalars(select(Locker.id).order_by(Locker.id)).all()
        for locker_id in ids:
            self.publish(locker_id)
        return len(ids)
