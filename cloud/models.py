"""Tables of the cloud service; portable types and explicit names so Alembic can take over later."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cloud.db import Base, UtcDateTime, utcnow

# Deterministic constraint names: migrations can refer to them on every database.
Base.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = Base.metadata


class Locker(Base):
    __tablename__ = "lockers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    village: Mapped[str | None] = mapped_column(String(100))
    # Where residents find it: a street address with a hint ("beside the church door") and a map point.
    address: Mapped[str | None] = mapped_column(String(200))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    layout: Mapped[dict] = mapped_column(JSON)
    pin_salt: Mapped[str] = mapped_column(String(32))
    desired_version: Mapped[int] = mapped_column(Integer, default=0)
    reported_version: Mapped[int | None] = mapped_column(Integer)
    agent: Mapped[str | None] = mapped_column(String(40))
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    compartments: Mapped[list[Compartment]] = relationship(
        back_populates="locker", order_by="Compartment.id", lazy="selectin", cascade="all, delete-orphan"
    )


class Compartment(Base):
    __tablename__ = "compartments"

    locker_id: Mapped[str] = mapped_column(ForeignKey("lockers.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[str] = mapped_column(String(3), primary_key=True)
    zone: Mapped[str] = mapped_column(String(16))
    size: Mapped[str] = mapped_column(String(1))
    accessible: Mapped[bool] = mapped_column(Boolean, default=False)
    door: Mapped[str] = mapped_column(String(8), default="unknown")
    door_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    locker: Mapped[Locker] = relationship(back_populates="compartments")


class Vendor(Base):
    __tablename__ = "vendors"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(254))
    api_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    code_id: Mapped[str] = mapped_column(String(16))
    code_token: Mapped[str] = mapped_column(Text)
    code_expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(String(8), primary_key=True)
    locker_id: Mapped[str] = mapped_column(ForeignKey("lockers.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    resident_name: Mapped[str] = mapped_column(String(100))
    resident_email: Mapped[str | None] = mapped_column(String(254))
    resident_phone: Mapped[str | None] = mapped_column(String(40))
    accessible: Mapped[bool] = mapped_column(Boolean, default=False)
    # "delivery": vendors load, the resident collects. "return": the resident puts crates, jars or packaging in
    # with a deposit code, and the vendor takes them back with its vendor code.
    kind: Mapped[str] = mapped_column(String(8), default="delivery", server_default="delivery")
    # Of a return: the collected order whose crates, jars or packaging go back.
    returns_order_id: Mapped[str | None] = mapped_column(ForeignKey("orders.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # The booking: from the drop-off window's start to the resident's pickup time (None in rows made before
    # bookings in time: the creation time and the end of the window plus the food's shortest wait).
    dropoff_from: Mapped[datetime | None] = mapped_column(UtcDateTime)
    dropoff_until: Mapped[datetime] = mapped_column(UtcDateTime)
    pickup_by: Mapped[datetime | None] = mapped_column(UtcDateTime)
    pickup_deadline: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resident_token_hash: Mapped[str] = mapped_column(String(64))
    code_id: Mapped[str | None] = mapped_column(String(16))
    code_token: Mapped[str | None] = mapped_column(Text)
    pin: Mapped[str | None] = mapped_column(String(6))
    pin_hash: Mapped[str | None] = mapped_column(String(64))
    code_issued_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Set when the goods breached the cold chain under the site policy "block": the code is revoked.
    pickup_blocked: Mapped[bool] = mapped_column(Boolean, default=False)

    parts: Mapped[list[OrderPart]] = relationship(
        back_populates="order", order_by="OrderPart.position", lazy="selectin", cascade="all, delete-orphan"
    )
    transitions: Mapped[list[OrderTransition]] = relationship(
        order_by="OrderTransition.id", lazy="selectin", cascade="all, delete-orphan"
    )
    breaches: Mapped[list[OrderBreach]] = relationship(
        order_by="OrderBreach.alert_id", lazy="selectin", cascade="all, delete-orphan"
    )
    coldchain_records: Mapped[list[ColdChainRecord]] = relationship(
        order_by="ColdChainRecord.position", lazy="selectin", cascade="all, delete-orphan"
    )

    @property
    def compartment_ids(self) -> list[str]:
        return sorted({part.compartment_id for part in self.parts if part.compartment_id})

    @property
    def vendor_ids(self) -> set[str]:
        return {part.vendor_id for part in self.parts}


class OrderPart(Base):
    __tablename__ = "order_parts"
    __table_args__ = (UniqueConstraint("order_id", "position", name="uq_order_parts_order_position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    zone: Mapped[str] = mapped_column(String(16))
    size: Mapped[str] = mapped_column(String(1))
    vendor_id: Mapped[str] = mapped_column(ForeignKey("vendors.id"), index=True)
    compartment_id: Mapped[str | None] = mapped_column(String(3))
    loaded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    collected_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The locker's own timestamps of loading and collection (event time, never clamped to our clock):
    # the cold-chain record covers exactly this dwell, on the same clock as the readings.
    loaded_ts: Mapped[datetime | None] = mapped_column(UtcDateTime)
    collected_ts: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The locker events these facts come from (the earliest one wins): causes in the history name them.
    loaded_event: Mapped[str | None] = mapped_column(String(32))
    collected_event: Mapped[str | None] = mapped_column(String(32))
    # The vendor took the part back (expired goods, or a resident's return), by the same three measures.
    retrieved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    retrieved_ts: Mapped[datetime | None] = mapped_column(UtcDateTime)
    retrieved_event: Mapped[str | None] = mapped_column(String(32))

    order: Mapped[Order] = relationship(back_populates="parts")


class OrderTransition(Base):
    __tablename__ = "order_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    cause: Mapped[str] = mapped_column(Text)


class EdgeEvent(Base):
    """An event as a locker reported it; the unique event id is what de-duplicates QoS 1 repeats."""

    __tablename__ = "edge_events"
    __table_args__ = (Index("ix_edge_events_locker_seq", "locker_id", "seq"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(32), unique=True)
    locker_id: Mapped[str] = mapped_column(ForeignKey("lockers.id", ondelete="CASCADE"))
    numbering: Mapped[int] = mapped_column(Integer, default=0)  # the locker's numbering epoch (cloud.sequence)
    seq: Mapped[int] = mapped_column(Integer)
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    fields: Mapped[dict] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Reading(Base):
    """A raw temperature sample, kept for `raw_retention_days`; a repeated sample (QoS 1) is stored once."""

    __tablename__ = "readings"
    __table_args__ = (Index("ix_readings_locker_ts", "locker_id", "ts"),)

    # The natural key is the primary key: a surrogate id would cost one more index and a sequence per row.
    # No foreign key to `lockers`: its check costs ~6 µs per row, a fifth of storing a batch (docs/architecture.md,
    # "Ingest"); ingest stores a locker's readings only while it holds that locker's row, and lockers are never
    # deleted.
    locker_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    sensor: Mapped[str] = mapped_column(String(15), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    zone: Mapped[str] = mapped_column(String(16))
    celsius: Mapped[float | None] = mapped_column(Float)
    quality: Mapped[str] = mapped_column(String(20))


class LatestReading(Base):
    """The newest reading of each sensor, so status pages never scan the readings table."""

    __tablename__ = "latest_readings"

    locker_id: Mapped[str] = mapped_column(ForeignKey("lockers.id", ondelete="CASCADE"), primary_key=True)
    sensor: Mapped[str] = mapped_column(String(15), primary_key=True)
    zone: Mapped[str] = mapped_column(String(16))
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    celsius: Mapped[float | None] = mapped_column(Float)
    quality: Mapped[str] = mapped_column(String(20))


class OrderBreach(Base):
    """A temperature alert that hit goods of this order while they were in the locker."""

    __tablename__ = "order_breaches"

    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), primary_key=True)
    noted_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ColdChainRecord(Base):
    """The temperatures one order part saw during its dwell; written once when the order is collected or expires."""

    __tablename__ = "coldchain_records"
    __table_args__ = (UniqueConstraint("order_id", "position", name="uq_coldchain_records_order_position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # of the order part
    zone: Mapped[str] = mapped_column(String(16))
    compartment_id: Mapped[str | None] = mapped_column(String(3))
    vendor_id: Mapped[str] = mapped_column(String(40))
    start: Mapped[datetime] = mapped_column(UtcDateTime)
    end: Mapped[datetime] = mapped_column(UtcDateTime)
    samples: Mapped[int] = mapped_column(Integer)
    faulty_samples: Mapped[int] = mapped_column(Integer)
    min_c: Mapped[float | None] = mapped_column(Float)
    max_c: Mapped[float | None] = mapped_column(Float)
    mean_c: Mapped[float | None] = mapped_column(Float)
    mkt_c: Mapped[float | None] = mapped_column(Float)
    minutes_above_limit: Mapped[float] = mapped_column(Float)
    limit_c: Mapped[float | None] = mapped_column(Float)
    breached: Mapped[bool] = mapped_column(Boolean)
    alert_ids: Mapped[list] = mapped_column(JSON)
    policy: Mapped[str] = mapped_column(String(8))
    computed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SigningKey(Base):
    """Public half of every signing key ever used; the private key stays in its PEM file."""

    __tablename__ = "signing_keys"

    kid: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    public_key: Mapped[str] = mapped_column(String(64), unique=True)
    algorithm: Mapped[str] = mapped_column(String(16), default="Ed25519")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # replaced by a newer key (rotation)


# The monitoring tables (alerts, limits, audit, notifications, aggregates), those of the edge link (event
# numbering, remote commands, failed ingests), of onboarding (enrollments, device credentials) and of API
# access (integrations) live in their own modules.
from cloud import models_access, models_edge, models_monitoring, models_provisioning  # noqa: E402, F401
