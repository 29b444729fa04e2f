"""Ingest past one process: telemetry shared between cloud nodes (`$share/<group>/...`), events on the main node
only, every reading stored once and the alarm rules still seeing one sensor's readings as one story."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from cloud.models import Reading as ReadingRow
from cloud.mqtt_bridge import subscriptions
from cloud.notify.delivery import IDLE_POLL_S
from lockers.protocol.messages import EventKind, Reading, Telemetry
from lockers.protocol.topics import Channel
from tests.cloud.coldchain_support import CHILLED_SENSOR, alerts, running_cloud
from tests.cloud.conftest import ADMIN, DEMO_LAYOUT, EdgeProbe, cloud_settings, forget_session
from tests.support import wait_until


def test_only_telemetry_is_shared_and_extra_nodes_take_nothing_else(tmp_path, broker):
    alone = cloud_settings("sqlite://", broker, tmp_path)
    assert ("dk/v1/+/telemetry", 1) in subscriptions(alone) and ("dk/v1/+/events", 1) in subscriptions(alone)
    main = cloud_settings("sqlite://", broker, tmp_path, mqtt_share_group="ingest")
    assert ("$share/ingest/dk/v1/+/telemetry", 1) in subscriptions(main)
    assert ("dk/v1/+/events", 1) in subscriptions(main)  # events stay in order on one consumer
    extra = cloud_settings("sqlite://", broker, tmp_path, mqtt_share_group="ingest", ingest_telemetry_only=True)
    assert subscriptions(extra) == [("$share/ingest/dk/v1/+/telemetry", 1)]


def test_two_nodes_share_telemetry_store_every_reading_once_and_raise_one_alarm(database_url, broker, tmp_path, smtp):
    inbox, smtp_port = smtp
    group = f"g{uuid.uuid4().hex[:8]}"
    mail = {"smtp_host": "127.0.0.1", "smtp_port": smtp_port, "smtp_from": "alarm@dorpskluis.example"}
    main = cloud_settings(database_url, broker, tmp_path / "main", mqtt_share_group=group, **mail)
    extra = cloud_settings(
        database_url, broker, tmp_path / "extra", mqtt_share_group=group, ingest_telemetry_only=True, **mail
    )
    locker = f"sh-{uuid.uuid4().hex[:8]}"
    start = datetime(2026, 6, 1, 12, tzinfo=UTC)
    try:
        with running_cloud(main) as client, running_cloud(extra) as other:
            body = {"id": locker, "name": "Dorpshuis", "layout": DEMO_LAYOUT}
            assert client.post("/api/v1/lockers", headers=ADMIN, json=body).status_code == 201
            contact = {"level": 0, "name": "Wachtdienst", "email": f"wacht-{locker}@dorpskluis.example"}
            assert client.post("/api/v1/contacts", headers=ADMIN, json=contact).status_code == 201
            with EdgeProbe(broker, locker) as edge:
                # Long before the readings: the event may be applied before or after them (another consumer).
                edge.event(EventKind.DOOR_CLOSED, compartment="B1", ts=start - timedelta(hours=1))
                # 20 minutes of a warm fridge, one reading per 30 s: one alarm after the 15-minute delay.
                for step in range(41):
                    ts = start + timedelta(seconds=30 * step)
                    reading = Reading(sensor=CHILLED_SENSOR, zone="chilled", ts=ts, celsius=9.0)
                    edge.send(Channel.TELEMETRY, Telemetry(readings=[reading]))
                bridges = [c.app.state.runtime.bridge for c in (client, other)]
                wait_until(lambda: sum(b.stats.received for b in bridges) >= 42, 15, "all messages received")
                assert all(b.wait_idle(15) for b in bridges)
            # Only the main node sends notifications and watches the clock: nothing goes out twice.
            assert [c.get("/api/v1/health").json()["role"] for c in (client, other)] == ["main", "ingest"]
            runtimes = [c.app.state.runtime for c in (client, other)]
            assert [r.notifier._thread is not None for r in runtimes] == [True, False]
            assert [r.watchdog._thread is not None for r in runtimes] == [True, False]
            main_stats, extra_stats = (b.stats.snapshot() for b in bridges)
            assert extra_stats["received"] > 0 and main_stats["received"] > 1  # both took a share
            assert main_stats["processed"] + extra_stats["processed"] == 42
            events = client.get(f"/api/v1/lockers/{locker}/events", headers=ADMIN).json()
            assert len(events["events"]) == 1  # stored by the main node, the only one subscribed to events
            (alert,) = alerts(client, locker, kind="temperature")
            assert alert["state"] == "raised"
            # Whichever node raised it, the main node's outbox sends it, once.
            wait_until(lambda: inbox.to(contact["email"]), 10, "the alert's mail")
            time.sleep(2 * IDLE_POLL_S)
            assert len(inbox.to(contact["email"])) == 1
            with client.app.state.runtime.db.read() as session:
                stored = session.scalar(
                    select(func.count()).select_from(ReadingRow).where(ReadingRow.locker_id == locker)
                )
            assert stored == 41
    finally:
        forget_session(broker, main.mqtt_client_id)
        forget_session(broker, extra.mqtt_client_id)
