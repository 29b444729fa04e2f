"""Online means: the retained state message says online AND the locker was heard within the heartbeat timeout.
The locker view and the offline alert follow the same rule; retained copies replayed on subscribing are no
heartbeat."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from lockers.protocol.messages import Reported, StateMessage
from lockers.protocol.topics import Channel
from tests.cloud.coldchain_support import alerts, running_cloud
from tests.cloud.conftest import ADMIN, DEMO_LAYOUT, EdgeProbe, cloud_settings, forget_session
from tests.support import wait_until

TIMEOUT_S = 1.0


@pytest.fixture
def settings(database_url, broker, tmp_path):
    return cloud_settings(database_url, broker, tmp_path / "data", offline_after_s=TIMEOUT_S, watchdog_interval_s=0.05)


def view(client, locker: str) -> dict:
    return client.get(f"/api/v1/lockers/{locker}", headers=ADMIN).json()


def heartbeat(edge: EdgeProbe, version: int = 1) -> None:
    edge.send(Channel.REPORTED, Reported(desired_version=version, agent="edge 0.4", ts=datetime.now(UTC)), retain=True)


def test_a_silent_locker_goes_offline_and_a_heartbeat_brings_it_back(client, locker, edge):
    edge.send(Channel.STATE, StateMessage(state="online", agent="edge 0.4"), retain=True)
    seen = wait_until(lambda: (v := view(client, locker))["online"] and v, 10, "online")
    assert seen["last_seen"] is not None and 0 <= seen["heartbeat_age_s"] < TIMEOUT_S
    # nothing more from the locker: its state message still says online, but it is silent
    wait_until(lambda: not view(client, locker)["online"], 10, "offline by silence")
    assert view(client, locker)["heartbeat_age_s"] > TIMEOUT_S
    (alert,) = wait_until(lambda: alerts(client, locker, kind="offline"), 10, "offline alert")
    assert alert["detail"].startswith(f"locker {locker} sent nothing since ")
    heartbeat(edge)
    wait_until(lambda: view(client, locker)["online"], 10, "online after a heartbeat")
    wait_until(lambda: alerts(client, locker, kind="offline", state="cleared"), 10, "offline alert cleared")
    # the Last Will: offline at once, heartbeat or not
    heartbeat(edge)
    edge.send(Channel.STATE, StateMessage(state="offline"), retain=True)
    wait_until(lambda: not view(client, locker)["online"], 10, "offline by the Last Will")
    assert view(client, locker)["heartbeat_age_s"] < 5


def test_retained_copies_are_no_sign_of_life(database_url, broker, tmp_path):
    """A cloud that subscribes afresh gets the retained state and report of every locker; they tell it the last
    known state (reported version, `online`) but not that the locker is alive right now."""
    locker = f"t-{uuid.uuid4().hex[:8]}"
    first = cloud_settings(database_url, broker, tmp_path / "data", offline_after_s=TIMEOUT_S)
    with running_cloud(first) as client:
        body = {"id": locker, "name": "Dorpshuis", "layout": DEMO_LAYOUT}
        assert client.post("/api/v1/lockers", headers=ADMIN, json=body).status_code == 201
    forget_session(broker, first.mqtt_client_id)
    with EdgeProbe(broker, locker) as edge:  # publishes while no cloud listens: only the retained copies stay
        edge.send(Channel.STATE, StateMessage(state="online", agent="edge 0.4"), retain=True)
        heartbeat(edge, version=7)
        fresh = first.model_copy(update={"mqtt_client_id": f"dk-cloud-test-{uuid.uuid4().hex[:10]}"})
        try:
            with running_cloud(fresh) as client:
                seen = wait_until(lambda: (v := view(client, locker))["reported_version"] == 7 and v, 10, "report")
                assert seen["last_seen"] is None and seen["heartbeat_age_s"] is None
                # the retained `online` is believed for one heartbeat timeout after the cloud started, no longer
                wait_until(lambda: not view(client, locker)["online"], 10, "offline: nothing live arrived")
                heartbeat(edge, version=7)
                wait_until(lambda: view(client, locker)["online"], 10, "online after a live heartbeat")
                assert view(client, locker)["last_seen"] is not None
        finally:
            forget_session(broker, fresh.mqtt_client_id)
