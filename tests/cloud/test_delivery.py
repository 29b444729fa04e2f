"""What the bridge guarantees about received messages: a database outage delays them but loses none, a message
whose processing fails is kept, and nothing is lost when the cloud stops (or dies) in the middle of a burst."""

from __future__ import annotations

import threading
import uuid

import pytest

from cloud import schema
from cloud.db import Database
from cloud.errors import DatabaseUnavailable
from cloud.models_edge import IngestFailure
from cloud.mqtt_bridge import MqttBridge
from cloud.services.failures import FailedMessages
from cloud.services.ingest import Outcome
from lockers.protocol.codec import encode
from lockers.protocol.messages import EventKind
from lockers.protocol.topics import Channel
from tests.cloud.conftest import EdgeProbe, cloud_settings, forget_session
from tests.support import wait_until


class Recorder:
    """A handler that notes the seq of every event it is given; `hold` keeps it busy until released."""

    def __init__(self, fail: dict[int, list[Exception]] | None = None, hold: bool = False) -> None:
        self.seen: list[int] = []
        self.fail = fail or {}
        self.busy, self.release = threading.Event(), threading.Event()
        if not hold:
            self.release.set()

    def __call__(self, _address, message, _retained) -> Outcome:
        self.seen.append(message.seq)
        self.busy.set()
        self.release.wait(30)
        if self.fail.get(message.seq):
            raise self.fail[message.seq].pop(0)
        return Outcome.PROCESSED


@pytest.fixture
def bridge_settings(broker, tmp_path):
    settings = cloud_settings("sqlite://", broker, tmp_path)
    yield settings
    forget_session(broker, settings.mqtt_client_id)


@pytest.fixture
def probe(broker):
    with EdgeProbe(broker, f"t-{uuid.uuid4().hex[:8]}") as edge:
        yield edge


def started(settings, handler, edge: EdgeProbe, keep_failed=None) -> MqttBridge:
    """A running bridge whose subscriptions are in place (a first connection subscribes only after CONNACK)."""
    bridge = MqttBridge(settings)
    bridge.start(handler, keep_failed=keep_failed)
    bridge.wait_connected(10)
    before = bridge.stats.received

    def heard() -> bool:
        edge.send_raw(f"dk/v1/{edge.locker}/state", b"warm-up")  # dropped as malformed, but received
        return bridge.wait_idle(0.5) and bridge.stats.received > before

    wait_until(heard, 10, "the bridge's subscriptions")
    return bridge


def burst(edge: EdgeProbe, count: int) -> list[int]:
    for _ in range(count):
        edge.event(EventKind.DOOR_OPENED, compartment="A1")
    return list(range(edge.seq - count + 1, edge.seq + 1))


def test_a_database_outage_delays_messages_but_loses_none(bridge_settings, probe):
    outage = [DatabaseUnavailable("the database is unavailable: connection refused") for _ in range(2)]
    handler = Recorder(fail={1: outage})
    bridge = started(bridge_settings, handler, probe)
    try:
        sent = burst(probe, 3)
        wait_until(lambda: bridge.stats.snapshot()["processed"] == 3, 15, "all three processed")
    finally:
        bridge.stop()
    assert handler.seen == [1, 1, 1, 2, 3]  # tried again until it worked, and the others waited their turn
    assert sent == [1, 2, 3] and set(bridge.stats.snapshot()["dropped_by_reason"]) == {"malformed_payload"}


@pytest.mark.allow_callback_errors
def test_a_message_that_fails_is_kept_and_the_rest_goes_on(bridge_settings, probe, sqlite_url):
    db = Database(sqlite_url)
    schema.prepare(db)
    handler = Recorder(fail={2: [RuntimeError("a bug")]})
    bridge = started(bridge_settings, handler, probe, keep_failed=FailedMessages(db).keep)
    try:
        burst(probe, 1)
        failing = probe.make_event(EventKind.DOOR_CLOSED, compartment="A1")
        probe.send(Channel.EVENTS, failing)
        burst(probe, 1)
        wait_until(lambda: bridge.stats.snapshot()["processed"] == 2, 15, "the other two processed")
        assert bridge.wait_idle(10)
    finally:
        bridge.stop()
    assert handler.seen == [1, 2, 3]
    assert bridge.stats.snapshot()["dropped_by_reason"]["processing_error"] == 1
    with db.read() as session:
        (kept,) = session.query(IngestFailure).all()
    assert (kept.topic, kept.payload) == (f"dk/v1/{probe.locker}/events", encode(failing))
    assert kept.error == "RuntimeError: a bug"
    db.dispose()


def test_nothing_received_is_lost_when_the_cloud_stops_mid_burst(bridge_settings, probe):
    first = Recorder()
    first_bridge = started(bridge_settings, _slow(first), probe)
    sent = [probe.make_event(EventKind.DOOR_OPENED, compartment="A1") for _ in range(100)]
    stopped = threading.Event()

    def locker() -> None:  # goes on sending while the cloud stops and while it is down
        for index, event in enumerate(sent):
            if index == len(sent) // 2:
                stopped.wait(30)
            probe.send(Channel.EVENTS, event)

    publisher = threading.Thread(target=locker, daemon=True)
    publisher.start()
    wait_until(lambda: len(first.seen) >= 5, 15, "the first events processed")
    first_bridge.stop()  # takes care of everything it received before it returns
    stopped.set()
    publisher.join(30)
    second = Recorder()
    second_bridge = started(bridge_settings, second, probe)
    try:
        wait_until(lambda: set(first.seen) | set(second.seen) == {e.seq for e in sent}, 30, "every event processed")
    finally:
        second_bridge.stop()
    assert len(set(first.seen)) >= 5 and len(set(second.seen)) >= len(sent) // 2


def test_what_a_dying_cloud_had_received_but_not_stored_comes_again(bridge_settings, probe):
    """kill -9 in process: the connection drops with the messages still in memory, unacknowledged."""
    dying = Recorder(hold=True)
    dying_bridge = started(bridge_settings, dying, probe)
    received = dying_bridge.stats.received
    sent = burst(probe, 20)
    wait_until(lambda: dying_bridge.stats.received >= received + 20, 15, "all twenty in memory")
    dying_bridge._session.suspend()  # noqa: SLF001 - the TCP connection dies with the process
    heir = Recorder()
    heir_bridge = started(bridge_settings, heir, probe)
    try:
        wait_until(lambda: sorted(set(heir.seen)) == sent, 20, "every event delivered again")
    finally:
        heir_bridge.stop()
        dying.release.set()
        dying_bridge.stop()
    assert dying.seen[:1] == [1]


def _slow(handler: Recorder):
    stop = threading.Event()

    def slow(address, message, retained) -> Outcome:
        stop.wait(0.02)
        return handler(address, message, retained)

    return slow
