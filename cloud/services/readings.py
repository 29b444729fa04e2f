"""Storing temperature readings: raw rows (one statement per batch, repeats skipped), 5-minute aggregates
upserted, the newest reading per sensor, and retention of both.

`store` does all three for a batch. On PostgreSQL that is ONE fixed, prepared statement over six column arrays
(data-modifying CTEs: the readings that were new feed the aggregates and the newest readings), sent through the
session's own psycopg connection in its transaction: building, binding and parsing multi-row VALUES statements
cost more than executing them (profiled by benchmarks/bench_ingest.py). SQLite runs the three portable ones."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, delete
from sqlalchemy.orm import Session

from cloud.db import dialect_insert
from cloud.models import LatestReading, Reading
from cloud.models_monitoring import ReadingAggregate
from lockers.protocol.messages import Reading as ReadingMessage

BUCKET_S = 300
LockerReading = tuple[str, ReadingMessage]  # (locker id, reading)


def columns(locker_id: str, reading: ReadingMessage) -> dict:
    """A reading message as the columns shared by `readings` and `latest_readings`."""
    return {
        "locker_id": locker_id,
        "sensor": reading.sensor,
        "zone": reading.zone.value,
        "ts": reading.ts,
        "celsius": reading.celsius,
        "quality": reading.quality.value,
    }


def store(session: Session, batch: Sequence[LockerReading]) -> list[LockerReading]:
    """Store raw readings, add them to their aggregates and keep the newest per sensor; returns the readings
    that were new (repeats, of stored ones or within the batch, left out), in batch order."""
    if not batch:
        return []
    if session.get_bind().dialect.name == "postgresql":
        return _store_pg(session, batch)
    new = store_raw(session, batch)
    aggregate(session, new)
    update_latest(session, new)
    return new


def store_raw(session: Session, batch: Sequence[LockerReading]) -> list[LockerReading]:
    """Insert the batch in one statement; readings already stored (same locker, sensor, time) are skipped.
    Returns the readings that are new, in batch order."""
    unique: dict[tuple[str, str, datetime], LockerReading] = {}
    for locker_id, reading in batch:
        unique.setdefault((locker_id, reading.sensor, reading.ts), (locker_id, reading))
    if not unique:
        return []
    table = Reading.__table__
    statement = (
        dialect_insert(session, table)
        .on_conflict_do_nothing(index_elements=[table.c.locker_id, table.c.sensor, table.c.ts])
        .returning(table.c.locker_id, table.c.sensor, table.c.ts)
    )
    inserted = session.execute(statement, [columns(lk, r) for lk, r in unique.values()]).all()
    new = {(row.locker_id, row.sensor, row.ts) for row in inserted}
    return [item for key, item in unique.items() if key in new]


@dataclass
class _Bucket:
    zone: str
    count: int = 0
    sum_c: float = 0.0
    min_c: float | None = None
    max_c: float | None = None
    faulty_count: int = 0

    def add(self, celsius: float | None) -> None:
        if celsius is None:
            self.faulty_count += 1
            return
        self.count += 1
        self.sum_c += celsius
        self.min_c = celsius if self.min_c is None else min(self.min_c, celsius)
        self.max_c = celsius if self.max_c is None else max(self.max_c, celsius)


def bucket_start(ts: datetime) -> datetime:
    """The start of the 5-minute bucket holding `ts` (UTC)."""
    seconds = ts.timestamp()
    return datetime.fromtimestamp(math.floor(seconds / BUCKET_S) * BUCKET_S, UTC)


def aggregate(session: Session, batch: Sequence[LockerReading]) -> int:
    """Add new readings to their 5-minute buckets (one upsert statement); returns the buckets touched."""
    buckets: dict[tuple[str, str, datetime], _Bucket] = {}
    for locker_id, reading in batch:
        key = (locker_id, reading.sensor, bucket_start(reading.ts))
        buckets.setdefault(key, _Bucket(reading.zone.value)).add(reading.celsius)
    if not buckets:
        return 0
    table = ReadingAggregate.__table__
    insert = dialect_insert(session, table)
    new, old = insert.excluded, table.c
    statement = insert.on_conflict_do_update(
        index_elements=[old.locker_id, old.sensor, old.bucket_start],
        set_={
            "count": old["count"] + new["count"],
            "sum_c": old.sum_c + new.sum_c,
            "faulty_count": old.faulty_count + new.faulty_count,
            "min_c": case(
                (old.min_c.is_(None), new.min_c),
                (new.min_c.is_(None), old.min_c),
                (new.min_c < old.min_c, new.min_c),
                else_=old.min_c,
            ),
            "max_c": case(
                (old.max_c.is_(None), new.max_c),
                (new.max_c.is_(None), old.max_c),
                (new.max_c > old.max_c, new.max_c),
                else_=old.max_c,
            ),
        },
    )
    rows = [
        {
            "locker_id": locker_id,
            "sensor": sensor,
            "bucket_start": start,
            "zone": b.zone,
            "count": b.count,
            "sum_c": b.sum_c,
            "min_c": b.min_c,
            "max_c": b.max_c,
            "faulty_count": b.faulty_count,
        }
        for (locker_id, sensor, start), b in buckets.items()
    ]
    session.execute(statement, rows)
    return len(rows)


def update_latest(session: Session, batch: Sequence[LockerReading]) -> None:
    """Keep the newest reading per sensor in one upsert (a late, older reading never rolls it back)."""
    newest: dict[tuple[str, str], ReadingMessage] = {}
    for locker_id, reading in batch:
        key = (locker_id, reading.sensor)
        if key not in newest or reading.ts > newest[key].ts:
            newest[key] = reading
    if not newest:
        return
    table = LatestReading.__table__
    insert = dialect_insert(session, table)
    statement = insert.on_conflict_do_update(
        index_elements=[table.c.locker_id, table.c.sensor],
        set_={name: insert.excluded[name] for name in ("zone", "ts", "celsius", "quality")},
        where=insert.excluded.ts >= table.c.ts,
    )
    session.execute(statement, [columns(locker_id, reading) for (locker_id, _), reading in newest.items()])


def purge(session: Session, now: datetime, raw_days: float, aggregate_days: float) -> tuple[int, int]:
    """Delete raw readings and aggregates past their retention; returns how many of each went."""
    raw = session.execute(delete(Reading).where(Reading.ts < now - timedelta(days=raw_days)))
    aggregates = session.execute(
        delete(ReadingAggregate).where(ReadingAggregate.bucket_start < now - timedelta(days=aggregate_days))
    )
    return raw.rowcount, aggregates.rowcount


# --- PostgreSQL: one statement per batch ----------------------------------------------------------------------

# Rows go in sorted by key so that concurrent ingest processes (shared subscriptions) lock them in the same order.
# LEAST and GREATEST ignore NULLs, as `_Bucket` does; the aggregate's zone is the one it was created with.
_STORE_PG = f"""
WITH incoming (locker_id, sensor, zone, ts, celsius, quality, n) AS (
    SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::float8[], %s::text[])
        WITH ORDINALITY
), inserted AS (
    INSERT INTO readings (locker_id, sensor, zone, ts, celsius, quality)
    SELECT locker_id, sensor, zone, ts, celsius, quality FROM incoming ORDER BY locker_id, sensor, ts
    ON CONFLICT (locker_id, sensor, ts) DO NOTHING
    RETURNING locker_id, sensor, zone, ts, celsius, quality
), aggregated AS (
    INSERT INTO reading_aggregates AS a
        (locker_id, sensor, bucket_start, zone, count, sum_c, min_c, max_c, faulty_count)
    SELECT locker_id, sensor, to_timestamp(floor(extract(epoch FROM ts) / {BUCKET_S}) * {BUCKET_S}), min(zone),
           count(celsius), coalesce(sum(celsius), 0), min(celsius), max(celsius), count(*) - count(celsius)
    FROM inserted GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (locker_id, sensor, bucket_start) DO UPDATE SET
        count = a.count + excluded.count,
        sum_c = a.sum_c + excluded.sum_c,
        faulty_count = a.faulty_count + excluded.faulty_count,
        min_c = LEAST(a.min_c, excluded.min_c),
        max_c = GREATEST(a.max_c, excluded.max_c)
), newest AS (
    INSERT INTO latest_readings AS l (locker_id, sensor, zone, ts, celsius, quality)
    SELECT DISTINCT ON (locker_id, sensor) * FROM inserted ORDER BY locker_id, sensor, ts DESC
    ON CONFLICT (locker_id, sensor) DO UPDATE SET
        zone = excluded.zone, ts = excluded.ts, celsius = excluded.celsius, quality = excluded.quality
    WHERE excluded.ts >= l.ts
)
SELECT min(n) FROM incoming JOIN inserted USING (locker_id, sensor, ts) GROUP BY locker_id, sensor, ts
"""


def _store_pg(session: Session, items: Sequence[LockerReading]) -> list[LockerReading]:
    # Repeats within the batch are left to the statement (ON CONFLICT DO NOTHING skips the second; the first
    # ordinal of a key is returned): a dict keyed by (locker, sensor, ts) here cost ~4 µs a reading, hashing
    # each timezone-aware datetime. Array literals built here, a column per list in one pass: psycopg's Python
    # list dumper cost ~8 µs per value. Timestamps (isoformat) and floats (repr) hold no character that is
    # special in an array literal.
    lockers, sensors, zones, stamps, values, qualities = [], [], [], [], [], []
    for locker_id, reading in items:
        lockers.append(locker_id)
        sensors.append(reading.sensor)
        zones.append(reading.zone.value)
        stamps.append(reading.ts.isoformat())
        values.append("NULL" if reading.celsius is None else repr(float(reading.celsius)))
        qualities.append(reading.quality.value)
    columns = [_text_array(lockers), _text_array(sensors), _text_array(zones)]
    columns += [_array(stamps), _array(values), _text_array(qualities)]
    # The ordinal numbers (from 1) of the readings that were new: ints are cheaper to return than the keys.
    rows = pg_execute(session, _STORE_PG, columns)
    return [items[n - 1] for n in sorted(n for (n,) in rows)]


def pg_execute(session: Session, sql: str, params: Sequence, *, fetch: bool = True) -> list[tuple]:
    """Run a fixed statement (prepared) on the session's own psycopg connection, in the session's transaction;
    returns the rows it returned (`fetch`), else nothing."""
    with _driver(session).cursor() as cursor:
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchall() if fetch else []


def _driver(session: Session):
    """The psycopg connection under the session (in its transaction)."""
    return session.connection().connection.driver_connection


def _array(values) -> str:
    return "{" + ",".join(values) + "}"


def pg_text_array(values) -> str:
    """A PostgreSQL text[] literal of `values` (each quoted)."""
    return _text_array(values)


def _text_array(values) -> str:
    values = list(values)
    if not values:
        return "{}"
    joined = '","'.join(values)
    if '"' in joined or "\\" in joined:  # only then is escaping needed (ids, zones and qualities never need it)
        return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"
    return '{"' + joined + '"}'
