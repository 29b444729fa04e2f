"""Tables of the link with the lockers: each locker's event numbering, remote commands, and messages whose
processing failed (kept for replay after a fix). Explicit names, portable types (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db import Base, UtcDateTime, utcnow


class EventStream(Base):
    """What arrived of a locker's event numbering (cloud.sequence.Numbering); locked by every event ingest."""

    __tablename__ = "event_streams"

    locker_id: Mapped[str] = mapped_column(ForeignKey("lockers.id", ondelete="CASCADE"), primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    # [[first, last, since ISO, quiet, resend requested at ISO | None, resend requests], ...]
    gaps: Mapped[list] = mapped_column(JSON, default=list)
    # The oldest gap's `since`, as a column so the watchdog finds overdue gaps without reading every row.
    oldest_gap_since: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    restarted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    written_off: Mapped[list] = mapped_column(JSON, default=list)  # [[first, last], ...] given up at restarts
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class RemoteCommand(Base):
    """A remote command (an admin's unlock, or the cloud's own `resend` with issued_by "cloud"): sent ->
    acknowledged | refused; `expired` is computed while no answer came in time."""

    __tablename__ = "remote_commands"
    __table_args__ = (Index("ix_remote_commands_locker_issued", "locker_id", "issued_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    locker_id: Mapped[str] = mapped_column(ForeignKey("lockers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # unlock | resend
    compartments: Mapped[list] = mapped_column(JSON)  # [] for a resend; its range is in `reason`
    reason: Mapped[str] = mapped_column(Text)
    issued_by: Mapped[str] = mapped_column(String(80))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    state: Mapped[str] = mapped_column(String(16))  # sent | acknowledged | refused | failed
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    opened: Mapped[list | None] = mapped_column(JSON)
    detail: Mapped[str | None] = mapped_column(Text)


class IngestFailure(Base):
    """A well-formed MQTT message whose processing raised (a bug): kept as received, so nothing is lost."""

    __tablename__ = "ingest_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    topic: Mapped[str] = mapped_column(String(200))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    error: Mapped[str] = mapped_column(Text)
