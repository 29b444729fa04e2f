"""Cold chain of orders: goods hit by a temperature alert are flagged (and blocked under policy "block"), their
vendors told; when an order is collected or expires each part gets its record over its dwell.

Breached means: a temperature alert of the part's zone overlapped the dwell [loaded, collected] on the
locker's clock. The alert already waited out the delay and the door grace, so a brief rise while loading
never breaches, and the verdict matches what the foundation saw as alerts.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cloud.db import utcnow
from cloud.lifecycle import OrderStatus
from cloud.models import ColdChainRecord, Order, OrderBreach, OrderPart, Reading
from cloud.models_monitoring import Alert
from cloud.notify import outbox
from cloud.services import history
from cloud.services.aftercommit import AfterCommit
from cloud.services.alerts import OPEN
from cloud.services.limits import Limits
from cloud.settings import Settings
from lockers.layout import Zone
from sensors.coldchain import ColdChainSummary, summarize
from sensors.rules import AlarmKind

log = logging.getLogger(__name__)

MAX_GAP_S = 300.0  # a reading stands for at most 5 minutes (EN 12830 asks for a sample at least that often)
_GOODS_INSIDE = (OrderStatus.ASSIGNED, OrderStatus.LOADED, OrderStatus.READY, OrderStatus.EXPIRED)
_RECORDED_KINDS = (AlarmKind.TEMPERATURE.value, AlarmKind.SENSOR_FAULT.value)


class ColdChain:
    """Breach marking while goods wait, and the per-order record when they leave."""

    def __init__(self, settings: Settings, limits: Limits) -> None:
        self._settings = settings
        self._limits = limits

    # --- while the goods wait ---------------------------------------------------------------------------

    def alert_raised(self, session: Session, after: AfterCommit, alert: Alert) -> list[str]:
        """A temperature alert: flag every order with goods in that zone of that locker; returns their ids."""
        rows = session.execute(
            select(Order)
            .join(OrderPart, OrderPart.order_id == Order.id)
            .where(
                Order.locker_id == alert.locker_id,
                Order.status.in_(_GOODS_INSIDE),
                OrderPart.zone == alert.zone,
                OrderPart.loaded_at.is_not(None),
                OrderPart.collected_at.is_(None),
            )
            .order_by(Order.id)
        )
        orders = list(dict.fromkeys(row[0] for row in rows))  # an order with two parts in the zone comes twice
        for order in orders:
            self._breach(session, after, order, alert)
        return [order.id for order in orders]

    def goods_loaded(self, session: Session, after: AfterCommit, order: Order, zone: Zone) -> None:
        """Goods went into a zone that is in a temperature alarm right now: they are hit by it as well."""
        alerts = session.scalars(
            select(Alert).where(
                Alert.locker_id == order.locker_id,
                Alert.zone == zone.value,
                Alert.kind == AlarmKind.TEMPERATURE.value,
                Alert.state.in_(OPEN),
            )
        ).all()
        for alert in alerts:
            self._breach(session, after, order, alert)

    def _breach(self, session: Session, after: AfterCommit, order: Order, alert: Alert) -> None:
        if any(breach.alert_id == alert.id for breach in order.breaches):
            return
        order.breaches.append(OrderBreach(alert_id=alert.id, noted_at=utcnow()))
        now = utcnow()
        cause = f"cold chain breached: alert {alert.id} ({alert.detail})"
        if self._settings.coldchain_policy == "block" and not order.pickup_blocked:
            order.pickup_blocked = True
            cause += "; pickup blocked by site policy, the pickup code no longer opens"
            after.republish.add(order.locker_id)
        history.note(order, now, cause)
        log.warning("order %s at %s: %s", order.id, order.locker_id, cause)
        subject = f"[Dorpskluis] order {order.id}: goods too warm at locker {order.locker_id}"
        text = (
            f"Goods of order {order.id} in the {alert.zone} zone of locker {order.locker_id} are affected by "
            f"temperature alert {alert.id}:\n{alert.detail}\n\n"
            + (
                "Site policy: the order can no longer be collected; please arrange a replacement or a refund.\n"
                if order.pickup_blocked
                else "Site policy: the resident may still collect it and sees the warning.\n"
            )
        )
        self._tell_vendors(session, after, order, "order.coldchain_breached", subject, text, alert.id)

    def _tell_vendors(
        self,
        session: Session,
        after: AfterCommit,
        order: Order,
        event: str,
        subject: str,
        text: str,
        alert_id: int | None,
    ) -> None:
        for vendor_id in sorted(order.vendor_ids):
            outbox.to_vendor(
                session, after, vendor_id, event=event, subject=subject, text=text, order_id=order.id, alert_id=alert_id
            )

    # --- when the goods leave ---------------------------------------------------------------------------

    def close(
        self, session: Session, after: AfterCommit, order: Order, end: datetime | None = None
    ) -> list[ColdChainRecord]:
        """Write the record of every loaded part (once): dwell from loading to collection, else up to `end`
        (the expiry). Vendors of a breached order are told. Returns the records (existing ones if written)."""
        if order.coldchain_records:
            return list(order.coldchain_records)
        policy = self._settings.coldchain_policy
        for part in order.parts:
            record = self._record(session, order, part, end, policy)
            if record is not None:
                order.coldchain_records.append(record)
        breached = [r for r in order.coldchain_records if r.breached]
        if breached:
            lines = "\n".join(_describe(r) for r in breached)
            subject = f"[Dorpskluis] order {order.id}: cold-chain record shows a breach"
            text = f"Order {order.id} at locker {order.locker_id} is {order.status}. Its cold-chain record:\n{lines}\n"
            self._tell_vendors(session, after, order, "order.coldchain_record", subject, text, None)
        return list(order.coldchain_records)

    def _record(
        self, session: Session, order: Order, part: OrderPart, end: datetime | None, policy: str
    ) -> ColdChainRecord | None:
        start = part.loaded_ts or part.loaded_at
        stop = part.collected_ts or part.collected_at or end
        if start is None or stop is None:
            return None  # never loaded: nothing sat in the locker
        stop = max(start, stop)
        zone = Zone(part.zone)
        limit_c = self._limits.for_zone(session, order.locker_id, zone).limit_c
        summary = _summarize_zone(session, order.locker_id, zone, start, stop, limit_c)
        alerts = session.scalars(
            select(Alert)
            .where(
                Alert.locker_id == order.locker_id,
                Alert.zone == zone.value,
                Alert.kind.in_(_RECORDED_KINDS),
                Alert.raised_at <= stop,
                or_(Alert.cleared_at.is_(None), Alert.cleared_at >= start),
            )
            .order_by(Alert.id)
        ).all()
        linked = {breach.alert_id for breach in order.breaches}
        ids = sorted({a.id for a in alerts} | linked)
        breached = bool(linked) or any(a.kind == AlarmKind.TEMPERATURE.value for a in alerts)
        return ColdChainRecord(
            position=part.position,
            zone=zone.value,
            compartment_id=part.compartment_id,
            vendor_id=part.vendor_id,
            start=start,
            end=stop,
            samples=summary.samples,
            faulty_samples=summary.faulty_samples,
            min_c=summary.min_c,
            max_c=summary.max_c,
            mean_c=summary.mean_c,
            mkt_c=summary.mkt_c,
            minutes_above_limit=summary.minutes_above_limit,
            limit_c=limit_c,
            breached=breached,
            alert_ids=ids,
            policy=policy,
            computed_at=utcnow(),
        )


def _summarize_zone(
    session: Session, locker_id: str, zone: Zone, start: datetime, end: datetime, limit_c: float | None
) -> ColdChainSummary:
    """One summary over every sensor of the zone: each sensor on its own, then the worst case of them."""
    rows = session.execute(
        select(Reading.sensor, Reading.ts, Reading.celsius)
        .where(
            Reading.locker_id == locker_id,
            Reading.zone == zone.value,
            Reading.ts >= start - timedelta(seconds=MAX_GAP_S),
            Reading.ts <= end,
        )
        .order_by(Reading.ts)
    ).all()
    series: dict[str, list[tuple[datetime, float | None]]] = defaultdict(list)
    for sensor, ts, celsius in rows:
        series[sensor].append((ts, celsius))
    summaries = [summarize(readings, start, end, limit_c, max_gap_s=MAX_GAP_S) for readings in series.values()]
    return combine(summaries, start, end, limit_c)


def combine(
    summaries: Sequence[ColdChainSummary], start: datetime, end: datetime, limit_c: float | None
) -> ColdChainSummary:
    """Several sensors of one zone as one summary: extremes and time above the limit of the worst sensor,
    the mean weighted by samples, the highest MKT."""
    if len(summaries) == 1:
        return summaries[0]
    usable = [s for s in summaries if s.samples]
    total = sum(s.samples for s in usable)
    return ColdChainSummary(
        start=start,
        end=end,
        samples=total,
        faulty_samples=sum(s.faulty_samples for s in summaries),
        min_c=min((s.min_c for s in usable if s.min_c is not None), default=None),
        max_c=max((s.max_c for s in usable if s.max_c is not None), default=None),
        mean_c=sum(s.mean_c * s.samples for s in usable if s.mean_c is not None) / total if total else None,
        mkt_c=max((s.mkt_c for s in usable if s.mkt_c is not None), default=None),
        minutes_above_limit=max((s.minutes_above_limit for s in summaries), default=0.0),
        limit_c=limit_c,
    )


def _describe(record: ColdChainRecord) -> str:
    temps = "no usable readings"
    if record.max_c is not None:
        temps = f"min {record.min_c:.1f} °C, max {record.max_c:.1f} °C, mean {record.mean_c:.1f} °C"
    limit = (
        f"{record.minutes_above_limit:.0f} min above {record.limit_c} °C" if record.limit_c is not None else "no limit"
    )
    return f"- {record.zone} ({record.compartment_id}): {temps}; {limit}; alerts {record.alert_ids or 'none'}"
