"""deploy/postgres/grafana-reader.sh, the PostgreSQL image's init script, run with psql against a real server: it
makes Grafana's login with no rights of its own, runs again harmlessly, and says what it misses."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import POSTGRES_URL
from tests.support import service_missing

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "postgres" / "grafana-reader.sh"
PLAIN = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture
def role(postgres_url) -> Iterator[str]:
    """A role name nobody uses; dropped afterwards if the script made it."""
    if shutil.which("psql") is None:
        service_missing("psql (Debian package postgresql-client) is not installed")
    name = f"dk_grafana_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(PLAIN, autocommit=True) as admin:
        admin.execute(f'DROP ROLE IF EXISTS "{name}"')


def run_script(role: str, password: str | None) -> subprocess.CompletedProcess:
    url = make_url(POSTGRES_URL)
    env = {
        "PATH": os.environ["PATH"],
        "PGHOST": url.host or "127.0.0.1",
        "PGPORT": str(url.port or 5432),
        "POSTGRES_USER": url.username or "postgres",
        "POSTGRES_DB": url.database or "postgres",
        "GRAFANA_DB_USER": role,
    }
    if url.password:
        env["PGPASSWORD"] = url.password
    if password is not None:
        env["GRAFANA_DB_PASSWORD"] = password
    return subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30)


def test_the_script_makes_a_login_that_can_read_nothing_and_runs_again_harmlessly(role, postgres_url):
    made = run_script(role, "a password with ' and \" and ; in it")
    assert made.returncode == 0, made.stderr
    assert f"role {role} ready" in made.stdout
    again = run_script(role, "a new password")
    assert again.returncode == 0, again.stderr
    with psycopg.connect(PLAIN) as admin:
        (login, superuser, config), *rest = admin.execute(
            "SELECT rolcanlogin, rolsuper, rolconfig FROM pg_roles WHERE rolname = %s", (role,)
        ).fetchall()
        assert not rest and login and not superuser
        assert config == ["statement_timeout=30s"]
        # No rights on its own: a table in the test's schema is out of reach until the cloud grants views.
        schema = postgres_url.rsplit("search_path%3D", 1)[1]
        admin.execute(f'CREATE TABLE "{schema}".secrets (x int)')
        admin.commit()
        admin.execute(f'SET ROLE "{role}"')
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            admin.execute(f'SELECT * FROM "{schema}".secrets')


def test_without_a_password_the_script_stops_and_names_it(role):
    refused = run_script(role, None)
    assert refused.returncode != 0
    assert "GRAFANA_DB_PASSWORD" in refused.stderr
