"""Reporting views for Grafana's fleet-health and alerts dashboards (PostgreSQL only): what a dashboard may read,
without residents' names, addresses, codes or anyone's e-mail.

The views hold no data, so they are rebuilt at every start from the definitions here rather than migrated: they
always match the tables of this version. The reader role (DK_REPORTING_ROLE) is granted SELECT on the views
alone; it cannot read a table.
"""

from __future__ import annotations

import logging
import re

from sqlalchemy import text

from cloud.db import Database

log = logging.getLogger(__name__)

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# One row per locker. `presence` follows cloud.presence: online only when its state says so and it was heard from
# within the heartbeat timeout ({offline_after_s}); "never" when it has not been heard from at all.
FLEET = """
SELECT l.id AS locker, l.name, l.village,
       CASE WHEN l.last_seen IS NULL THEN 'never'
            WHEN l.online AND l.last_seen > now() - make_interval(secs => {offline_after_s}) THEN 'online'
            ELSE 'offline' END AS presence,
       l.last_seen, l.agent, l.desired_version, l.reported_version,
       l.reported_version IS NOT DISTINCT FROM l.desired_version AS in_sync,
       (SELECT count(*) FROM compartments c WHERE c.locker_id = l.id) AS compartments,
       (SELECT count(*) FROM compartments c WHERE c.locker_id = l.id AND c.door = 'open') AS doors_open,
       (SELECT count(*) FROM alerts a WHERE a.locker_id = l.id AND a.state <> 'cleared') AS open_alerts,
       (SELECT max(r.ts) FROM latest_readings r WHERE r.locker_id = l.id) AS last_reading,
       s.oldest_gap_since AS events_missing_since
FROM lockers l LEFT JOIN event_streams s ON s.locker_id = l.id
"""

# Every alert with its locker; the acknowledgement note stays out (free text, may name a resident).
ALERTS = """
SELECT a.id, a.locker_id AS locker, l.name AS locker_name, l.village, a.zone, a.sensor, a.kind, a.severity,
       a.state, a.raised_at, a.acknowledged_at, a.acknowledged_by, a.cleared_at, a.escalation_level, a.peak_c,
       a.order_id, a.detail,
       extract(epoch FROM a.acknowledged_at - a.raised_at) / 60 AS minutes_to_acknowledge
FROM alerts a JOIN lockers l ON l.id = a.locker_id
"""

# Telemetry in the cloud's 5-minute buckets: how many readings arrived (a silent locker shows as a gap).
TELEMETRY = """
SELECT g.locker_id AS locker, g.sensor, g.zone, g.bucket_start AS time, g.count AS readings,
       g.faulty_count AS faulty, g.min_c, g.max_c, CASE WHEN g.count > 0 THEN g.sum_c / g.count END AS mean_c
FROM reading_aggregates g
"""

# Cold-chain records of orders, by locker and vendor; nothing of the resident.
COLDCHAIN = """
SELECT r.order_id, o.locker_id AS locker, r.vendor_id AS vendor, r.zone, r.compartment_id AS compartment,
       r.start, r."end", r.max_c, r.mkt_c, r.minutes_above_limit, r.limit_c, r.breached
FROM coldchain_records r JOIN orders o ON o.id = r.order_id
"""

# The notification outbox without addresses or error texts (an SMTP error quotes the address).
NOTIFICATIONS = """
SELECT n.id, n.channel, n.event, n.status, n.attempts, n.created_at, n.sent_at, n.next_attempt_at, n.alert_id
FROM notifications n
"""

VIEWS = {
    "report_fleet": FLEET,
    "report_alerts": ALERTS,
    "report_telemetry": TELEMETRY,
    "report_coldchain": COLDCHAIN,
    "report_notifications": NOTIFICATIONS,
}


def refresh(db: Database, reader: str | None, offline_after_s: float) -> str:
    """Rebuild the views and grant `reader` SELECT on them; says what it did."""
    if db.is_sqlite:
        return "reporting views skipped (they need PostgreSQL)"
    if reader is not None and not ROLE_NAME.fullmatch(reader):
        raise ValueError(f"not a PostgreSQL role name: {reader!r}")
    with db.engine.begin() as connection:
        for name, body in VIEWS.items():
            connection.exec_driver_sql(f"DROP VIEW IF EXISTS {name}")
            connection.exec_driver_sql(f"CREATE VIEW {name} AS {body.format(offline_after_s=float(offline_after_s))}")
        if reader is None:
            return f"{len(VIEWS)} reporting views built; no reader role (DK_REPORTING_ROLE) to grant them to"
        exists = connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": reader}).first()
        if exists is None:
            log.warning(
                "DK_REPORTING_ROLE names %s, which is not a role of this database server: Grafana cannot read the "
                "reporting views until it exists (docs/operations.md, Grafana)",
                reader,
            )
            return f"{len(VIEWS)} reporting views built; reader role {reader} does not exist"
        schema = connection.execute(text("SELECT current_schema()")).scalar_one()
        connection.exec_driver_sql(f'GRANT USAGE ON SCHEMA "{schema}" TO "{reader}"')
        connection.exec_driver_sql(f'GRANT SELECT ON {", ".join(VIEWS)} TO "{reader}"')
    return f"{len(VIEWS)} reporting views built, readable by {reader}"
