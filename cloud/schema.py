"""The database schema, kept current with Alembic (cloud/migrations): an empty database gets the newest schema at
once and is stamped with the newest revision; an existing one is migrated, a database made before migrations
existed (by create_all) first counting as the baseline revision. Every start-up runs this."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from cloud import models  # noqa: F401 - registers every table on Base.metadata
from cloud.db import Base, Database
from lockers.errors import DorpskluisError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001"  # the schema create_all made before migrations existed


def alembic_config(url: str | None = None) -> Config:
    """Alembic's configuration for our migrations, without an alembic.ini (`url`: for the command line)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def revision_of(db: Database) -> str | None:
    """The revision the database is at (None: no schema, or one made before migrations)."""
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def prepare(db: Database, target: str = "head") -> str:
    """Bring the database to `target` (normally the newest revision); says what it did."""
    with db.engine.connect() as connection:
        if db.is_sqlite:
            # SQLite changes a table by copying it: with foreign keys on, dropping the old copy would delete the
            # rows that point at it. The pragma only works outside a transaction, so before SQLAlchemy begins one.
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                current, now = _migrate(connection, target)
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all() if db.is_sqlite else []
                if broken:  # raised inside the transaction: the migration is rolled back
                    raise MigrationError(f"the migration would leave rows pointing nowhere: {broken[:3]}")
        finally:
            if db.is_sqlite:
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")
    if current == "created":
        return f"created the schema at revision {now}"
    if now != current:
        log.warning("database migrated from revision %s to %s", current or "none", now)
        return f"migrated from revision {current or 'none'} to {now}"
    return f"schema current at revision {now}"


def _migrate(connection, target: str) -> tuple[str | None, str | None]:
    """(revision before, revision after) of the migration inside the caller's transaction; "created" before when
    an empty database got the newest schema directly."""
    tables = set(inspect(connection).get_table_names()) - {"alembic_version"}
    config = alembic_config()
    config.attributes["connection"] = connection
    if not tables and target == "head":
        Base.metadata.create_all(connection)
        command.stamp(config, "head")
        return "created", head()
    current = MigrationContext.configure(connection).get_current_revision()
    if tables and current is None:
        command.stamp(config, BASELINE)
        current = BASELINE
    command.upgrade(config, target)
    return current, MigrationContext.configure(connection).get_current_revision()


class MigrationError(DorpskluisError):
    """A migration would leave the database inconsistent; nothing was changed."""
