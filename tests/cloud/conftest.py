"""Fixtures for the cloud service: the real app (lifespan on) against SQLite/PostgreSQL and the real broker,
plus a test-side MQTT client that plays the locker."""

from __future__ import annotations

import queue
import uuid
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cloud import schema
from cloud.app import create_app
from cloud.db import Database
from cloud.models import Locker
from cloud.settings import Settings
from dorpskluis.broker import RunningBroker
from lockers.layout import demo_layout
from lockers.mqtt import BrokerAddress, Inbound, MqttSession, Outbound
from lockers.protocol.codec import decode, encode
from lockers.protocol.messages import Command, DesiredState, Event, EventKind, Message
from lockers.protocol.topics import Channel, topic
from tests.cloud.servers import SmtpInbox, smtp_server
from tests.support import wait_until

with warnings.catch_warnings():
    # Starlette nags about httpx vs httpx2 on import; the test client works the same.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ADMIN_KEY = "test-admin-key-0123456789abcdef"
ADMIN = {"X-API-Key": ADMIN_KEY}
DEMO_LAYOUT = demo_layout().model_dump(mode="json")


def cloud_settings(database_url: str, broker: RunningBroker, data_dir: Path, **overrides) -> Settings:
    values = dict(
        env="development",
        database_url=database_url,
        data_dir=data_dir,
        mqtt_host=broker.host,
        mqtt_port=broker.port,
        # A fresh persistent session per test: queued messages of other tests must not reach this one.
        mqtt_client_id=f"dk-cloud-test-{uuid.uuid4().hex[:10]}",
        admin_key=ADMIN_KEY,
        public_url="https://dorpskluis.example",
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def db(database_url) -> Iterator[Database]:
    """A database with its tables and one locker, `dk-1`, for tests of a service on its own."""
    database = Database(database_url)
    schema.prepare(database)
    with database.write() as session:
        session.add(
            Locker(id="dk-1", name="Dorpshuis", layout=demo_layout().model_dump(mode="json"), pin_salt="0" * 32)
        )
    yield database
    database.dispose()


@pytest.fixture
def smtp() -> Iterator[tuple[SmtpInbox, int]]:
    """A real SMTP server (aiosmtpd) on a free port, and the inbox of what it accepted."""
    with smtp_server() as running:
        yield running


@pytest.fixture
def settings(database_url, broker, tmp_path) -> Settings:
    return cloud_settings(database_url, broker, tmp_path / "data")


@pytest.fixture
def client(settings, broker) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        test_client.app.state.runtime.bridge.wait_connected(10)
        yield test_client
    forget_session(broker, settings.mqtt_client_id)


def forget_session(broker: RunningBroker, client_id: str) -> None:
    """Connect once with a clean session so the broker stops queueing later tests' messages for this client."""
    session = MqttSession(BrokerAddress(broker.host, broker.port), client_id, persistent=False)
    session.start()
    session.wait_connected(10)
    session.stop()


@pytest.fixture
def locker_id() -> str:
    """A locker id of its own per test: retained messages on the shared broker never leak between tests."""
    return f"t-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def locker(client, locker_id) -> str:
    response = client.post(
        "/api/v1/lockers",
        headers=ADMIN,
        json={"id": locker_id, "name": "Dorpshuis", "village": "Zwartsluis", "layout": DEMO_LAYOUT},
    )
    assert response.status_code == 201, response.text
    return locker_id


def make_vendor(client, vendor_id: str, api_key: str | None = None) -> dict:
    body = {"id": vendor_id, "name": vendor_id.replace("-", " ").title(), "kind": "farmer"}
    if api_key:
        body["api_key"] = api_key
    response = client.post("/api/v1/vendors", headers=ADMIN, json=body)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def farmer(client) -> dict:
    return make_vendor(client, "boer-jansen")


@pytest.fixture
def baker(client) -> dict:
    return make_vendor(client, "bakker-de-vries")


def key(vendor: dict) -> dict[str, str]:
    return {"X-API-Key": vendor["api_key"]}


def order_body(locker: str, *parts: tuple[str, str], accessible: bool = False, **extra) -> dict:
    return {
        "locker": locker,
        "resident": {"name": "Mevrouw Bakker", "phone": "+31 6 12345678"},
        "parts": [{"zone": zone, "size": size, **extra} for zone, size in parts],
        "accessible": accessible,
    }


def create_order(client, who: dict, locker: str, *parts: tuple[str, str], **options) -> dict:
    """POST an order that must succeed; returns its body."""
    response = client.post("/api/v1/orders", headers=who, json=order_body(locker, *parts, **options))
    assert response.status_code == 201, response.text
    return response.json()


def compartment(client, locker: str, compartment_id: str, who: dict = ADMIN) -> dict:
    status = client.get(f"/api/v1/lockers/{locker}", headers=who).json()
    return next(c for c in status["compartments"] if c["id"] == compartment_id)


# --- the locker side -------------------------------------------------------------------------------------


class EdgeProbe:
    """A test-side MQTT client publishing as locker `locker` and watching its desired state and commands."""

    def __init__(self, broker: RunningBroker, locker: str) -> None:
        self.locker = locker
        self.seq = 0
        self.retained: set[str] = set()
        self.inbox: queue.Queue[Inbound] = queue.Queue()
        self.desired: list[DesiredState] = []
        self.commands: list[tuple[Command, bool]] = []  # (command, delivered as a retained copy)
        self.session = MqttSession(
            BrokerAddress(broker.host, broker.port),
            f"test-edge-{uuid.uuid4().hex[:10]}",
            on_message=self.inbox.put,
            subscriptions=[(topic(locker, Channel.DESIRED), 1), (topic(locker, Channel.CMD), 1)],
            persistent=False,
        )

    def __enter__(self) -> EdgeProbe:
        self.session.start()
        self.session.wait_connected(10)
        return self

    def __exit__(self, *exc) -> None:
        for name in self.retained:  # leave nothing behind on the shared broker for later tests
            self.session.publish(Outbound(name, b"", qos=1, retain=True)).wait(5)
        self.session.stop()

    def send(self, channel: Channel, message: Message, *, retain: bool = False) -> None:
        self.send_raw(topic(self.locker, channel), encode(message), retain=retain)

    def send_raw(self, topic_name: str, payload: bytes, *, retain: bool = False) -> None:
        if retain:
            self.retained.add(topic_name)
        assert self.session.publish(Outbound(topic_name, payload, qos=1, retain=retain)).wait(10)

    def make_event(self, kind: EventKind, *, ts: datetime | None = None, **fields) -> Event:
        """The next event of this locker (numbered), not sent yet."""
        self.seq += 1
        return Event(id=uuid.uuid4().hex, seq=self.seq, ts=ts or datetime.now(UTC), kind=kind, **fields)

    def event(self, kind: EventKind, *, ts: datetime | None = None, **fields) -> Event:
        """Publish an event; `ts` is the locker's clock (a simulated site may run ahead of ours)."""
        event = self.make_event(kind, ts=ts, **fields)
        self.send(Channel.EVENTS, event)
        return event

    def _drain(self) -> None:
        while True:
            try:
                inbound = self.inbox.get_nowait()
            except queue.Empty:
                return
            if inbound.topic == topic(self.locker, Channel.CMD):
                self.commands.append((decode(Channel.CMD, inbound.payload), inbound.retained))
            else:
                self.desired.append(decode(Channel.DESIRED, inbound.payload))

    def latest_desired(self, min_version: int = 1, timeout: float = 10.0) -> DesiredState:
        """The newest desired state received, once its version reaches `min_version`."""

        def probe() -> DesiredState | None:
            self._drain()
            newest = max(self.desired, key=lambda d: d.version, default=None)
            return newest if newest and newest.version >= min_version else None

        return wait_until(probe, timeout, f"desired state v{min_version} of {self.locker}")

    def command(self, command_id: str, timeout: float = 10.0) -> tuple[Command, bool]:
        """The command with this id as the locker received it, and whether it came as a retained copy."""

        def probe() -> tuple[Command, bool] | None:
            self._drain()
            return next((item for item in self.commands if item[0].id == command_id), None)

        return wait_until(probe, timeout, f"command {command_id} at {self.locker}")


@pytest.fixture
def edge(broker, locker) -> Iterator[EdgeProbe]:
    with EdgeProbe(broker, locker) as probe:
        yield probe


def ingest_stats(client) -> dict:
    return client.get("/api/v1/health").json()["ingest"]


def wait_count(client, counter: str, at_least: int, timeout: float = 10.0) -> dict:
    """Wait until an ingest counter (`duplicates`, or `dropped_by_reason.unknown_locker`) reaches `at_least`.

    Counters only ever grow and other tests' retained messages may add to them, so tests compare
    against a value read before they acted."""
    bridge = client.app.state.runtime.bridge

    def value() -> int:
        stats = bridge.stats.snapshot()
        for part in counter.split("."):
            stats = stats.get(part, 0) if isinstance(stats, dict) else 0
        return stats

    wait_until(lambda: value() >= at_least, timeout, f"ingest counter {counter} >= {at_least}")
    assert bridge.wait_idle(timeout), "the ingest worker did not become idle"
    return ingest_stats(client)


def counter(client, name: str) -> int:
    stats = ingest_stats(client)
    for part in name.split("."):
        stats = stats.get(part, 0) if isinstance(stats, dict) else 0
    return stats
