"""Expiry: ready orders nobody collected by their pickup deadline become `expired`, their cold-chain record ends
there, and their vendors are asked to take the goods back (the watchdog sweeps every round)."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db import Database
from cloud.lifecycle import OrderKind, OrderStatus
from cloud.models import Order
from cloud.services import history
from cloud.services.aftercommit import AfterCommit, Republisher, Waker
from cloud.services.coldchain import ColdChain
from cloud.services.takeback import tell_vendors, waiting

log = logging.getLogger(__name__)

SWEEP_BATCH = 200  # orders expired per transaction; the rest wait for the next round


class Expiry:
    """Moves ready orders past their pickup deadline to `expired` and asks their vendors to take the goods back."""

    def __init__(self, db: Database, coldchain: ColdChain, desired: Republisher, notifier: Waker | None) -> None:
        self._db = db
        self._coldchain = coldchain
        self._desired = desired
        self._notifier = notifier

    @staticmethod
    def _due(session: Session, now: datetime) -> list[str]:
        return list(
            session.scalars(
                select(Order.id)
                .where(
                    Order.status == OrderStatus.READY,
                    Order.kind == OrderKind.DELIVERY,
                    Order.pickup_deadline <= now,
                )
                .order_by(Order.pickup_deadline, Order.id)
                .limit(SWEEP_BATCH)
            )
        )

    def sweep(self, now: datetime) -> int:
        """Expire up to SWEEP_BATCH orders due by `now`, each in a transaction of its own (one order locked at a
        time, so ingest, which locks orders of a batch in its own sequence, never waits on a cycle). Returns how
        many expired."""
        with self._db.read() as session:
            due = self._due(session, now)
        expired = 0
        for order_id in due:
            after = AfterCommit()
            with self._db.write() as session:
                order = session.get(Order, order_id, with_for_update=True, populate_existing=True)
                if order is None or order.status != OrderStatus.READY or order.pickup_deadline > now:
                    continue  # collected or cancelled meanwhile
                self._expire(session, after, order)
                after.republish.add(order.locker_id)
            after.run(self._desired, self._notifier)
            expired += 1
        if expired:
            log.info("%d order(s) expired: not collected by their pickup deadline", expired)
        return expired

    def _expire(self, session: Session, after: AfterCommit, order: Order) -> None:
        deadline = order.pickup_deadline
        left = waiting(order)
        where = "; ".join(f"{vendor}: {', '.join(ids)}" for vendor, ids in left.items())
        history.move(
            order,
            OrderStatus.EXPIRED,
            deadline,
            f"not collected by the pickup deadline {deadline:%Y-%m-%d %H:%M} UTC; vendors to take back {where}",
        )
        # The cold-chain record ends at the expiry: what happens to the goods after is the vendor's.
        self._coldchain.close(session, after, order, end=deadline)
        why = (
            f"Order {order.id} for {order.resident_name} was not collected by its pickup deadline "
            f"({deadline:%Y-%m-%d %H:%M} UTC)."
        )
        tell_vendors(
            session, after, order, "order.expired", f"[Dorpskluis] order {order.id} expired: please take it back", why
        )
