"""The reporting views Grafana reads: what they say about the fleet and its alerts, and that the reader role sees
them and nothing else (no table, no resident's details)."""

from __future__ import annotations

import logging

import psycopg
import pytest
from sqlalchemy import text

from cloud import reporting, schema
from cloud.db import Database
from tests.reporting_data import PIN, RESIDENT_EMAIL, RESIDENT_PHONE, as_reader


def test_the_fleet_view_tells_online_silent_and_never_heard_lockers_apart(reporting_db):
    db, reader = reporting_db
    fleet = {row["locker"]: row for row in as_reader(db, reader, "SELECT * FROM report_fleet")}
    assert {name: row["presence"] for name, row in fleet.items()} == {
        "kerk": "online",
        "molen": "offline",  # its state still says online, but nothing came for an hour
        "nieuw": "never",
    }
    assert (fleet["kerk"]["in_sync"], fleet["molen"]["in_sync"], fleet["nieuw"]["in_sync"]) == (True, False, False)
    assert (fleet["kerk"]["compartments"], fleet["kerk"]["doors_open"], fleet["kerk"]["open_alerts"]) == (2, 1, 1)
    assert fleet["molen"]["open_alerts"] == 1  # acknowledged but not cleared
    assert fleet["kerk"]["last_reading"] is not None and fleet["nieuw"]["last_reading"] is None


def test_the_alerts_view_counts_minutes_to_acknowledge(reporting_db):
    db, reader = reporting_db
    rows = as_reader(db, reader, "SELECT kind, state, minutes_to_acknowledge FROM report_alerts ORDER BY kind")
    assert [(r["kind"], r["state"], r["minutes_to_acknowledge"]) for r in rows] == [
        ("door", "cleared", pytest.approx(12)),
        ("offline", "acknowledged", pytest.approx(30)),
        ("temperature", "raised", None),
    ]


def test_the_reader_may_read_the_views_and_no_table(reporting_db):
    db, reader = reporting_db
    for view in reporting.VIEWS:
        as_reader(db, reader, f"SELECT * FROM {view}")
    for table in ("orders", "vendors", "notifications", "contacts", "alerts", "audit_log"):
        with pytest.raises(Exception, match="permission denied") as refused:
            as_reader(db, reader, f"SELECT * FROM {table}")
        assert isinstance(refused.value.orig, psycopg.errors.InsufficientPrivilege)


def test_no_view_lets_a_residents_details_or_a_code_out(reporting_db):
    db, reader = reporting_db
    for view in reporting.VIEWS:
        rows = as_reader(db, reader, f"SELECT * FROM {view}")
        assert rows, f"{view} is empty: the check below would prove nothing"
        shown = repr(rows)
        for secret in (RESIDENT_EMAIL, RESIDENT_PHONE, PIN, "Anna", "resident-token", "vendor-token", "bakker@"):
            assert secret not in shown, f"{view} shows {secret}"


def test_views_are_rebuilt_at_every_start_and_stay_readable(reporting_db):
    db, reader = reporting_db
    again = reporting.refresh(db, reader, offline_after_s=2 * 3600)  # a longer heartbeat timeout
    assert again == f"{len(reporting.VIEWS)} reporting views built, readable by {reader}"
    rows = as_reader(db, reader, "SELECT presence FROM report_fleet WHERE locker = 'molen'")
    assert rows == [{"presence": "online"}]  # an hour of silence is within two hours


def test_a_missing_reader_role_is_named_and_the_views_still_built(postgres_url, caplog):
    db = Database(postgres_url)
    try:
        schema.prepare(db)
        with caplog.at_level(logging.WARNING, logger="cloud.reporting"):
            said = reporting.refresh(db, "no_such_reader_role", offline_after_s=180)
        assert said.endswith("reader role no_such_reader_role does not exist")
        assert "DK_REPORTING_ROLE names no_such_reader_role" in caplog.text
        with db.engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM report_fleet")).scalar_one() == 0
    finally:
        db.dispose()


@pytest.mark.parametrize("role", ["Grafana", "reader; DROP TABLE orders", "1reader", ""])
def test_a_reader_role_that_is_not_a_plain_name_is_refused(postgres_url, role):
    db = Database(postgres_url)
    try:
        schema.prepare(db)
        with pytest.raises(ValueError, match="not a PostgreSQL role name"):
            reporting.refresh(db, role, offline_after_s=180)
    finally:
        db.dispose()


def test_on_sqlite_there_are_no_views_and_it_says_so(sqlite_url):
    db = Database(sqlite_url)
    try:
        schema.prepare(db)
        assert reporting.refresh(db, "grafana_reader", 180) == "reporting views skipped (they need PostgreSQL)"
    finally:
        db.dispose()
