"""Conflicts between what a locker did while offline and what was decided upstream in the meantime (a code used
after its order was cancelled, goods loaded for a cancelled order): never dropped, always recorded in the
order's history and raised as one `conflict` alert per order for a person to resolve."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from cloud.models import Order
from cloud.services import history
from cloud.services.aftercommit import AfterCommit
from cloud.services.alerts import Alerts
from lockers.protocol.messages import Event

log = logging.getLogger(__name__)

CONFLICT = "conflict"


class Conflicts:
    """Records conflicts in the order's history and as alerts."""

    def __init__(self, alerts: Alerts) -> None:
        self._alerts = alerts

    def record(
        self, session: Session, after: AfterCommit, locker_id: str, order: Order, event: Event, now: datetime, what: str
    ) -> None:
        """`what` says in words what happened at the locker and why that conflicts (one sentence, no period)."""
        at = min(event.ts, now)
        history.note(order, at, f"conflict: locker {locker_id} event {event.id}: {what}")
        detail = f"order {order.id} at locker {locker_id}: {what}"
        alert = self._alerts.raise_locker_alert(session, after, locker_id, CONFLICT, detail, at, order_id=order.id)
        log.warning("conflict (alert %d): %s (event %s)", alert.id, detail, event.id)
