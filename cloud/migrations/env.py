"""Alembic's environment: migrations run on the connection `cloud.schema` hands over, or on DK_DATABASE_URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from cloud import models  # noqa: F401 - registers every table on Base.metadata
from cloud.db import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as fresh:
        _migrate(fresh)
    engine.dispose()


def _migrate(connection) -> None:
    # SQLite cannot ALTER most things in place: batch mode copies the table (render_as_batch for autogenerate).
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run()
