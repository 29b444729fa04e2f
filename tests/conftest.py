"""Shared fixtures: a private real broker, SQLite and PostgreSQL databases, and a guard that fails a test
when an exception was swallowed in a callback thread (paho, gpiozero, our own workers)."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.db import Database
from dorpskluis.broker import RunningBroker, broker_kind, free_port, mosquitto_binary, start_broker
from dorpskluis.stack import CloudAdmin, CloudConfig, start_cloud
from provisioning.certs import write_broker_certs
from tests.support import IN_CI, service_missing

POSTGRES_URL = os.environ.get("DK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
OUR_PACKAGES = ("cloud", "edge", "lockers", "sensors", "provisioning", "dorpskluis")


# --- swallowed callback errors --------------------------------------------------------------------------


class _ErrorCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in OUR_PACKAGES and record.exc_info:
            self.records.append(record)


@pytest.fixture(autouse=True)
def fail_on_swallowed_errors(request) -> Iterator[None]:
    """Callbacks log and swallow their exceptions so a process survives; a test must not."""
    collector = _ErrorCollector()
    root = logging.getLogger()
    root.addHandler(collector)
    thread_errors: list[threading.ExceptHookArgs] = []
    previous_hook = threading.excepthook
    threading.excepthook = thread_errors.append
    try:
        yield
    finally:
        root.removeHandler(collector)
        threading.excepthook = previous_hook
    if request.node.get_closest_marker("allow_callback_errors"):
        return
    problems = [f"{r.name}: {r.getMessage()}" for r in collector.records]
    problems += [
        f"thread {a.thread.name if a.thread else '?'}: {a.exc_type.__name__}: {a.exc_value}" for a in thread_errors
    ]
    if problems:
        pytest.fail("exceptions swallowed in callbacks:\n" + "\n".join(problems))


# --- browser (tests/browser.py) -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium, driven by Playwright with its executable path set."""
    from playwright.sync_api import sync_playwright

    from tests.browser import chromium_path

    executable = chromium_path()
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


def _new_page(browser, width: int, height: int):
    context = browser.new_context(viewport={"width": width, "height": height}, locale="nl-NL")
    return context, context.new_page()


@pytest.fixture
def page(browser):
    """A page on a phone's screen."""
    context, opened = _new_page(browser, 390, 844)
    yield opened
    context.close()


@pytest.fixture
def desk(browser):
    """A page on the foundation's desktop screen."""
    context, opened = _new_page(browser, 1280, 900)
    yield opened
    context.close()


