"""Reading storage on both databases: raw rows stored once, 5-minute aggregates upserted across batches,
retention that deletes readings and aggregates but never alerts or the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from cloud import schema
from cloud.db import Database
from cloud.models import LatestReading, Locker, Reading
from cloud.models_monitoring import Alert, AuditEntry, ReadingAggregate
from cloud.services import audit, readings
from lockers.layout import demo_layout
from lockers.protocol.messages import Quality
from lockers.protocol.messages import Reading as ReadingMessage

SENSOR = "28-00000000b001"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def reading(seconds: float, celsius: float | None, quality: Quality = Quality.OK) -> tuple[str, ReadingMessage]:
    ts = T0 + timedelta(seconds=seconds)
    return "dk-1", ReadingMessage(sensor=SENSOR, zone="chilled", ts=ts, celsius=celsius, quality=quality)


@pytest.mark.parametrize(
    ("ts", "start"),
    [
        (datetime(2026, 3, 1, 12, 4, 59, 999999, tzinfo=UTC), datetime(2026, 3, 1, 12, 0, tzinfo=UTC)),
        (datetime(2026, 3, 1, 12, 5, tzinfo=UTC), datetime(2026, 3, 1, 12, 5, tzinfo=UTC)),
        # a locker reporting in Dutch winter time: buckets are in UTC
        (datetime(2026, 3, 1, 13, 7, 30, tzinfo=timezone(timedelta(hours=1))), datetime(2026, 3, 1, 12, 5, tzinfo=UTC)),
    ],
)
def test_bucket_start(ts, start):
    assert readings.bucket_start(ts) == start


def test_repeated_readings_are_stored_once(db):
    first = [reading(0, 4.0), reading(30, 4.5), reading(30, 4.5)]  # a repeat inside the batch, too
    with db.write() as session:
        assert readings.store_raw(session, first) == first[:2]
    with db.write() as session:
        again = readings.store_raw(session, [reading(30, 4.5), reading(60, 5.0)])  # QoS 1 redelivery + a new one
    assert again == [reading(60, 5.0)]
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Reading)) == 3


def test_aggregates_add_up_across_batches(db):
    batches = [
        [reading(0, 4.0), reading(30, 6.5), reading(60, None, Quality.CRC_ERROR)],
        [reading(90, 3.5), reading(120, None, Quality.DISCONNECTED)],
        [reading(300, 5.0)],  # the next bucket
    ]
    for batch in batches:
        with db.write() as session:
            readings.aggregate(session, readings.store_raw(session, batch))
    with db.read() as session:
        rows = session.scalars(select(ReadingAggregate).order_by(ReadingAggregate.bucket_start)).all()
    first, second = rows
    assert (first.bucket_start, first.zone, first.count, first.faulty_count) == (T0, "chilled", 3, 2)
    assert (first.min_c, first.max_c, first.sum_c) == (3.5, 6.5, pytest.approx(14.0))
    assert (second.bucket_start, second.count, second.min_c, second.max_c) == (T0 + timedelta(minutes=5), 1, 5.0, 5.0)


def _tables(session) -> tuple[list, list, list]:
    raw = session.execute(select(Reading.sensor, Reading.zone, Reading.ts, Reading.celsius, Reading.quality)).all()
    aggregates = session.execute(
        select(
            ReadingAggregate.bucket_start,
            ReadingAggregate.zone,
            ReadingAggregate.count,
            ReadingAggregate.sum_c,
            ReadingAggregate.min_c,
            ReadingAggregate.max_c,
            ReadingAggregate.faulty_count,
        )
    ).all()
    latest = session.execute(select(LatestReading.sensor, LatestReading.ts, LatestReading.celsius)).all()
    return sorted(raw), sorted(aggregates), sorted(latest)


def test_store_keeps_raw_aggregates_and_latest_as_the_three_steps_do(database_url):
    """`store` (on PostgreSQL one statement) gives what store_raw + aggregate + update_latest give."""
    batches = [
        [reading(30, 6.5), reading(0, 4.0), reading(60, None, Quality.CRC_ERROR), reading(30, 6.5)],
        [reading(90, 3.5), reading(0, 4.0), reading(120, None, Quality.DISCONNECTED)],  # a repeat: left out
        [reading(300, 5.0), reading(45, 9.0)],  # next bucket; a late reading never rolls back the newest
        [reading(600, None, Quality.POWER_ON_RESET)],  # a bucket of faults only
    ]
    results = []
    for one_statement in (True, False):
        database = Database(database_url)
        schema.prepare(database)
        with database.write() as session:
            session.execute(Reading.__table__.delete())
            session.execute(ReadingAggregate.__table__.delete())
            session.execute(LatestReading.__table__.delete())
            if session.get(Locker, "dk-1") is None:
                session.add(
                    Locker(id="dk-1", name="D", layout=demo_layout().model_dump(mode="json"), pin_salt="0" * 32)
                )
        news = []
        for batch in batches:
            with database.write() as session:
                if one_statement:
                    news.append(readings.store(session, batch))
                else:
                    new = readings.store_raw(session, batch)
                    readings.aggregate(session, new)
                    readings.update_latest(session, new)
                    news.append(new)
        with database.read() as session:
            results.append((news, _tables(session)))
        database.dispose()
    assert results[0] == results[1]
    news, (raw, aggregates, latest) = results[0]
    assert [len(new) for new in news] == [3, 2, 2, 1]
    assert len(raw) == 8 and latest == [(SENSOR, T0 + timedelta(minutes=10), None)]
    assert aggregates[0][2:] == (4, pytest.approx(23.0), 3.5, 9.0, 2)


def test_a_bucket_of_faults_only_keeps_its_extremes_empty_until_a_usable_reading(db):
    with db.write() as session:
        readings.aggregate(session, [reading(0, None, Quality.POWER_ON_RESET)])
    with db.write() as session:
        readings.aggregate(session, [reading(30, 4.25)])
    with db.read() as session:
        (row,) = session.scalars(select(ReadingAggregate)).all()
    assert (row.count, row.faulty_count, row.min_c, row.max_c) == (1, 1, 4.25, 4.25)


def test_retention_deletes_old_readings_and_aggregates_only(db):
    now = T0 + timedelta(days=500)
    old, recent = [reading(0, 4.0)], [("dk-1", reading(0, 4.0)[1].model_copy(update={"ts": now - timedelta(days=1)}))]
    middle = [("dk-1", reading(0, 4.0)[1].model_copy(update={"ts": now - timedelta(days=200)}))]
    with db.write() as session:
        for batch in (old, middle, recent):
            readings.aggregate(session, readings.store_raw(session, batch))
        session.add(
            Alert(
                locker_id="dk-1",
                kind="temperature",
                severity="critical",
                state="cleared",
                raised_at=T0,
                detail="old",
                created_at=T0,
            )
        )
        audit.record(session, "admin", "limits.changed", "limits:dk-1/chilled", None, None, at=T0)
    with db.write() as session:
        assert readings.purge(session, now, raw_days=30, aggregate_days=400) == (2, 1)
    with db.read() as session:
        assert [r.ts for r in session.scalars(select(Reading))] == [now - timedelta(days=1)]
        kept = session.scalars(select(ReadingAggregate.bucket_start).order_by(ReadingAggregate.bucket_start)).all()
        assert len(kept) == 2  # a year of aggregates stays
        assert session.scalar(select(func.count()).select_from(Alert)) == 1
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 1


@pytest.mark.postgres
@pytest.mark.parametrize(
    "values",
    [[], ["dk-1", "28-00000000b001"], ['a "quoted" id', "back\\slash", "", "NULL", "comma,brace}"]],
    ids=["empty", "plain", "needs-escaping"],
)
def test_text_array_literals_reach_postgresql_unchanged(postgres_url, values):
    database = Database(postgres_url)
    try:
        with database.write() as session:
            (row,) = readings.pg_execute(session, "SELECT %s::text[]", [readings.pg_text_array(values)])
        assert row[0] == values
    finally:
        database.dispose()


def test_a_batch_with_repeats_returns_the_new_readings_in_batch_order(db):
    with db.write() as session:
        readings.store(session, [reading(30, 4.5)])
    batch = [reading(90, 5.0), reading(30, 4.5), reading(0, 4.0), reading(90, 5.0), reading(60, 4.2)]
    with db.write() as session:
        assert readings.store(session, batch) == [reading(90, 5.0), reading(0, 4.0), reading(60, 4.2)]
