"""Alembic migrations on SQLite and PostgreSQL: an older schema holding data is upgraded and the cloud serves the
data after; the migrations end exactly where the models are; a database made by create_all before migrations
existed counts as the baseline; a fresh database is created at the newest revision at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from cloud import schema
from cloud.app import create_app
from cloud.db import Base, Database
from lockers.codes import issue_token, vendor_claims
from tests.cloud.conftest import ADMIN, cloud_settings, forget_session

CREATED = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    yield database
    database.dispose()


def _at(moment: datetime, db: Database):
    """A timestamp as the old schema stored it (SQLite: naive UTC, like cloud.db.UtcDateTime)."""
    return moment.replace(tzinfo=None) if db.is_sqlite else moment


def fill_baseline(db: Database) -> None:
    """A locker, a vendor and two orders as the cloud wrote them at the baseline: one ready, one waiting."""
    layout = '{"compartments": []}'
    claims = vendor_claims(key_id=1, vendor="boer", not_before=CREATED, valid_for=timedelta(days=365))
    rows = [
        (
            "INSERT INTO lockers (id, name, village, layout, pin_salt, desired_version, online, created_at) "
            "VALUES ('old-1', 'Dorpshuis', 'Zwartsluis', :layout, :salt, 3, false, :at)",
            {"layout": layout, "salt": "0" * 32, "at": _at(CREATED, db)},
        ),
        (
            "INSERT INTO vendors (id, name, kind, email, api_key_hash, code_id, code_token, code_expires_at, "
            "created_at) VALUES ('boer', 'Boer', 'farmer', NULL, :hash, :code_id, :token, :until, :at)",
            {
                "hash": "a" * 64,
                "code_id": claims.code_id,
                "token": issue_token(claims, Ed25519PrivateKey.generate()),  # signed by a key since retired
                "until": _at(claims.expires_at, db),
                "at": _at(CREATED, db),
            },
        ),
    ]
    for order_id, status, zone, deadline in (("READY001", "ready", "chilled", CREATED + timedelta(hours=20)),
                                             ("WAKT2345", "assigned", "ambient", None)):  # fmt: skip
        rows.append(
            (
                "INSERT INTO orders (id, locker_id, status, resident_name, accessible, created_at, dropoff_until, "
                "pickup_deadline, resident_token_hash, pickup_blocked) VALUES (:id, 'old-1', :status, 'Anna', "
                "false, :at, :until, :deadline, :hash, false)",
                {
                    "id": order_id,
                    "status": status,
                    "at": _at(CREATED, db),
                    "until": _at(CREATED + timedelta(hours=6), db),
                    "deadline": _at(deadline, db) if deadline else None,
                    "hash": "b" * 64,
                },
            )
        )
        rows.append(
            (
                "INSERT INTO order_parts (order_id, position, zone, size, vendor_id, compartment_id) "
                "VALUES (:id, 0, :zone, 'S', 'boer', 'B1')",
                {"id": order_id, "zone": zone},
            )
        )
    with db.engine.begin() as connection:
        for statement, values in rows:
            connection.execute(text(statement), values)


def test_an_older_schema_holding_data_is_upgraded_and_served(db, database_url, broker, tmp_path):
    assert schema.prepare(db, target=schema.BASELINE) == "migrated from revision none to 0001"
    fill_baseline(db)
    assert schema.prepare(db) == f"migrated from revision 0001 to {schema.head()}"
    assert schema.revision_of(db) == schema.head()
    assert schema.prepare(db) == f"schema current at revision {schema.head()}"  # once

    settings = cloud_settings(database_url, broker, tmp_path / "data")
    with TestClient(create_app(settings)) as client:
        ready = client.get("/api/v1/orders/READY001", headers=ADMIN).json()
        waiting = client.get("/api/v1/orders/WAKT2345", headers=ADMIN).json()
        locker = client.get("/api/v1/lockers/old-1", headers=ADMIN).json()
    forget_session(broker, settings.mqtt_client_id)
    # bookings backfilled: from creation to the deadline issued, else the window's end plus the food's wait
    assert (ready["kind"], ready["status"]) == ("delivery", "ready")
    assert datetime.fromisoformat(ready["dropoff_from"]) == CREATED
    assert datetime.fromisoformat(ready["pickup_by"]) == CREATED + timedelta(hours=20)
    assert datetime.fromisoformat(waiting["pickup_by"]) == CREATED + timedelta(hours=6 + 48)  # ambient: 48 h
    assert ready["parts"][0]["retrieved_at"] is None
    assert (locker["name"], locker["address"], locker["location"]) == ("Dorpshuis", None, None)


def test_the_migrations_end_exactly_where_the_models_are(db):
    schema.prepare(db, target=schema.BASELINE)
    schema.prepare(db)
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_a_database_made_by_create_all_before_migrations_is_taken_as_the_baseline(db):
    # create_all at the newest models, without alembic_version: the columns 0002 adds are there already
    Base.metadata.create_all(db.engine)
    assert schema.revision_of(db) is None
    assert schema.prepare(db) == f"migrated from revision 0001 to {schema.head()}"
    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_a_fresh_database_is_created_at_the_newest_revision(db):
    assert schema.prepare(db) == f"created the schema at revision {schema.head()}"
    assert "orders" in inspect(db.engine).get_table_names()
    assert schema.revision_of(db) == schema.head()


def test_python_m_cloud_migrate_says_what_it_did(database_url, tmp_path, monkeypatch, capsys):
    from cloud.__main__ import main  # noqa: PLC0415 - the command line under test

    monkeypatch.setenv("DK_DATABASE_URL", database_url)
    monkeypatch.setenv("DK_DATA_DIR", str(tmp_path / "data"))
    main(["migrate"])
    main(["migrate"])
    views = (
        "reporting views skipped (they need PostgreSQL)"
        if database_url.startswith("sqlite")
        else "5 reporting views built; no reader role (DK_REPORTING_ROLE) to grant them to"
    )
    assert capsys.readouterr().out.splitlines() == [
        f"database: created the schema at revision {schema.head()}",
        f"database: {views}",
        f"database: schema current at revision {schema.head()}",
        f"database: {views}",
    ]
