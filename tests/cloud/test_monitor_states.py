"""Monitor states in sensor_monitors: every change is written, except a sensor whose time alone moved on, which
is written once a minute (unless several ingest processes share the states)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from cloud.models_monitoring import SensorMonitorRow
from cloud.services.monitoring import Stage
from lockers.layout import Zone
from sensors.rules import SensorMonitor

T0 = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
KEY = ("dk-1", "28-00000000b001")


def write(db, state: SensorMonitor, stored: dict, write_all: bool = False) -> dict:
    """One transaction that changed the monitor to `state`; returns what it wrote (and remembers it, as
    Monitoring does after the commit)."""
    stage = Stage(stored=stored, write_all=write_all)
    stage.states[KEY] = (Zone.CHILLED, state)
    with db.write() as session:
        stage.persist(session)
    stored.update(stage.written)
    return stage.written


def stored_last_ts(db) -> datetime | None:
    with db.read() as session:
        row = session.scalars(select(SensorMonitorRow)).one()
        return SensorMonitor.from_json(row.state).last_ts


def test_time_alone_is_written_once_a_minute_and_every_other_change_at_once(db):
    stored: dict = {}
    quiet = SensorMonitor(last_ts=T0)
    assert write(db, quiet, stored)  # never written before
    assert not write(db, quiet.at(T0 + timedelta(seconds=30)), stored)
    assert stored_last_ts(db) == T0
    assert write(db, quiet.at(T0 + timedelta(seconds=60)), stored)
    assert stored_last_ts(db) == T0 + timedelta(seconds=60)
    excursion = SensorMonitor(last_ts=T0 + timedelta(seconds=70), excursion_since=T0 + timedelta(seconds=70))
    assert write(db, excursion, stored)  # more than time moved: at once
    assert stored_last_ts(db) == T0 + timedelta(seconds=70)


def test_shared_states_are_written_on_every_change(db):
    stored: dict = {}
    for seconds in (0, 5, 10):
        assert write(db, SensorMonitor(last_ts=T0 + timedelta(seconds=seconds)), stored, write_all=True)
    assert stored_last_ts(db) == T0 + timedelta(seconds=10)
