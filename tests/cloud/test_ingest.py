"""Ingest of locker messages: presence, reported state, telemetry, and bad input counted and dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lockers.protocol.messages import EventKind, Quality, Reading, Reported, StateMessage, Telemetry
from lockers.protocol.topics import Channel
from tests.cloud.conftest import ADMIN, EdgeProbe, compartment, counter, wait_count
from tests.support import wait_until

CHILLED_SENSOR, FROZEN_SENSOR = "28-00000000b001", "28-00000000c001"


def status(client, locker: str) -> dict:
    return client.get(f"/api/v1/lockers/{locker}", headers=ADMIN).json()


def test_online_and_offline_follow_the_state_topic(client, locker, edge):
    assert status(client, locker)["online"] is False and status(client, locker)["last_seen"] is None
    edge.send(Channel.STATE, StateMessage(state="online", agent="edge 0.1.0"), retain=True)
    wait_until(lambda: status(client, locker)["online"], 10, "locker online")
    seen = status(client, locker)
    assert seen["agent"] == "edge 0.1.0" and seen["last_seen"] is not None
    edge.send(Channel.STATE, StateMessage(state="offline"), retain=True)
    wait_until(lambda: not status(client, locker)["online"], 10, "locker offline")


def test_reported_state_gives_version_and_doors(client, locker, edge):
    doors = {"A1": "open", "B1": "closed"}
    edge.send(Channel.REPORTED, Reported(desired_version=1, agent="edge 0.1.0", doors=doors, ts=datetime.now(UTC)))
    wait_until(lambda: status(client, locker)["reported_version"] == 1, 10, "reported version")
    doors = {c["id"]: c["door"] for c in status(client, locker)["compartments"]}
    assert (doors["A1"], doors["B1"], doors["C1"]) == ("open", "closed", "unknown")
    # an older report does not overwrite a newer door event
    edge.event(EventKind.DOOR_CLOSED, compartment="A1")
    wait_until(lambda: compartment(client, locker, "A1")["door"] == "closed", 10, "A1 closed")
    stale = datetime.now(UTC) - timedelta(minutes=10)
    edge.send(Channel.REPORTED, Reported(desired_version=2, agent="edge 0.1.0", doors={"A1": "open"}, ts=stale))
    wait_until(lambda: status(client, locker)["reported_version"] == 2, 10, "second report")
    assert compartment(client, locker, "A1")["door"] == "closed"


def test_telemetry_shows_the_latest_temperature_per_zone(client, locker, edge):
    now = datetime.now(UTC)
    edge.send(
        Channel.TELEMETRY,
        Telemetry(
            readings=[
                Reading(sensor=CHILLED_SENSOR, zone="chilled", ts=now - timedelta(seconds=30), celsius=5.5),
                Reading(sensor=CHILLED_SENSOR, zone="chilled", ts=now, celsius=3.9),
                Reading(sensor=FROZEN_SENSOR, zone="frozen", ts=now, quality=Quality.POWER_ON_RESET),
            ]
        ),
    )
    wait_until(lambda: _zones(client, locker)["chilled"]["celsius"] == 3.9, 10, "chilled temperature")
    zones = _zones(client, locker)
    assert (zones["frozen"]["celsius"], zones["frozen"]["quality"]) == (None, "power_on_reset")
    assert zones["frozen"]["ts"] is not None
    assert zones["ambient"]["celsius"] is None and zones["ambient"]["quality"] is None
    assert compartment(client, locker, "B1")["celsius"] == 3.9
    # a late batch with older readings does not roll the latest value back
    late = Reading(sensor=CHILLED_SENSOR, zone="chilled", ts=now - timedelta(minutes=5), celsius=9.0)
    edge.send(Channel.TELEMETRY, Telemetry(readings=[late]))
    # (a sample is identified by sensor and time: the same time again would be taken for a QoS 1 repeat)
    cold = Reading(sensor=FROZEN_SENSOR, zone="frozen", ts=now + timedelta(seconds=30), celsius=-19.5)
    edge.send(Channel.TELEMETRY, Telemetry(readings=[cold]))
    wait_until(lambda: _zones(client, locker)["frozen"]["celsius"] == -19.5, 10, "frozen temperature")
    assert _zones(client, locker)["chilled"]["celsius"] == 3.9


def _zones(client, locker: str) -> dict:
    return {z["zone"]: z for z in status(client, locker)["zones"]}


def test_bad_messages_are_counted_and_dropped(client, locker, edge, broker):
    before = client.get("/api/v1/health").json()["ingest"]["dropped_by_reason"]
    base = f"dk/v1/{locker}"
    edge.send_raw(f"{base}/events", b"{not json")
    edge.send_raw(f"{base}/events", b'{"v": 2, "id": "00", "seq": 1}')
    edge.send_raw(f"{base}/telemetry", b'{"v": 1, "readings": []}')
    edge.send_raw(f"{base}/state", b"\xff\xfe\x00 binary")
    edge.send_raw("dk/v1/Not_A_Locker/events", b"{}")
    with EdgeProbe(broker, "t-unregistered") as stranger:
        stranger.event(EventKind.DOOR_OPENED, compartment="A1")
        stranger.send(Channel.STATE, StateMessage(state="online"))
    stats = wait_count(client, "dropped_by_reason.malformed_payload", before.get("malformed_payload", 0) + 4)
    stats = wait_count(client, "dropped_by_reason.malformed_topic", before.get("malformed_topic", 0) + 1)
    stats = wait_count(client, "dropped_by_reason.unknown_locker", before.get("unknown_locker", 0) + 2)
    assert "processing_error" not in stats["dropped_by_reason"]
    # the worker is still alive and serving
    edge.send(Channel.STATE, StateMessage(state="online"))
    wait_until(lambda: status(client, locker)["online"], 10, "locker online after the garbage")
    assert client.get(f"/api/v1/lockers/{locker}/events", headers=ADMIN).json() == {"locker": locker, "events": []}


def test_health_reports_the_bridge(client):
    health = client.get("/api/v1/health")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok" and body["mqtt_connected"] is True
    expected = {"received", "processed", "duplicates", "inconsistent", "dropped", "dropped_by_reason"}
    assert set(body["ingest"]) == expected
    assert counter(client, "dropped") == sum(body["ingest"]["dropped_by_reason"].values())
