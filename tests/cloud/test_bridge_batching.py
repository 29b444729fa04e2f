"""The MQTT bridge hands runs of queued telemetry to ingest as one batch, keeping the arrival order with events."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

from cloud.mqtt_bridge import MqttBridge
from cloud.services.ingest import Dropped, Outcome
from lockers.protocol.messages import EventKind, Reading, Telemetry
from lockers.protocol.topics import Channel
from tests.cloud.conftest import EdgeProbe, cloud_settings, forget_session
from tests.support import wait_until


def telemetry(minute: int) -> Telemetry:
    ts = datetime(2026, 3, 1, 12, tzinfo=UTC) + timedelta(minutes=minute)
    return Telemetry(readings=[Reading(sensor="28-00000000b001", zone="chilled", ts=ts, celsius=4.0)])


def test_queued_telemetry_is_handed_over_in_batches_between_events(broker, tmp_path):
    settings = cloud_settings("sqlite://", broker, tmp_path)
    bridge = MqttBridge(settings)
    calls: list[tuple[str, object]] = []
    busy, release = threading.Event(), threading.Event()

    def handle(address, message, retained) -> Outcome:
        calls.append(("event", message.seq))
        if message.seq == 1:  # hold the worker so everything after this queues up
            busy.set()
            release.wait(10)
        return Outcome.PROCESSED

    def handle_telemetry(items) -> list[Outcome | Dropped]:
        calls.append(("telemetry", [m.readings[0].ts.minute for _, m in items]))
        return [Outcome.PROCESSED if m.readings[0].ts.minute != 3 else Dropped("unknown_locker", "x") for _, m in items]

    bridge.start(handle, handle_telemetry)
    try:
        bridge.wait_connected(10)
        with EdgeProbe(broker, f"t-{uuid.uuid4().hex[:8]}") as edge:
            edge.event(EventKind.DOOR_OPENED, compartment="B1")
            wait_until(busy.is_set, 10, "worker busy with the first event")
            for minute in range(5):
                edge.send(Channel.TELEMETRY, telemetry(minute))
            edge.event(EventKind.DOOR_CLOSED, compartment="B1")
            for minute in range(5, 8):
                edge.send(Channel.TELEMETRY, telemetry(minute))
            wait_until(lambda: bridge.stats.received == 10, 10, "all ten messages queued")
            release.set()
            assert bridge.wait_idle(10)
    finally:
        release.set()
        bridge.stop()
        forget_session(broker, settings.mqtt_client_id)
    assert calls == [("event", 1), ("telemetry", [0, 1, 2, 3, 4]), ("event", 2), ("telemetry", [5, 6, 7])]
    stats = bridge.stats.snapshot()
    assert (stats["processed"], stats["dropped_by_reason"]) == (9, {"unknown_locker": 1})
