"""Cold-chain alarms end to end: the thermal simulator in simulated time, the real DS18B20 driver, the real broker
and the real cloud. Rules run on the site's timestamps, so an hour of fridge takes a second or two here."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from lockers.layout import Zone
from sensors.simulator import Fault
from tests.cloud.coldchain_support import CHILLED_SENSOR, SimulatedSite, alerts, running_cloud
from tests.cloud.conftest import ADMIN, DEMO_LAYOUT, EdgeProbe, forget_session

MINUTE = 60.0


@pytest.fixture
def site(edge, tmp_path) -> SimulatedSite:
    simulated = SimulatedSite(edge, tmp_path / "w1")
    simulated.online()
    simulated.advance(5 * MINUTE)  # a settled fridge first
    return simulated


def at(alert: dict, field: str) -> datetime:
    return datetime.fromisoformat(alert[field])


def test_door_left_open_20_minutes_raises_one_alarm_that_clears(client, locker, site):
    opened = site.now
    site.door("B1", True)
    site.advance(20 * MINUTE)
    site.sync(client)
    # Warm air from an open door is expected: the delay is stretched by the door grace period.
    assert alerts(client, locker) == []
    site.door("B1", False)
    site.advance(40 * MINUTE)
    site.sync(client)

    (alert,) = alerts(client, locker)
    assert (alert["kind"], alert["zone"], alert["sensor"]) == ("temperature", "chilled", CHILLED_SENSOR)
    assert alert["state"] == "cleared" and alert["severity"] == "critical"
    raised = at(alert, "raised_at") - opened
    assert timedelta(minutes=20) < raised < timedelta(minutes=27)  # excursion start + 15 min delay + 5 min grace
    assert at(alert, "raised_at") < at(alert, "cleared_at") < site.now
    assert 9.0 < alert["peak_c"] < 15.0
    assert alert["detail"].startswith("chilled zone above 7 °C for ")


def test_a_two_minute_door_opening_raises_nothing(client, locker, site):
    site.door("B2", True)
    site.advance(2 * MINUTE)
    site.door("B2", False)
    site.advance(30 * MINUTE)
    site.sync(client)
    assert alerts(client, locker) == []


def test_compressor_failure_raises_an_alarm(client, locker, site):
    failed = site.now
    site.cabinet.inject(Zone.CHILLED, Fault.COMPRESSOR_FAILURE)
    site.advance(45 * MINUTE)
    site.sync(client)
    (alert,) = alerts(client, locker)
    assert (alert["kind"], alert["zone"], alert["state"]) == ("temperature", "chilled", "raised")
    assert timedelta(minutes=20) < at(alert, "raised_at") - failed < timedelta(minutes=40)
    # repaired: the fridge cools down and the alarm clears by itself
    site.cabinet.inject(Zone.CHILLED, Fault.CLEAR)
    site.advance(30 * MINUTE)
    site.sync(client)
    (alert,) = alerts(client, locker)
    assert alert["state"] == "cleared"


def test_unplugged_sensor_raises_a_sensor_fault_not_a_temperature_alarm(client, locker, site):
    site.cabinet.inject(Zone.CHILLED, Fault.SENSOR_UNPLUGGED)
    site.advance(20 * MINUTE)
    site.sync(client)
    (alert,) = alerts(client, locker)
    assert (alert["kind"], alert["zone"], alert["sensor"], alert["state"]) == (
        "sensor_fault",
        "chilled",
        CHILLED_SENSOR,
        "raised",
    )
    assert alert["peak_c"] is None and "disconnected" in alert["detail"]
    assert alerts(client, locker, kind="temperature") == []
    site.cabinet.inject(Zone.CHILLED, Fault.CLEAR)
    site.advance(15 * MINUTE)
    site.sync(client)
    assert [a["state"] for a in alerts(client, locker)] == ["cleared"]


def test_temperature_hovering_around_the_limit_is_one_alarm(client, locker, site):
    site.crafted(*[6.8, 7.3] * 30)  # 30 minutes see-sawing across 7 °C, never below 7 - 0.5
    site.crafted(6.0, 5.5)
    site.sync(client)
    (alert,) = alerts(client, locker)
    assert alert["state"] == "cleared" and alert["peak_c"] == 7.3
    assert alerts(client, locker, state="raised") == []


def test_alarm_state_survives_cloud_restarts_mid_excursion(settings, broker, tmp_path, locker_id):
    try:
        with running_cloud(settings) as client:
            body = {"id": locker_id, "name": "Dorpshuis", "layout": DEMO_LAYOUT}
            assert client.post("/api/v1/lockers", headers=ADMIN, json=body).status_code == 201
        with EdgeProbe(broker, locker_id) as edge:
            site = SimulatedSite(edge, tmp_path / "w1")
            with running_cloud(settings) as client:
                site.online()
                site.crafted(*[4.0] * 4, *[9.0] * 20)  # 10 minutes above the limit: no alarm yet
                site.sync(client)
                assert alerts(client, locker_id) == []
            site.crafted(*[9.0] * 20)  # published while the cloud is down: the broker keeps them
            with running_cloud(settings) as client:
                site.sync(client)
                (alert,) = alerts(client, locker_id)
                assert alert["state"] == "raised"
                first_above = site.now - timedelta(seconds=39 * 30)
                assert at(alert, "raised_at") - first_above == timedelta(minutes=15)
            site.crafted(*[9.5] * 4, *[5.0] * 2)  # down again while the excursion ends
            with running_cloud(settings) as client:
                site.sync(client)
                (alert,) = alerts(client, locker_id)
                assert alert["state"] == "cleared" and alert["peak_c"] == 9.5
                assert at(alert, "cleared_at") == site.now - timedelta(seconds=30)
    finally:
        forget_session(broker, settings.mqtt_client_id)
