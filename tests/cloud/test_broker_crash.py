"""A broker killed -9 before it saved its retained messages: once the cloud is connected again it republishes
every locker's desired state, so a locker that comes (back) later still finds its state retained."""

from __future__ import annotations

from fastapi.testclient import TestClient

from cloud.app import create_app
from tests.cloud.conftest import ADMIN, DEMO_LAYOUT, EdgeProbe, cloud_settings
from tests.support import wait_until


def test_desired_states_are_retained_again_after_a_broker_crash(own_broker, database_url, tmp_path):
    settings = cloud_settings(database_url, own_broker, tmp_path / "data", watchdog_interval_s=0.2)
    with TestClient(create_app(settings)) as client:
        bridge = client.app.state.runtime.bridge
        bridge.wait_connected(10)
        body = {"id": "t-crash-1", "name": "Dorpshuis", "village": "Zwartsluis", "layout": DEMO_LAYOUT}
        assert client.post("/api/v1/lockers", headers=ADMIN, json=body).status_code == 201
        with EdgeProbe(own_broker, "t-crash-1") as before:
            version = before.latest_desired().version

        own_broker.kill()  # its retained copy was never saved (autosave every 30 s)
        own_broker.start()
        wait_until(lambda: bridge.connections >= 2 and bridge.connected, 30, "the cloud connected again")

        with EdgeProbe(own_broker, "t-crash-1") as after:  # a locker subscribing now gets the retained copy
            again = after.latest_desired(min_version=version, timeout=15)
        assert again.version >= version  # republishing may number it anew: a locker applies only newer versions
