"""Runs of state/reported messages in one transaction: the same database state as one by one, a bad message set
aside without losing the rest, and the arrival order kept around events."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from cloud import schema
from cloud.db import Database
from cloud.models import Locker
from cloud.models_edge import EventStream, IngestFailure
from cloud.mqtt_bridge import MqttBridge
from cloud.services.failures import FailedMessages
from cloud.services.ingest import Dropped, Outcome
from lockers.protocol.messages import Event, EventKind, Reported, StateMessage
from lockers.protocol.topics import Channel, TopicAddress, topic
from tests.cloud.conftest import ADMIN, DEMO_LAYOUT, EdgeProbe, cloud_settings, forget_session
from tests.support import wait_until

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def register(client, locker_id: str) -> None:
    body = {"id": locker_id, "name": locker_id, "village": "Zwartsluis", "layout": DEMO_LAYOUT}
    assert client.post("/api/v1/lockers", headers=ADMIN, json=body).status_code == 201


def script(i: int) -> list[tuple[Channel, object, bool]]:
    """What one locker sends: births retained and live, reports opening and filling event gaps, stale doors."""
    steps = [
        (Channel.STATE, StateMessage(state="online", agent="edge 1"), True),
        (Channel.REPORTED, Reported(desired_version=1, agent="edge 1", doors={"A1": "open"}, ts=T0, last_seq=3), True),
        (Channel.STATE, StateMessage(state="online", agent=f"edge 2.{i}"), False),
        (Channel.REPORTED, Reported(desired_version=2, agent="e2", doors={"A1": "closed"}, ts=T0, last_seq=5), False),
        # older doors and an older sequence number: changes nothing but version and agent
        (
            Channel.REPORTED,
            Reported(desired_version=3, agent="edge 3", doors={"A1": "open"}, ts=T0 - timedelta(minutes=5), last_seq=4),
            False,
        ),
    ]
    if i % 2:
        steps.append((Channel.STATE, StateMessage(state="offline"), False))
    if i % 3 == 0:
        steps = steps[:2]  # only the retained copies: never heard live
    return steps


def interleaved(lockers: list[str]) -> list[tuple[TopicAddress, object, bool]]:
    scripts = [[(TopicAddress(locker, ch), m, r) for ch, m, r in script(i)] for i, locker in enumerate(lockers)]
    items = []
    for step in range(max(len(s) for s in scripts)):
        items += [s[step] for s in scripts if step < len(s)]
        if step == 2:
            items.append((TopicAddress("t-nobody", Channel.STATE), StateMessage(state="online"), False))
    return items


def snapshot(db, lockers: list[str]) -> list[tuple]:
    with db.write() as session:
        rows = []
        for locker_id in lockers:
            locker = session.get(Locker, locker_id)
            stream = session.get(EventStream, locker_id)
            doors = sorted((c.id, c.door, c.door_changed_at) for c in locker.compartments)
            numbering = (stream.last_seq, [tuple(g[:2]) for g in stream.gaps]) if stream else None
            rows.append(
                (locker.online, locker.agent, locker.reported_version, locker.last_seen is None, doors, numbering)
            )
        return rows


def test_a_run_gives_the_same_database_state_as_one_by_one(client):
    ingest, db = client.app.state.runtime.ingest, client.app.state.runtime.db
    tag = uuid.uuid4().hex[:6]
    one, run = [f"t-{tag}-a{i}" for i in range(12)], [f"t-{tag}-b{i}" for i in range(12)]
    for locker_id in one + run:
        register(client, locker_id)

    results_one = []
    for address, message, retained in interleaved(one):
        try:
            results_one.append(ingest.handle(address, message, retained))
        except Dropped as exc:
            results_one.append(exc.reason)
    results_run = [r.reason if isinstance(r, Dropped) else r for r in ingest.presence_batch(interleaved(run))]

    assert results_run == results_one and results_one.count("unknown_locker") == 1
    assert snapshot(db, run) == snapshot(db, one)
    states = snapshot(db, run)
    assert states[1][:4] == (False, "edge 3", 3, False)  # went offline live
    assert states[2][:4] == (True, "edge 3", 3, False)
    assert states[3][:4] == (True, "edge 1", 1, True)  # retained copies only: no sign of life
    assert states[2][5] == (5, [(1, 3), (4, 5)])  # nothing received: events 1-5 missing, as two gaps
    assert ("A1", "closed", T0) in states[2][4]


def test_unknown_lockers_in_a_run_over_mqtt_are_dropped_and_the_rest_stored(client, broker):
    runtime = client.app.state.runtime
    tag = uuid.uuid4().hex[:6]
    lockers = [f"t-{tag}-{i}" for i in range(8)]
    for locker_id in lockers:
        register(client, locker_id)
    dropped_before = runtime.bridge.stats.snapshot()["dropped_by_reason"].get("unknown_locker", 0)
    probes = [EdgeProbe(broker, locker_id).__enter__() for locker_id in [*lockers[:4], f"t-{tag}-x", *lockers[4:]]]
    try:
        for version in (1, 2):
            for probe in probes:
                report = Reported(desired_version=version, agent="edge", ts=datetime.now(UTC))
                probe.send(Channel.REPORTED, report)
    finally:
        for probe in probes:
            probe.__exit__(None, None, None)
    assert runtime.bridge.wait_idle(10)
    with runtime.db.write() as session:
        versions = [session.get(Locker, locker_id).reported_version for locker_id in lockers]
    assert versions == [2] * len(lockers)
    dropped = runtime.bridge.stats.snapshot()["dropped_by_reason"].get("unknown_locker", 0)
    assert dropped - dropped_before == 2


@pytest.mark.allow_callback_errors
def test_a_failing_run_falls_back_to_one_by_one_and_keeps_the_order_around_events(broker, tmp_path, database_url):
    settings = cloud_settings(database_url, broker, tmp_path)
    db = Database(database_url)
    schema.prepare(db)
    bridge = MqttBridge(settings)
    calls: list[tuple] = []
    busy, release = threading.Event(), threading.Event()

    def label(address: TopicAddress, message) -> str:
        if isinstance(message, Event):
            return f"event{message.seq}"
        if isinstance(message, Reported):
            return f"{address.locker[-1]}:v{message.desired_version}"
        return f"{address.locker[-1]}:{message.state}"

    def handle(address, message, retained) -> Outcome:
        calls.append(("one", label(address, message)))
        if isinstance(message, Event) and message.seq == 1:  # hold the worker so everything after queues up
            busy.set()
            release.wait(10)
        if isinstance(message, Reported) and message.desired_version == 99:
            raise RuntimeError("a bug")
        return Outcome.PROCESSED

    def presence(items) -> list[Outcome | Dropped]:
        calls.append(("run", [label(a, m) for a, m, _ in items]))
        if any(isinstance(m, Reported) and m.desired_version == 99 for _, m, _ in items):
            raise RuntimeError("a bug")
        return [Outcome.PROCESSED for _ in items]

    bridge.start(handle, None, FailedMessages(db).keep, presence)
    tag = uuid.uuid4().hex[:6]
    try:
        bridge.wait_connected(10)
        with EdgeProbe(broker, f"t-{tag}a") as a, EdgeProbe(broker, f"t-{tag}b") as b:
            a.event(EventKind.DOOR_OPENED, compartment="B1")
            wait_until(busy.is_set, 10, "worker busy with the first event")
            a.send(Channel.STATE, StateMessage(state="online"))
            a.send(Channel.REPORTED, Reported(desired_version=1, agent="e", ts=T0))
            b.send(Channel.REPORTED, Reported(desired_version=99, agent="e", ts=T0))
            b.send(Channel.STATE, StateMessage(state="online"))
            a.event(EventKind.DOOR_CLOSED, compartment="B1")
            a.send(Channel.REPORTED, Reported(desired_version=2, agent="e", ts=T0))
            b.send(Channel.STATE, StateMessage(state="offline"))
            wait_until(lambda: bridge.stats.received == 8, 10, "all eight messages queued")
            release.set()
            assert bridge.wait_idle(10)
    finally:
        release.set()
        bridge.stop()
        forget_session(broker, settings.mqtt_client_id)
    first = ["a:online", "a:v1", "b:v99", "b:online"]
    assert calls == [
        ("one", "event1"),
        ("run", first),
        *[("one", name) for name in first],
        ("one", "event2"),
        ("run", ["a:v2", "b:offline"]),
    ]
    with db.read() as session:
        (kept,) = session.query(IngestFailure).all()
    assert (kept.topic, kept.error) == (topic(f"t-{tag}b", Channel.REPORTED), "RuntimeError: a bug")
    stats = bridge.stats.snapshot()
    assert (stats["processed"], stats["dropped_by_reason"]) == (7, {"processing_error": 1})
