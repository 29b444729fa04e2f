"""Roles: a shop platform's integration key orders for its own vendors and sees only their orders."""

from __future__ import annotations

import pytest

from tests.cloud.conftest import ADMIN, create_order, key, make_vendor, order_body


@pytest.fixture
def platform(client, farmer, baker) -> dict:
    """The village web shop, acting for the farmer only."""
    response = client.post(
        "/api/v1/integrations",
        json={"id": "dorpswebshop", "name": "Dorpswebshop Zwartsluis", "vendors": [farmer["id"]]},
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text
    return {"X-API-Key": response.json()["api_key"]}


def test_an_integration_orders_for_its_vendors_and_sees_only_their_orders(client, locker, farmer, baker, platform):
    body = order_body(locker, ("chilled", "S"))
    body["parts"][0]["vendor"] = farmer["id"]
    created = client.post("/api/v1/orders", json=body, headers=platform)
    assert created.status_code == 201, created.text
    assert "created by integration dorpswebshop" in created.json()["history"][0]["cause"]
    bakers = create_order(client, key(baker), locker, ("ambient", "S"))
    listed = {o["id"] for o in client.get("/api/v1/orders", headers=platform).json()}
    assert listed == {created.json()["id"]}
    assert client.get(f"/api/v1/orders/{bakers['id']}", headers=platform).status_code == 403
    assert client.post(f"/api/v1/orders/{bakers['id']}/cancel", headers=platform).status_code == 403
    assert client.get(f"/api/v1/orders/{created.json()['id']}", headers=platform).status_code == 200


@pytest.mark.parametrize(
    ("vendor", "status", "words"), [(None, 422, "must name the vendor"), ("other", 403, "does not act for")]
)
def test_an_integration_cannot_order_for_vendors_it_does_not_serve(
    client, locker, baker, platform, vendor, status, words
):
    body = order_body(locker, ("ambient", "S"))
    body["parts"][0]["vendor"] = baker["id"] if vendor == "other" else None
    response = client.post("/api/v1/orders", json=body, headers=platform)
    assert response.status_code == status and words in response.json()["detail"]


def test_an_integration_is_neither_admin_nor_vendor_and_removal_kills_its_key(client, locker, platform):
    assert client.get("/api/v1/alerts", headers=platform).status_code == 403
    assert client.post(f"/api/v1/lockers/{locker}/enrollments", headers=platform).status_code == 403
    assert client.get("/api/v1/vendors/me", headers=platform).status_code == 403
    assert client.get("/api/v1/integrations", headers=platform).status_code == 403
    assert [i["id"] for i in client.get("/api/v1/integrations", headers=ADMIN).json()] == ["dorpswebshop"]
    assert client.delete("/api/v1/integrations/dorpswebshop", headers=ADMIN).status_code == 200
    assert client.get("/api/v1/orders", headers=platform).status_code == 401


def test_integrations_need_known_vendors_and_a_key_of_their_own(client, farmer):
    unknown = client.post(
        "/api/v1/integrations", json={"id": "shop", "name": "Shop", "vendors": ["nobody"]}, headers=ADMIN
    )
    assert unknown.status_code == 422 and "nobody" in unknown.json()["detail"]
    vendor = make_vendor(client, "slager", api_key="a-vendor-key-that-is-long-enough")
    reused = client.post(
        "/api/v1/integrations",
        json={"id": "shop", "name": "Shop", "vendors": [farmer["id"]], "api_key": "a-vendor-key-that-is-long-enough"},
        headers=ADMIN,
    )
    assert reused.status_code == 409 and vendor["id"] == "slager"


def test_creating_and_removing_an_integration_is_audited(client, platform):
    client.delete("/api/v1/integrations/dorpswebshop", headers=ADMIN)
    audit = client.get("/api/v1/audit", params={"subject": "integration:dorpswebshop"}, headers=ADMIN).json()
    assert [(e["actor"], e["action"]) for e in audit] == [
        ("admin", "integration_removed"),
        ("admin", "integration_created"),
    ]
