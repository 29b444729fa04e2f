"""Idempotent ingest: the unique event id decides, so racing deliveries of one event, and repeats after a cloud
restart, store it once and apply it once; racing events of one locker are all numbered without gaps."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sqlalchemy import func, select

from cloud.models import EdgeEvent
from cloud.services.ingest import Outcome
from lockers.protocol.messages import Event, EventKind
from lockers.protocol.topics import Channel, TopicAddress
from tests.cloud.coldchain_support import running_cloud
from tests.cloud.conftest import ADMIN, DEMO_LAYOUT, create_order, forget_session, key

RACERS = 8


def race(handle, items) -> list[Outcome]:
    """Call `handle` on every item at the same moment from its own thread."""
    start = threading.Barrier(len(items))

    def run(item) -> Outcome:
        start.wait()
        return handle(*item)

    with ThreadPoolExecutor(max_workers=len(items)) as pool:
        return list(pool.map(run, items))


def stored(runtime, locker: str) -> dict[str, int]:
    with runtime.db.read() as session:
        rows = session.execute(
            select(EdgeEvent.event_id, func.count()).where(EdgeEvent.locker_id == locker).group_by(EdgeEvent.event_id)
        )
        return dict(rows.all())


def test_racing_deliveries_of_one_event_store_and_apply_it_once(client, locker, farmer):
    who = key(farmer)
    oid = create_order(client, who, locker, ("ambient", "S"))["id"]
    address = TopicAddress(locker, Channel.EVENTS)
    event = Event(id=uuid.uuid4().hex, seq=1, ts=datetime.now(UTC), kind=EventKind.LOADED, compartment="A1", order=oid)
    runtime = client.app.state.runtime
    outcomes = race(runtime.ingest.handle, [(address, event)] * RACERS)
    assert sorted(outcomes) == sorted([Outcome.PROCESSED] + [Outcome.DUPLICATE] * (RACERS - 1))
    assert stored(runtime, locker) == {event.id: 1}
    order = client.get(f"/api/v1/orders/{oid}", headers=who).json()
    assert [(h["from"], h["to"]) for h in order["history"]].count(("assigned", "loaded")) == 1
    assert order["status"] == "ready"


def test_racing_events_of_one_locker_are_all_numbered(client, locker):
    address = TopicAddress(locker, Channel.EVENTS)
    now = datetime.now(UTC)
    events = [
        Event(id=uuid.uuid4().hex, seq=seq, ts=now, kind=EventKind.DOOR_OPENED, compartment="A1")
        for seq in range(1, RACERS + 1)
    ]
    runtime = client.app.state.runtime
    assert race(runtime.ingest.handle, [(address, e) for e in events]) == [Outcome.PROCESSED] * RACERS
    numbering = client.get(f"/api/v1/lockers/{locker}", headers=ADMIN).json()["events"]
    assert (numbering["last_seq"], numbering["contiguous_to"], numbering["gaps"], numbering["numbering"]) == (
        RACERS,
        RACERS,
        [],
        0,
    )
    assert sorted(stored(runtime, locker)) == sorted(e.id for e in events)


def test_repeats_after_a_cloud_restart_are_still_repeats(settings, broker, locker_id):
    address = TopicAddress(locker_id, Channel.EVENTS)
    first = Event(id=uuid.uuid4().hex, seq=1, ts=datetime.now(UTC), kind=EventKind.DOOR_OPENED, compartment="A1")
    try:
        with running_cloud(settings) as client:
            body = {"id": locker_id, "name": "Dorpshuis", "layout": DEMO_LAYOUT}
            assert client.post("/api/v1/lockers", headers=ADMIN, json=body).status_code == 201
            assert client.app.state.runtime.ingest.handle(address, first) is Outcome.PROCESSED
        with running_cloud(settings) as client:
            runtime = client.app.state.runtime
            assert runtime.ingest.handle(address, first) is Outcome.DUPLICATE
            second = first.model_copy(update={"id": uuid.uuid4().hex, "seq": 2})
            assert runtime.ingest.handle(address, second) is Outcome.PROCESSED
            assert stored(runtime, locker_id) == {first.id: 1, second.id: 1}
            numbering = client.get(f"/api/v1/lockers/{locker_id}", headers=ADMIN).json()["events"]
            assert (numbering["last_seq"], numbering["gaps"], numbering["numbering"]) == (2, [], 0)
    finally:
        forget_session(broker, settings.mqtt_client_id)
