"""Baseline: the schema as `create_all` made it before migrations existed (commit dac7133, the end of issue 7's
first pages). A database made by create_all without an `alembic_version` table counts as this revision.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("old", sa.JSON(), nullable=True),
        sa.Column("new", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_subject", "audit_log", ["subject"], unique=False)
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("webhook_url", sa.String(length=500), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
    )
    op.create_index(op.f("ix_contacts_level"), "contacts", ["level"], unique=False)
    op.create_table(
        "ingest_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_failures")),
    )
    op.create_table(
        "integrations",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("vendors", sa.JSON(), nullable=False),
        sa.Column("api_key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integrations")),
        sa.UniqueConstraint("api_key_hash", name=op.f("uq_integrations_api_key_hash")),
    )
    op.create_table(
        "lockers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("village", sa.String(length=100), nullable=True),
        sa.Column("layout", sa.JSON(), nullable=False),
        sa.Column("pin_salt", sa.String(length=32), nullable=False),
        sa.Column("desired_version", sa.Integer(), nullable=False),
        sa.Column("reported_version", sa.Integer(), nullable=True),
        sa.Column("agent", sa.String(length=40), nullable=True),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lockers")),
    )
    op.create_table(
        "readings",
        sa.Column("locker_id", sa.String(length=32), nullable=False),
        sa.Column("sensor", sa.String(length=15), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("zone", sa.String(length=16), nullable=False),
        sa.Column("celsius", sa.Float(), nullable=True),
        sa.Column("quality", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("locker_id", "sensor", "ts", name=op.f("pk_readings")),
    )
    op.create_index("ix_readings_locker_ts", "readings", ["locker_id", "ts"], unique=False)
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_signing_keys")),
        sa.UniqueConstraint("public_key", name=op.f("uq_signing_keys_public_key")),
    )
    op.create_table(
        "vendors",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("api_key_hash", sa.String(length=64), nullable=False),
        sa.Column("code_id", sa.String(length=16), nullable=False),
        sa.Column("code_token", sa.Text(), nullable=False),
        sa.Column("code_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vendors")),
        sa.UniqueConstraint("api_key_hash", name=op.f("uq_vendors_api_key_hash")),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("locker_id", sa.String(length=32), nullable=False),
        sa.Column("zone", sa.String(length=16), nullable=True),
        sa.Column("sensor", sa.String(length=15), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("peak_c", sa.Float(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=120), nullable=True),
        sa.Column("ack_note", sa.Text(), nullable=True),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.String(length=8), nullable=True),
        sa.Column("last_escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["locker_id"], ["lockers.id"], name=op.f("fk_alerts_locker_id_lockers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index("ix_alerts_locker_state", "alerts", ["locker_id", "state"], unique=False)
    op.create_index(op.f("ix_alerts_order_id"), "alerts", ["order_id"], unique=False)
    op.create_index("ix_alerts_state", "alerts", ["state"], unique=False)
    op.create_table(
        "compartments",
        sa.Column("locker_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=3), nullable=False),
        sa.Column("zone", sa.String(length=16), nullable=False),
        sa.Column("size", sa.String(length=1), nullable=False),
        sa.Column("accessible", sa.Boolean(), nullable=False),
        sa.Column("door", sa.String(length=8), nullable=False),
        sa.Column("door_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["locker_id"], ["lockers.id"], name=op.f("fk_compartments_locker_id_lockers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("locker_id", "id", name=op.f("pk_compartments")),
    )
    op.create_table(
        "device_credentials",
        sa.Column("locker_id", sa.String(length=32), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["locker_id"], ["lockers.id"], name=op.f("fk_device_credentials_locker_id_lockers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("locker_id", name=op.f("pk_device_credentials")),
    )
    op.create_table(
        "edge_events",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=32), nullable=False),
        sa.Column("locker_id", sa.String(length=32), nullable=False),
        sa.Column("numbering", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["locker_id"], ["lockers.id"], name=op.f("fk_edge_events_locker_id_lockers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_edge_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_edge_events_event_id")),
    )
    op.create_index(op.f("ix_edge_events_kind"), "edge_events", ["kind"], unique=False)
    op.create_index("ix_edge_events_locker_seq", "edge_events", ["locker_id", "seq"], unique=False)
    op.create_table(
        "enrollments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("locker_id", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["locker_id"], ["lockers.id"], name=op.f("fk_enrollments_locker_id_lockers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrollments")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_enrollments_token_hash")),
    )
    op.create_index(op.f("ix_enrollments_locker_id"), "enrollments", ["locker_id"], unique=False)
    op.create_table(
        "event_streams",
        sa.Column("locker_id", sa.String(length=32), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("gaps", sa.JSON(), nullable=False),
        sa.Column("oldest_gap_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("restarted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("written_off", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["locker_id"], ["lockers.id"], name=op.f("fk_event_streams_locker_id_lockers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("locker_id", name=op.f("pk_event_streams")),
    )
    op.create_index(op.f("ix_event_streams_oldest_gap_since"), "event_streams", ["oldest_gap_since"], unique=False)
    op.create_table(
        "latest_readings",
        sa.Column("locker_id", sa.String(length=32), nullable=False),
        sa.Column("sensor", sa.String(length=15), nullable=False),
        sa.Column("zone", sa.String(length=16), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("celsius", sa.Float(), nullable=True),
        sa.Column("quality", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["locker_id"], ["lockers.id"], name=op.f("fk_latest_readings_locker_id_lockers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("locker_id", "sensor", name=op.f("pk_latest_readings")),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.String(length=8), nullable=False),
        sa.Column("locker_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resident_name", sa.String(length=100), nullable=False),
        sa.Column("resident_email", sa.String(length=254), nullable=True),
        sa.Column("resident_phone", sa.String(length=40), nullable=True),
        sa.Column("accessible", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dropoff_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pickup_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resident_token_hash", sa.String(length=64), nullable=False),
        sa.Column("code_id", sa.String(length=16), nullable=True),
        sa.Column("code_token", sa.Text(), nullable=True),
        sa.Column("pin", sa.String(length=6), nullable=True),
        sa.Column("pin_hash", sa.String(length=64), nullable=True),
        sa.Column("code_issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pickup_blocked", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["locker_id"], ["lockers.id"], name=op.f("fk_orders_locker_id_lockers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
    )
    op.create_index(op.f("ix_orders_locker_id"), "orders", ["locker_id"], unique=False)
    op.create_index(op.f("ix_orders_status"), "orders", ["status"], unique=False)
    op.create_table(
        "reading_aggregates",
        sa.Column("locker_id", sa.String(length=32), nullable=False),
        sa.Column("sensor", sa.String(length=15), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("zone", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("sum_c", sa.Float(), nullable=False),
        sa.Column("min_c", sa.Float(), nullable=True),
        sa.Column("max_c", sa.Float(), nullable=True),
        sa.Column("faulty_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["locker_id"], ["lockers.id"], name=op.f("fk_reading_aggregates_locker_id_lockers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("locker_id", "sensor", "bucket_start", name=op.f("pk_reading_aggregates")),
    )
    op.create_index("ix_reading_aggregates_bucket", "reading_aggregates", ["bucket_start"], unique=False)
    op.create_table(
        "remote_commands",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("locker_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("compartments", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("issued_by", sa.String(length=80), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opened", sa.JSON(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["locker_id"], ["lockers.id"], name=op.f("fk_remote_commands_locker_id_lockers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remote_commands")),
    )
    op.create_index("ix_remote_commands_locker_issued", "remote_commands", ["locker_id", "issued_at"], unique=False)
    op.create_table(
        "sensor_monitors",
        sa.Column("locker_id", sa.String(length=32), nullable=False),
        sa.Column("sensor", sa.String(length=15), nullable=False),
        sa.Column("zone", sa.String(length=16), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["locker_id"], ["lockers.id"], name=op.f("fk_sensor_monitors_locker_id_lockers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("locker_id", "sensor", name=op.f("pk_sensor_monitors")),
    )
    op.create_table(
        "zone_limits",
        sa.Column("locker_id", sa.String(length=32), nullable=False),
        sa.Column("zone", sa.String(length=16), nullable=False),
        sa.Column("limit_c", sa.Float(), nullable=True),
        sa.Column("critical_c", sa.Float(), nullable=True),
        sa.Column("delay_s", sa.Float(), nullable=False),
        sa.Column("hysteresis_c", sa.Float(), nullable=False),
        sa.Column("door_grace_s", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["locker_id"], ["lockers.id"], name=op.f("fk_zone_limits_locker_id_lockers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("locker_id", "zone", name=op.f("pk_zone_limits")),
    )
    op.create_table(
        "coldchain_records",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.String(length=8), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("zone", sa.String(length=16), nullable=False),
        sa.Column("compartment_id", sa.String(length=3), nullable=True),
        sa.Column("vendor_id", sa.String(length=40), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("faulty_samples", sa.Integer(), nullable=False),
        sa.Column("min_c", sa.Float(), nullable=True),
        sa.Column("max_c", sa.Float(), nullable=True),
        sa.Column("mean_c", sa.Float(), nullable=True),
        sa.Column("mkt_c", sa.Float(), nullable=True),
        sa.Column("minutes_above_limit", sa.Float(), nullable=False),
        sa.Column("limit_c", sa.Float(), nullable=True),
        sa.Column("breached", sa.Boolean(), nullable=False),
        sa.Column("alert_ids", sa.JSON(), nullable=False),
        sa.Column("policy", sa.String(length=8), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_coldchain_records_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coldchain_records")),
        sa.UniqueConstraint("order_id", "position", name="uq_coldchain_records_order_position"),
    )
    op.create_index(op.f("ix_coldchain_records_order_id"), "coldchain_records", ["order_id"], unique=False)
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("target", sa.String(length=500), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("order_id", sa.String(length=8), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], name=op.f("fk_notifications_alert_id_alerts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index(op.f("ix_notifications_alert_id"), "notifications", ["alert_id"], unique=False)
    op.create_index(op.f("ix_notifications_order_id"), "notifications", ["order_id"], unique=False)
    op.create_index("ix_notifications_status_next", "notifications", ["status", "next_attempt_at"], unique=False)
    op.create_table(
        "order_breaches",
        sa.Column("order_id", sa.String(length=8), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("noted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], name=op.f("fk_order_breaches_alert_id_alerts")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_breaches_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("order_id", "alert_id", name=op.f("pk_order_breaches")),
    )
    op.create_table(
        "order_parts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.String(length=8), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("zone", sa.String(length=16), nullable=False),
        sa.Column("size", sa.String(length=1), nullable=False),
        sa.Column("vendor_id", sa.String(length=40), nullable=False),
        sa.Column("compartment_id", sa.String(length=3), nullable=True),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("collected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("loaded_ts", sa.DateTime(timezone=True), nullable=True),
        sa.Column("collected_ts", sa.DateTime(timezone=True), nullable=True),
        sa.Column("loaded_event", sa.String(length=32), nullable=True),
        sa.Column("collected_event", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_parts_order_id_orders"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["vendor_id"], ["vendors.id"], name=op.f("fk_order_parts_vendor_id_vendors")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_parts")),
        sa.UniqueConstraint("order_id", "position", name="uq_order_parts_order_position"),
    )
    op.create_index(op.f("ix_order_parts_order_id"), "order_parts", ["order_id"], unique=False)
    op.create_index(op.f("ix_order_parts_vendor_id"), "order_parts", ["vendor_id"], unique=False)
    op.create_table(
        "order_transitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.String(length=8), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_transitions_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_transitions")),
    )
    op.create_index(op.f("ix_order_transitions_order_id"), "order_transitions", ["order_id"], unique=False)


def downgrade() -> None:
    raise NotImplementedError("the baseline is not undone: drop the database instead")
