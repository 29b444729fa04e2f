"""A small fleet in the cloud's tables, for the reporting views and the Grafana dashboards that read them: one
locker online, one fallen silent, one never heard from; alerts open, acknowledged and cleared; telemetry; an
order whose cold chain broke; a notification that failed. Residents' details are there so tests can check that
no view lets them out."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import text

from cloud.db import Database
from cloud.models import ColdChainRecord, Compartment, LatestReading, Locker, Order, OrderPart, Vendor
from cloud.models_monitoring import Alert, Notification, ReadingAggregate

RESIDENT_EMAIL = "anna.de.vries@example.nl"
RESIDENT_PHONE = "+31 6 12345678"
PIN = "482913"


def seed_fleet(db: Database, now: datetime) -> None:
    """Write the fleet; `now` is the wall clock the views compare with (PostgreSQL's now())."""
    hour = timedelta(hours=1)
    with db.write() as session:
        lockers = [
            Locker(id="kerk", name="Kerkplein", village="Zwartsluis", online=True, last_seen=now, agent="0.3.0"),
            Locker(id="molen", name="Bij de molen", village="Hasselt", online=True, last_seen=now - hour),
            Locker(id="nieuw", name="Nieuw", village="Genemuiden", online=False, last_seen=None),
        ]
        for locker, (desired, reported) in zip(lockers, [(4, 4), (5, 3), (1, None)], strict=True):
            locker.layout, locker.pin_salt = {}, "salt"
            locker.desired_version, locker.reported_version = desired, reported
            session.add(locker)
        session.flush()
        session.add_all(
            [
                Compartment(locker_id="kerk", id="A1", zone="ambient", size="M", door="open"),
                Compartment(locker_id="kerk", id="B1", zone="chilled", size="M", door="closed"),
                Compartment(locker_id="molen", id="B1", zone="chilled", size="M", door="closed"),
                LatestReading(locker_id="kerk", sensor="28-b1", zone="chilled", ts=now, celsius=4.5, quality="ok"),
                ReadingAggregate(
                    locker_id="kerk", sensor="28-b1", bucket_start=now - hour, zone="chilled", count=10,
                    sum_c=45.0, min_c=4.0, max_c=5.0, faulty_count=1,
                ),
                ReadingAggregate(
                    locker_id="molen", sensor="28-b2", bucket_start=now - 2 * hour, zone="chilled", count=10,
                    sum_c=60.0, min_c=5.5, max_c=6.5, faulty_count=0,
                ),
                Alert(
                    locker_id="kerk", zone="chilled", sensor="28-b1", kind="temperature", severity="critical",
                    state="raised", raised_at=now - 2 * hour, peak_c=11.5, detail="chilled above 10 °C",
                ),
                Alert(
                    locker_id="kerk", zone="ambient", kind="door", severity="warning", state="cleared",
                    raised_at=now - 5 * hour, acknowledged_at=now - 5 * hour + timedelta(minutes=12),
                    acknowledged_by="Joke (stichting)", ack_note=f"called {RESIDENT_PHONE}", cleared_at=now - 4 * hour,
                    detail="door A1 open",
                ),
                Alert(
                    locker_id="molen", kind="offline", severity="warning", state="acknowledged",
                    raised_at=now - hour, acknowledged_at=now - hour + timedelta(minutes=30),
                    acknowledged_by="Piet (stichting)", detail="sent nothing for an hour",
                ),
            ]
        )  # fmt: skip
        vendor = Vendor(
            id="bakker", name="Bakkerij", kind="baker", email="bakker@example.nl", api_key_hash="h" * 64,
            code_id="v1", code_token="vendor-token", code_expires_at=now + 300 * 24 * hour,
        )  # fmt: skip
        order = Order(
            id="ORD00001", locker_id="kerk", status="ready", resident_name="Anna de Vries",
            resident_email=RESIDENT_EMAIL, resident_phone=RESIDENT_PHONE, dropoff_until=now,
            resident_token_hash="t" * 64, pin=PIN, code_token="resident-token",
        )  # fmt: skip
        session.add_all([vendor, order])
        session.flush()
        session.add_all(
            [
                OrderPart(order_id=order.id, position=0, zone="chilled", size="M", vendor_id="bakker"),
                ColdChainRecord(
                    order_id=order.id, position=0, zone="chilled", compartment_id="B1", vendor_id="bakker",
                    start=now - 3 * hour, end=now - hour, samples=240, faulty_samples=0, min_c=4.0, max_c=11.5,
                    mean_c=7.0, mkt_c=7.8, minutes_above_limit=45.0, limit_c=7.0, breached=True, alert_ids=[],
                    policy="warn",
                ),
                Notification(
                    channel="email", target=RESIDENT_EMAIL, event="order.ready", subject="Je bestelling ligt klaar",
                    body={"text": PIN}, status="failed", attempts=5, last_error=f"550 {RESIDENT_EMAIL} unknown",
                    next_attempt_at=now, created_at=now - hour,
                ),
                Notification(
                    channel="webhook", target="https://example.nl/hook", event="alert.raised", subject="alert",
                    body={}, status="pending", attempts=1, next_attempt_at=now, created_at=now - hour,
                ),
            ]
        )  # fmt: skip


def as_reader(db: Database, reader: str, sql: str) -> list[dict]:
    """Rows of `sql` run with the reader role's rights only (as Grafana would)."""
    with db.engine.connect() as connection, connection.begin():
        connection.exec_driver_sql(f'SET LOCAL ROLE "{reader}"')
        return [dict(row._mapping) for row in connection.execute(text(sql))]
