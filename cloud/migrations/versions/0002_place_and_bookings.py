"""Where lockers stand, bookings in time, expiry and returns (issues 7 and 8): lockers have an address and a map
point; orders book compartments from the drop-off window's start to the
resident's pickup time, have a kind (delivery or return) and may return another order's crates; parts record
when their vendor took them back.

Orders from before get their booking backfilled: from their creation to their pickup deadline when one was
issued, else to the end of the drop-off window plus the default time the food may wait (24 hours, 48 when
every part is ambient; a site with other DK_EXPIRY_HOURS_* settings sees those only on new orders).

Columns are added only when missing: a database made by create_all after some of them existed is migrated too.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _locker_columns() -> list[sa.Column]:
    return [
        sa.Column("address", sa.String(200), nullable=True),
        sa.Column("latitude", sa.Float, nullable=True),
        sa.Column("longitude", sa.Float, nullable=True),
    ]


def _order_columns() -> list[sa.Column]:
    return [
        sa.Column("dropoff_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pickup_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("kind", sa.String(8), nullable=False, server_default="delivery"),
        sa.Column("returns_order_id", sa.String(8), nullable=True),
    ]


def _part_columns() -> list[sa.Column]:
    return [
        sa.Column("retrieved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retrieved_ts", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retrieved_event", sa.String(32), nullable=True),
    ]


def _missing(table: str, columns: list[sa.Column]) -> list[sa.Column]:
    present = {column["name"] for column in sa.inspect(op.get_bind()).get_columns(table)}
    return [column for column in columns if column.name not in present]


def upgrade() -> None:
    for column in _missing("lockers", _locker_columns()):
        op.add_column("lockers", column)
    for column in _missing("orders", _order_columns()):
        op.add_column("orders", column)
    indexes = {index["name"] for index in sa.inspect(op.get_bind()).get_indexes("orders")}
    if "ix_orders_returns_order_id" not in indexes:
        op.create_index("ix_orders_returns_order_id", "orders", ["returns_order_id"])
    foreign = {fk["name"] for fk in sa.inspect(op.get_bind()).get_foreign_keys("orders")}
    if "fk_orders_returns_order_id_orders" not in foreign:
        # SQLite adds a foreign key only by copying the table (batch mode; cloud.schema turns the checks off).
        with op.batch_alter_table("orders") as batch:
            batch.create_foreign_key("fk_orders_returns_order_id_orders", "orders", ["returns_order_id"], ["id"])
    for column in _missing("order_parts", _part_columns()):
        op.add_column("order_parts", column)
    _backfill()


def _backfill() -> None:
    orders = sa.table(
        "orders",
        sa.column("id", sa.String),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("dropoff_from", sa.DateTime(timezone=True)),
        sa.column("dropoff_until", sa.DateTime(timezone=True)),
        sa.column("pickup_by", sa.DateTime(timezone=True)),
        sa.column("pickup_deadline", sa.DateTime(timezone=True)),
    )
    parts = sa.table("order_parts", sa.column("order_id", sa.String), sa.column("zone", sa.String))
    bind = op.get_bind()
    bind.execute(orders.update().where(orders.c.dropoff_from.is_(None)).values(dropoff_from=orders.c.created_at))
    rows = bind.execute(
        sa.select(orders.c.id, orders.c.dropoff_until, orders.c.pickup_deadline).where(orders.c.pickup_by.is_(None))
    ).all()
    zones: dict[str, set[str]] = {}
    for order_id, zone in bind.execute(sa.select(parts.c.order_id, parts.c.zone)).all():
        zones.setdefault(order_id, set()).add(zone)
    for order_id, until, deadline in rows:
        if deadline is None:
            hours = 48 if zones.get(order_id, {"chilled"}) == {"ambient"} else 24
            deadline = until + timedelta(hours=hours)
        bind.execute(orders.update().where(orders.c.id == order_id).values(pickup_by=deadline))


def downgrade() -> None:
    raise NotImplementedError("the bookings of issue 8 cannot be undone without losing them: restore a backup")
