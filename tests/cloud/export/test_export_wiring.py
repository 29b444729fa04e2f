"""The running cloud exports what lockers send to InfluxDB (a real VictoriaMetrics speaking its write API)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from cloud.app import create_app
from lockers.layout import Zone
from lockers.protocol.messages import Quality, Reading, Telemetry
from lockers.protocol.topics import Channel
from tests.cloud.conftest import ADMIN, DEMO_LAYOUT, EdgeProbe, cloud_settings, forget_session
from tests.support import wait_until


@pytest.fixture
def exporting_client(victoria, monkeypatch, sqlite_url, broker, tmp_path) -> Iterator[TestClient]:
    """The app with DK_INFLUX_* pointing at the test server (read when the app starts)."""
    monkeypatch.setenv("DK_INFLUX_URL", victoria.url)
    monkeypatch.setenv("DK_INFLUX_TOKEN", "unused-by-victoria-metrics")
    monkeypatch.setenv("DK_INFLUX_ORG", "dorpskluis")
    monkeypatch.setenv("DK_INFLUX_BUCKET", "telemetry")
    settings = cloud_settings(sqlite_url, broker, tmp_path / "data")
    with TestClient(create_app(settings)) as client:
        client.app.state.runtime.bridge.wait_connected(10)
        yield client
    forget_session(broker, settings.mqtt_client_id)


def test_telemetry_over_mqtt_lands_in_influxdb_and_health_counts_it(exporting_client, victoria, broker):
    client = exporting_client
    assert client.get("/api/v1/health").json()["export"]["enabled"] is True
    locker = "t-export-1"
    body = {"id": locker, "name": "Dorpshuis", "village": "Zwartsluis", "layout": DEMO_LAYOUT}
    assert client.post("/api/v1/lockers", headers=ADMIN, json=body).status_code == 201
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)  # queries end at "now"
    chilled = [
        Reading(sensor="28-00000000b001", zone=Zone.CHILLED, ts=start + timedelta(seconds=30 * i), celsius=4.5)
        for i in range(5)
    ]
    faulty = Reading(sensor="28-00000000c001", zone=Zone.FROZEN, ts=start, quality=Quality.CRC_ERROR)
    with EdgeProbe(broker, locker) as edge:
        edge.send(Channel.TELEMETRY, Telemetry(readings=[*chilled, faulty]))
        wait_until(lambda: victoria.count("temperature_celsius") == 5, 20, "five chilled readings in InfluxDB")
    series = victoria.export("temperature_ok")
    assert {s["metric"]["locker"] for s in series} == {locker}
    assert {s["metric"]["quality"] for s in series} == {"ok", "crc_error"}
    export = wait_until(lambda: (e := client.get("/api/v1/health").json()["export"])["written"] == 6 and e)
    assert export["dropped"] == export["failed"] == 0