@pytest.fixture
def screenshot(tmp_path):
    """Take a full-page picture: into $DK_SCREENSHOTS when set (`make screenshots` refreshes docs/screenshots),
    else into the test's own folder, so a test run never changes the repository."""
    folder = Path(os.environ["DK_SCREENSHOTS"]) if os.environ.get("DK_SCREENSHOTS") else tmp_path

    def take(page, name: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 1000  # a picture, not an empty canvas
        return path

    return take


# --- broker ---------------------------------------------------------------------------------------------


def _check_broker_available() -> None:
    if IN_CI and broker_kind() == "mosquitto" and mosquitto_binary() is None:
        pytest.fail("CI must provide the mosquitto binary")


@pytest.fixture(scope="session")
def broker(tmp_path_factory) -> Iterator[RunningBroker]:
    """A private broker for the whole session: mosquitto with the project's config, else amqtt; open to
    anonymous clients (access control has its own tests, on `secured_broker`)."""
    _check_broker_available()
    running = start_broker(tmp_path_factory.mktemp("broker"), secured=False)
    yield running
    running.stop()


@pytest.fixture
def own_broker(tmp_path) -> Iterator[RunningBroker]:
    """A broker for one test, free to be killed and restarted."""
    _check_broker_available()
    running = start_broker(tmp_path / "broker", secured=False)
    yield running
    running.kill()


@pytest.fixture
def secured_broker(tmp_path) -> Iterator[RunningBroker]:
    """Mosquitto with the project's config as deployed: accounts, ACL, no anonymous clients, and a TLS listener
    (`tls_port`, certificates of a private CA in `tls`) besides the plain one."""
    if mosquitto_binary() is None:
        service_missing("mosquitto binary not installed (access control needs mosquitto; amqtt runs open)")
    running = RunningBroker(
        kind="mosquitto",
        host="127.0.0.1",
        port=free_port(),
        workdir=tmp_path / "broker",
        tls=write_broker_certs(tmp_path / "certs", ["127.0.0.1", "localhost"]),
        tls_port=free_port(),
    )
    running.start()
    yield running
    running.stop()


@pytest.fixture
def secured_cloud(secured_broker, sqlite_url, tmp_path) -> Iterator[tuple[CloudConfig, CloudAdmin]]:
    """The cloud service in its own process on `secured_broker` (it writes locker accounts there), and an admin
    client of its API."""
    config = CloudConfig(
        database_url=sqlite_url,
        data_dir=tmp_path / "cloud",
        broker=secured_broker,
        admin_key=secrets.token_urlsafe(24),
        http_port=free_port(),
    )
    process = start_cloud(config, tmp_path / "logs")
    admin = CloudAdmin(config.url, config.admin_key)
    yield config, admin
    admin.close()
    process.stop()


@pytest.fixture
def unused_port() -> int:
    return free_port()


# --- databases ------------------------------------------------------------------------------------------


def _postgres_schema_url() -> Iterator[str]:
    """A fresh schema in the test database, dropped afterwards, as a SQLAlchemy URL."""
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a pinned dependency
        service_missing("psycopg is not installed")
    plain = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        admin = psycopg.connect(plain, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split())[:160]  # one line in pytest's summary
        service_missing(f"PostgreSQL not reachable at {POSTGRES_URL}: {reason}")
    schema = f"dk_test_{uuid.uuid4().hex[:10]}"
    with admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            sep = "&" if "?" in POSTGRES_URL else "?"
            yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path) -> Iterator[str]:
    """Each test using this runs on embedded SQLite and on PostgreSQL (skipped, or failed in CI, if absent)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'dorpskluis.sqlite'}"
    else:
        yield from _postgres_schema_url()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """For PostgreSQL-only code paths (skipped, or failed in CI, if the server is absent)."""
    yield from _postgres_schema_url()


@pytest.fixture
def postgres_reader(postgres_url) -> Iterator[str]:
    """A login role of its own on the test server, with no rights yet; roles are server-wide, so it is dropped
    (with whatever it was granted) afterwards."""
    import psycopg

    role = f"dk_reader_{uuid.uuid4().hex[:10]}"
    plain = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN NOINHERIT')
        try:
            yield role
        finally:
            admin.execute(f'DROP OWNED BY "{role}"')
            admin.execute(f'DROP ROLE "{role}"')


@pytest.fixture
def reporting_db(postgres_url, postgres_reader) -> Iterator[tuple[Database, str]]:
    """A PostgreSQL database holding tests/reporting_data's fleet, with the reporting views readable by
    `postgres_reader`; yields (database, reader role)."""
    from cloud import reporting, schema
    from cloud.db import utcnow
    from tests.reporting_data import seed_fleet

    db = Database(postgres_url)
    try:
        schema.prepare(db)
        seed_fleet(db, utcnow())
        reporting.refresh(db, postgres_reader, offline_after_s=180)
        yield db, postgres_reader
    finally:
        db.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """For tests of logic that does not depend on the database engine."""
    return f"sqlite:///{tmp_path / 'dorpskluis.sqlite'}"


@pytest.fixture
def run_dir(monkeypatch) -> Iterator[Path]:
    """A private runtime folder for control sockets, so tests never talk to a running demo.

    Short and under /tmp: a Unix socket path must stay below 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="dk-run-"))
    monkeypatch.setenv("DK_RUN_DIR", str(path))
    yield path
    shutil.rmtree(path, ignore_errors=True)
