"""Tables of locker monitoring: zone limits, sensor monitor state, alerts, contacts, notifications, the audit
trail and 5-minute reading aggregates. Explicit names, portable types (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DDL, JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db import Base, UtcDateTime, utcnow


class ZoneLimitsRow(Base):
    """Limits of one zone of one locker that differ from the defaults; no row means the defaults apply."""

    __tablename__ = "zone_limits"

    locker_id: Mapped[str] = mapped_column(ForeignKey("lockers.id", ondelete="CASCADE"), primary_key=True)
    zone: Mapped[str] = mapped_column(String(16), primary_key=True)
    limit_c: Mapped[float | None] = mapped_column(Float)
    critical_c: Mapped[float | None] = mapped_column(Float)
    delay_s: Mapped[float] = mapped_column(Float)
    hysteresis_c: Mapped[float] = mapped_column(Float)
    door_grace_s: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SensorMonitorRow(Base):
    """What the alarm rules remember about one sensor (`SensorMonitor.to_json`), so alarms survive a restart."""

    __tablename__ = "sensor_monitors"

    locker_id: Mapped[str] = mapped_column(ForeignKey("lockers.id", ondelete="CASCADE"), primary_key=True)
    sensor: Mapped[str] = mapped_column(String(15), primary_key=True)
    zone: Mapped[str] = mapped_column(String(16))
    state: Mapped[dict] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Alert(Base):
    """An alarm as people handle it: raised -> acknowledged -> cleared (a cleared alert may still be acknowledged)."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_locker_state", "locker_id", "state"),
        Index("ix_alerts_state", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    locker_id: Mapped[str] = mapped_column(ForeignKey("lockers.id", ondelete="CASCADE"))
    zone: Mapped[str | None] = mapped_column(String(16))
    sensor: Mapped[str | None] = mapped_column(String(15))
    kind: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime)  # event time (offline: our clock)
    peak_c: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[str] = mapped_column(Text)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(120))
    ack_note: Mapped[str | None] = mapped_column(Text)
    cleared_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # event time (offline: our clock)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    order_id: Mapped[str | None] = mapped_column(String(8), index=True)  # a conflict about one order
    last_escalated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # our clock
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)  # our clock: escalation counts from here


class Contact(Base):
    """A person or system in the escalation chain: level 0 hears of every alert, higher levels when nobody acts."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    level: Mapped[int] = mapped_column(Integer, index=True)
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Notification(Base):
    """The outbox: written in the transaction that decided to notify, delivered later by one thread."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(8))  # email | webhook
    target: Mapped[str] = mapped_column(String(500))  # address or URL
    event: Mapped[str] = mapped_column(String(40))  # e.g. alert.raised, order.coldchain_breached
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(8), default="pending")  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), index=True)
    order_id: Mapped[str | None] = mapped_column(String(8), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AuditEntry(Base):
    """Append-only: who did what to which subject, with the old and new values. Never updated or deleted."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_subject", "subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(80))  # e.g. alert:12, limits:demo-1/chilled, contact:3
    old: Mapped[dict | None] = mapped_column(JSON)
    new: Mapped[dict | None] = mapped_column(JSON)


class ReadingAggregate(Base):
    """Five minutes of one sensor: usable readings summed for the mean, extremes, and unusable ones counted."""

    __tablename__ = "reading_aggregates"
    __table_args__ = (Index("ix_reading_aggregates_bucket", "bucket_start"),)

    locker_id: Mapped[str] = mapped_column(ForeignKey("lockers.id", ondelete="CASCADE"), primary_key=True)
    sensor: Mapped[str] = mapped_column(String(15), primary_key=True)
    bucket_start: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    zone: Mapped[str] = mapped_column(String(16))
    count: Mapped[int] = mapped_column(Integer)  # usable readings
    sum_c: Mapped[float] = mapped_column(Float)
    min_c: Mapped[float | None] = mapped_column(Float)
    max_c: Mapped[float | None] = mapped_column(Float)
    faulty_count: Mapped[int] = mapped_column(Integer)


# The database itself refuses to change or remove audit entries, whatever a future bug or script tries.
_APPEND_ONLY = {
    "sqlite": [
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$",
        "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
        "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
    ],
}
for _dialect, _statements in _APPEND_ONLY.items():
    for _statement in _statements:
        event.listen(AuditEntry.__table__, "after_create", DDL(_statement).execute_if(dialect=_dialect))
