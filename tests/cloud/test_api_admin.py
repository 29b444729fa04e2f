"""Onboarding over HTTP: vendors with API keys and vendor codes, lockers with layouts, public keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloud.keys import decode_public
from lockers.codes import CodeKind, verify_token
from lockers.layout import demo_layout
from tests.cloud.conftest import ADMIN, ADMIN_KEY, compartment, key, make_vendor, order_body


def test_vendor_gets_a_working_api_key_and_vendor_code(client):
    created = client.post("/api/v1/vendors", headers=ADMIN, json={"name": "Bakkerij De Molen", "kind": "baker"})
    assert created.status_code == 201, created.text
    vendor = created.json()
    assert vendor["id"] == "bakkerij-de-molen"  # derived from the name
    assert vendor["api_key"].startswith("dkv_")
    me = client.get("/api/v1/vendors/me", headers=key(vendor)).json()
    assert {k: me[k] for k in ("id", "name", "kind", "email", "dropoffs")} == {
        "id": "bakkerij-de-molen",
        "name": "Bakkerij De Molen",
        "kind": "baker",
        "email": None,
        "dropoffs": [],
    }
    assert "api_key" not in me
    keys = {k["kid"]: decode_public(k["public_key"]) for k in client.get("/api/v1/keys").json()["keys"]}
    claims = verify_token(me["code"]["token"], keys, "any-locker", datetime.now(UTC))
    assert claims.kind is CodeKind.VENDOR and claims.subject == "bakkerij-de-molen"
    assert claims.code_id == me["code"]["code_id"]
    assert claims.expires_at - datetime.now(UTC) > timedelta(days=360)
    assert me["code"]["qr_png"].startswith("data:image/png;base64,")
    # the same name again gets its own id
    twin = client.post("/api/v1/vendors", headers=ADMIN, json={"name": "Bakkerij De Molen"}).json()
    assert twin["id"] == "bakkerij-de-molen-2" and twin["kind"] == "producer"


def test_vendor_with_a_chosen_api_key(client):
    vendor = make_vendor(client, "kaasboerderij", api_key="kaas-kaas-kaas")
    assert vendor["api_key"] == "kaas-kaas-kaas"
    assert client.get("/api/v1/vendors/me", headers={"X-API-Key": "kaas-kaas-kaas"}).json()["id"] == "kaasboerderij"
    listed = client.get("/api/v1/vendors", headers=ADMIN).json()
    assert [v["id"] for v in listed] == ["kaasboerderij"] and "api_key" not in listed[0]


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"name": "X", "api_key": "short"}, 422, "api_key: String should have at least 8 characters"),
        ({"name": ""}, 422, "name: String should have at least 1 character"),
        ({"id": "Has Spaces", "name": "X"}, 422, "id: String should match pattern"),
        ({"id": "boer-jansen", "name": "Again"}, 409, "vendor 'boer-jansen' already exists"),
        ({"name": "Copycat", "api_key": "boer-key-123"}, 409, "api_key: another vendor already uses this API key"),
        ({"name": "Sneaky", "api_key": ADMIN_KEY}, 422, "api_key: a vendor cannot use the admin key"),
    ],
)
def test_vendor_refusals(client, body, status, detail):
    make_vendor(client, "boer-jansen", api_key="boer-key-123")
    response = client.post("/api/v1/vendors", headers=ADMIN, json=body)
    assert response.status_code == status, response.text
    assert response.json()["detail"].startswith(detail)


def test_only_admins_onboard(client, farmer, locker_id):
    layout = demo_layout().model_dump(mode="json")
    for path, body in [
        ("/api/v1/vendors", {"name": "Other"}),
        ("/api/v1/lockers", {"id": locker_id, "name": "X", "layout": layout}),
    ]:
        response = client.post(path, headers=key(farmer), json=body)
        assert response.status_code == 403
        assert response.json() == {"detail": "only the foundation's admin key may do this"}
    me = client.get("/api/v1/vendors/me", headers=ADMIN)
    assert me.status_code == 403 and me.json()["detail"].startswith("this is for vendors")


def test_locker_registration_and_status(client, locker_id, farmer):
    layout = demo_layout().model_dump(mode="json")
    body = {"id": locker_id, "name": "Dorpshuis", "layout": layout}
    created = client.post("/api/v1/lockers", headers=ADMIN, json=body)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["id"], body["name"], body["village"], body["online"]) == (locker_id, "Dorpshuis", None, False)
    assert body["desired_version"] == 1 and body["reported_version"] is None
    assert [z["zone"] for z in body["zones"]] == ["ambient", "chilled", "frozen"]
    assert [c["id"] for c in body["compartments"]] == [c.id for c in demo_layout().compartments]
    b3 = next(c for c in body["compartments"] if c["id"] == "B3")
    assert b3 == {
        "id": "B3",
        "zone": "chilled",
        "size": "M",
        "accessible": True,
        "occupied": False,
        "order": None,
        "status": "free",
        "booked_from": None,
        "door": "unknown",
        "celsius": None,
    }
    again = client.post("/api/v1/lockers", headers=ADMIN, json={"id": locker_id, "name": "Twice", "layout": layout})
    assert again.status_code == 409 and again.json() == {"detail": f"locker '{locker_id}' already exists"}
    # vendors see occupancy, but only their own order ids
    order = client.post("/api/v1/orders", headers=key(farmer), json=order_body(locker_id, ("chilled", "M"))).json()
    other = make_vendor(client, "someone-else")
    mine = compartment(client, locker_id, "B3", key(farmer))
    theirs = compartment(client, locker_id, "B3", key(other))
    assert (mine["occupied"], mine["order"], mine["status"]) == (True, order["id"], "reserved")
    assert (theirs["occupied"], theirs["order"], theirs["status"]) == (True, None, "reserved")
    assert [lk["id"] for lk in client.get("/api/v1/lockers", headers=key(other)).json()] == [locker_id]
    missing = client.get("/api/v1/lockers/nowhere", headers=ADMIN)
    assert missing.status_code == 404 and missing.json() == {"detail": "no locker 'nowhere'"}


@pytest.mark.parametrize(
    ("mutate", "detail"),
    [
        (lambda b: b.update(id="Demo 1"), "id: String should match pattern"),
        (lambda b: b["layout"]["compartments"][0].update(zone="cool"), "layout.compartments.0.zone: Input should be"),
        (lambda b: b["layout"]["compartments"][1].update(id="A1"), "layout: Value error, compartment ids must be uniq"),
        (lambda b: b["layout"].update(compartments=[]), "layout.compartments: Tuple should have at least 1 item"),
    ],
)
def test_bad_layouts_are_explained(client, locker_id, mutate, detail):
    body = {"id": locker_id, "name": "X", "layout": demo_layout().model_dump(mode="json")}
    mutate(body)
    response = client.post("/api/v1/lockers", headers=ADMIN, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith(detail)


def test_public_endpoints_and_openapi(client):
    keys = client.get("/api/v1/keys")
    assert keys.status_code == 200
    (first,) = keys.json()["keys"]
    assert first["kid"] == 1 and first["algorithm"] == "Ed25519"
    assert len(decode_public(first["public_key"]).public_bytes_raw()) == 32
    spec = client.get("/openapi.json").json()
    create = spec["paths"]["/api/v1/orders"]["post"]
    assert create["summary"] == "Create an order and reserve its compartments"
    assert {"201", "409", "422"} <= set(create["responses"])
    assert client.get("/docs").status_code == 200
