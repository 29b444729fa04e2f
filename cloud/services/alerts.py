"""The alert lifecycle: alarm changes of the rules become alert rows and notifications; acknowledgement and
escalation (on our wall clock) go through the audit trail.

State: raised -> acknowledged -> cleared, or raised -> cleared. Clearing follows the rules (the excursion
ended), whether or not anybody acknowledged; a cleared alert that nobody acknowledged may still be
acknowledged later (recorded, state stays cleared). Acknowledging twice is refused.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db import Database, utcnow
from cloud.errors import Conflict, NotFound
from cloud.models import Locker
from cloud.models_monitoring import Alert
from cloud.notify import outbox
from cloud.schemas_monitoring import AlertOut
from cloud.services import audit
from cloud.services.aftercommit import AfterCommit
from cloud.settings import Settings
from lockers.layout import Zone
from sensors.rules import AlarmChange, AlarmKind, Severity

log = logging.getLogger(__name__)

RAISED, ACKNOWLEDGED, CLEARED = "raised", "acknowledged", "cleared"
OPEN = (RAISED, ACKNOWLEDGED)
WARNING, CRITICAL = Severity.WARNING.value, Severity.CRITICAL.value
# Alerts with no condition that could end by itself (a conflict, a keypad lockout need a person): acknowledging
# clears them.
CLEARED_BY_ACK = frozenset({"conflict", "keypad_locked"})


def alert_out(alert: Alert) -> AlertOut:
    return AlertOut(
        id=alert.id,
        locker=alert.locker_id,
        zone=Zone(alert.zone) if alert.zone else None,
        sensor=alert.sensor,
        order=alert.order_id,
        kind=alert.kind,
        severity=alert.severity,
        state=alert.state,
        raised_at=alert.raised_at,
        peak_c=alert.peak_c,
        detail=alert.detail,
        acknowledged_at=alert.acknowledged_at,
        acknowledged_by=alert.acknowledged_by,
        ack_note=alert.ack_note,
        cleared_at=alert.cleared_at,
        escalation_level=alert.escalation_level,
    )


def open_locker_alert(session: Session, locker_id: str, kind: str, order_id: str | None = None) -> Alert | None:
    """The open alert of `kind` about the whole locker, or about `order_id` when given."""
    query = select(Alert).where(
        Alert.locker_id == locker_id, Alert.kind == kind, Alert.state.in_(OPEN), Alert.sensor.is_(None)
    )
    query = query.where(Alert.order_id.is_(None) if order_id is None else Alert.order_id == order_id)
    return session.scalars(query.order_by(Alert.id.desc()).limit(1)).first()


def open_alert(session: Session, locker_id: str, sensor: str | None, kind: AlarmKind) -> Alert | None:
    """The alert of this sensor (None: of the locker) and kind that is not cleared yet."""
    query = select(Alert).where(Alert.locker_id == locker_id, Alert.kind == kind.value, Alert.state.in_(OPEN))
    query = query.where(Alert.sensor.is_(None) if sensor is None else Alert.sensor == sensor)
    return session.scalars(query.order_by(Alert.id.desc()).limit(1)).first()


class Alerts:
    """Alert rows, their notifications, acknowledgement and escalation."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings

    # --- changes decided by the rules (inside the ingest transaction) -------------------------------

    def apply(
        self,
        session: Session,
        after: AfterCommit,
        locker_id: str,
        zone: str | None,
        sensor: str | None,
        change: AlarmChange,
    ) -> Alert | None:
        """Record one alarm change; returns the alert it concerns (None for a change of an unknown alert)."""
        alert = open_alert(session, locker_id, sensor, change.kind)
        if change.action == "raised":
            if alert is not None:  # never two open alerts for one sensor and kind
                log.warning(
                    "locker %s sensor %s: %s raised again while alert %d is open",
                    locker_id,
                    sensor,
                    change.kind,
                    alert.id,
                )
                return alert
            alert = Alert(
                locker_id=locker_id,
                zone=zone,
                sensor=sensor,
                kind=change.kind.value,
                severity=change.severity.value,
                state=RAISED,
                raised_at=change.at,
                peak_c=change.celsius,
                detail=change.detail,
                escalation_level=0,
                created_at=utcnow(),
            )
            session.add(alert)
            session.flush()
            self._notify(session, after, alert, "alert.raised", change.detail, range(0, 1))
            log.warning("alert %d raised at %s: %s", alert.id, locker_id, change.detail)
            return alert
        if alert is None:
            log.warning(
                "locker %s sensor %s: %s %s, but no open alert is known", locker_id, sensor, change.kind, change.action
            )
            return None
        if change.action == "escalated":
            alert.severity = change.severity.value
            alert.detail = change.detail
            alert.peak_c = _higher(alert.peak_c, change.celsius)
            self._notify(session, after, alert, "alert.worsened", change.detail, range(alert.escalation_level + 1))
        elif change.action == "cleared":
            alert.state = CLEARED
            alert.cleared_at = change.at
            self._notify(session, after, alert, "alert.cleared", change.detail, range(alert.escalation_level + 1))
            log.info("alert %d cleared at %s: %s", alert.id, locker_id, change.detail)
        return alert

    @staticmethod
    def track_peak(session: Session, locker_id: str, sensor: str, kind: AlarmKind, peak_c: float | None) -> None:
        """Keep an open alert's peak up to date while the excursion lasts (the rules report no change then)."""
        alert = open_alert(session, locker_id, sensor, kind)
        if alert is not None and peak_c is not None:
            alert.peak_c = _higher(alert.peak_c, peak_c)

    # --- alerts about a whole locker, decided here (offline, event gaps, conflicts) --------------------

    def raise_offline(self, session: Session, after: AfterCommit, locker: Locker, now: datetime, why: str) -> Alert:
        detail = f"locker {locker.id} {why}"
        return self.raise_locker_alert(session, after, locker.id, AlarmKind.OFFLINE.value, detail, now, CRITICAL)

    def clear_offline(self, session: Session, after: AfterCommit, locker: Locker, now: datetime) -> None:
        alert = open_locker_alert(session, locker.id, AlarmKind.OFFLINE.value)
        if alert is not None:
            self.clear_alert(session, after, alert, now, f"locker {locker.id} reports again")

    def raise_locker_alert(
        self,
        session: Session,
        after: AfterCommit,
        locker_id: str,
        kind: str,
        detail: str,
        at: datetime,
        severity: str = WARNING,
        order_id: str | None = None,
    ) -> Alert:
        """Open an alert of `kind` about the locker (or one of its orders) unless one is open; returns it."""
        alert = open_locker_alert(session, locker_id, kind, order_id)
        if alert is not None:
            return alert
        alert = Alert(
            locker_id=locker_id,
            kind=kind,
            severity=severity,
            state=RAISED,
            raised_at=at,
            detail=detail,
            escalation_level=0,
            order_id=order_id,
            created_at=utcnow(),
        )
        session.add(alert)
        session.flush()
        self._notify(session, after, alert, "alert.raised", detail, range(0, 1))
        log.warning("alert %d raised at %s: %s", alert.id, locker_id, detail)
        return alert

    def clear_alert(self, session: Session, after: AfterCommit, alert: Alert, at: datetime, detail: str) -> None:
        """End an open alert whose cause went away."""
        alert.state = CLEARED
        alert.cleared_at = at
        self._notify(session, after, alert, "alert.cleared", detail, range(alert.escalation_level + 1))
        log.info("alert %d cleared at %s: %s", alert.id, alert.locker_id, detail)

    # --- people ---------------------------------------------------------------------------------------

    def acknowledge(self, actor: str, alert_id: int, note: str | None) -> AlertOut:
        """Someone takes care of the alert: recorded with who and when, and escalation stops."""
        with self._db.write() as session:
            alert = session.get(Alert, alert_id, with_for_update=True)
            if alert is None:
                raise NotFound(f"no alert {alert_id}")
            if alert.acknowledged_at is not None:
                raise Conflict(
                    f"alert {alert.id} was already acknowledged by {alert.acknowledged_by} "
                    f"at {alert.acknowledged_at:%Y-%m-%d %H:%M:%S} UTC"
                )
            old = {"state": alert.state}
            alert.acknowledged_at = utcnow()
            alert.acknowledged_by = actor[:120]
            alert.ack_note = note
            if alert.kind in CLEARED_BY_ACK and alert.state != CLEARED:
                alert.state, alert.cleared_at = CLEARED, alert.acknowledged_at
            elif alert.state == RAISED:
                alert.state = ACKNOWLEDGED
            audit.record(
                session, actor, "alert.acknowledged", f"alert:{alert.id}", old, {"state": alert.state, "note": note}
            )
            session.flush()
            return alert_out(alert)

    def get(self, session: Session, alert_id: int) -> AlertOut:
        alert = session.get(Alert, alert_id)
        if alert is None:
            raise NotFound(f"no alert {alert_id}")
        return alert_out(alert)

    def list(
        self, session: Session, *, locker: str | None, state: str | None, kind: str | None, limit: int
    ) -> list[AlertOut]:
        """Newest first."""
        query = select(Alert).order_by(Alert.created_at.desc(), Alert.id.desc()).limit(limit)
        if locker is not None:
            query = query.where(Alert.locker_id == locker)
        if state is not None:
            query = query.where(Alert.state == state)
        if kind is not None:
            query = query.where(Alert.kind == kind)
        return [alert_out(alert) for alert in session.scalars(query)]

    # --- escalation (our wall clock) ------------------------------------------------------------------

    def due_for_escalation(self, session: Session, now: datetime) -> list[int]:
        """Ids of unacknowledged alerts that waited long enough and have a contact level above them."""
        alerts = session.scalars(select(Alert).where(Alert.state == RAISED).order_by(Alert.id))
        return [alert.id for alert in alerts if self._is_due(session, alert, now)]

    def escalate(self, session: Session, after: AfterCommit, alert_ids: list[int], now: datetime) -> int:
        """Move each alert still due one contact level up: notification, audit entry; returns how many moved."""
        moved = 0
        for alert_id in alert_ids:
            alert = session.get(Alert, alert_id, with_for_update=True)
            if alert is None or not self._is_due(session, alert, now):
                continue  # acknowledged or cleared in the meantime
            old, level = alert.escalation_level, outbox.next_level(session, alert.escalation_level)
            alert.escalation_level, alert.last_escalated_at = level, now
            subject = f"alert:{alert.id}"
            audit.record(
                session,
                audit.SYSTEM,
                "alert.escalated",
                subject,
                {"escalation_level": old},
                {"escalation_level": level},
                now,
            )
            waited = (now - alert.created_at).total_seconds() / 60
            detail = f"not acknowledged for {waited:.0f} min: {alert.detail}"
            self._notify(session, after, alert, "alert.escalated", detail, [level])
            log.warning("alert %d not acknowledged: escalated to level %d", alert.id, level)
            moved += 1
        return moved

    def _is_due(self, session: Session, alert: Alert, now: datetime) -> bool:
        """Raised, unacknowledged for `escalation_after_minutes × (level + 1)` (our clock), not at the top level."""
        step = timedelta(minutes=self._settings.escalation_after_minutes)
        if alert.state != RAISED or now - alert.created_at < step * (alert.escalation_level + 1):
            return False
        return outbox.next_level(session, alert.escalation_level) is not None

    # --- notifications --------------------------------------------------------------------------------

    def _notify(self, session: Session, after: AfterCommit, alert: Alert, event: str, detail: str, levels) -> None:
        contacts = outbox.contacts_at(session, levels)
        if not contacts:
            return
        where = f"{alert.locker_id}" + (f" ({alert.zone})" if alert.zone else "")
        what = {"alert.raised": "raised", "alert.worsened": "now critical", "alert.escalated": "not acknowledged"}
        subject = (
            f"[Dorpskluis] {alert.kind.replace('_', ' ')} alert {alert.id} at {where}: {what.get(event, 'cleared')}"
        )
        base = self._settings.public_url.rstrip("/")
        text = (
            f"{detail}\n\n"
            f"Alert {alert.id}: {alert.kind} ({alert.severity}), locker {alert.locker_id}"
            + (f", {alert.zone} zone, sensor {alert.sensor}" if alert.zone else "")
            + f"\nRaised at {alert.raised_at:%Y-%m-%d %H:%M:%S} UTC (locker time)."
            + (f"\nCleared at {alert.cleared_at:%Y-%m-%d %H:%M:%S} UTC." if alert.cleared_at else "")
            + f"\n\nAcknowledge: POST {base}/api/v1/alerts/{alert.id}/ack (admin key)\n"
        )
        payload = {"event": event, "alert": alert_out(alert).model_dump(mode="json"), "detail": detail}
        outbox.to_contacts(
            session, after, contacts, event=event, subject=subject, text=text, payload=payload, alert_id=alert.id
        )


def _higher(current: float | None, candidate: float | None) -> float | None:
    if candidate is None:
        return current
    return candidate if current is None or candidate > current else current
