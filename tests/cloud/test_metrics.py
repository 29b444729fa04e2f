"""GET /metrics over HTTP, parsed with Prometheus' own text parser: off without DK_METRICS_TOKEN, refused without
the token, and with it the lockers, orders, alerts, outbox and ingest as they are."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cloud.settings import Settings
from lockers.protocol.messages import EventKind
from tests.cloud.conftest import cloud_settings, create_order, key, wait_count
from tests.cloud.test_edge_flow import wait_status

TOKEN = "k3pX9v-metrics-7QwZr2LmT8"


@pytest.fixture
def settings(database_url, broker, tmp_path) -> Settings:
    return cloud_settings(database_url, broker, tmp_path / "data", metrics_token=TOKEN)


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_the_metrics_show_the_fleet_as_it_is(client, locker, farmer, edge):
    before = scrape(client)
    assert before[("dorpskluis_lockers", (("state", "never_seen"),))] >= 1  # registered, never heard of
    assert before[("dorpskluis_mqtt_connected", ())] == 1
    order = create_order(client, key(farmer), locker, ("chilled", "S"))
    edge.event(EventKind.LOADED, compartment=order["compartments"][0], order=order["id"], vendor=farmer["id"])
    wait_status(client, order["id"], key(farmer), "ready")
    wait_count(client, "processed", 1)
    after = scrape(client)
    ready = ("dorpskluis_orders", (("kind", "delivery"), ("status", "ready")))
    assert after[ready] == before.get(ready, 0) + 1
    assert after[("dorpskluis_orders", (("kind", "return"), ("status", "ready")))] == 0  # every pair is shown
    received = ("dorpskluis_ingest_messages_total", (("result", "received"),))
    assert after[received] >= before[received] + 1
    assert ("dorpskluis_cloud_info", (("version", "0.1.0"),)) in after
    assert after[("dorpskluis_notifications_pending", ())] >= 0


@pytest.mark.parametrize(
    ("header", "status"),
    [(None, 401), ("Bearer wrong-token", 401), (f"Basic {TOKEN}", 401), (f"Bearer {TOKEN}", 200)],
)
def test_only_the_token_opens_the_metrics(client, header, status):
    response = client.get("/metrics", headers={"Authorization": header} if header else {})
    assert response.status_code == status
    if status == 401:
        assert response.json()["detail"] == "send Authorization: Bearer <DK_METRICS_TOKEN>"


def test_without_a_token_configured_the_metrics_are_off(database_url, broker, tmp_path):
    from fastapi.testclient import TestClient  # noqa: PLC0415

    from cloud.app import create_app  # noqa: PLC0415
    from tests.cloud.conftest import forget_session  # noqa: PLC0415

    plain = cloud_settings(database_url, broker, tmp_path / "plain")
    with TestClient(create_app(plain)) as client:
        response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    forget_session(broker, plain.mqtt_client_id)
    assert response.status_code == 404 and "set DK_METRICS_TOKEN" in response.json()["detail"]
