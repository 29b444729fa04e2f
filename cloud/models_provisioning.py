"""Tables of locker onboarding: one-time enrollment tokens and each locker's broker identity."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db import Base, UtcDateTime, utcnow


class Enrollment(Base):
    """A one-time token a technician trades for the locker's broker credentials; only its hash is kept."""

    __tablename__ = "enrollments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    locker_id: Mapped[str] = mapped_column(ForeignKey("lockers.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # revocation kills open tokens too


class DeviceCredential(Base):
    """The locker's broker account: when it was issued (the `generation`-th time) and whether it is revoked.
    The password itself is only ever in the locker's edge.toml and, hashed, in the broker's password file."""

    __tablename__ = "device_credentials"

    locker_id: Mapped[str] = mapped_column(ForeignKey("lockers.id", ondelete="CASCADE"), primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    generation: Mapped[int] = mapped_column(Integer, default=0)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
