"""Orders over HTTP against the real app: assignment, refusals a person can read, who may see what."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.cloud.conftest import ADMIN, EdgeProbe, create_order, key, make_vendor, order_body


def test_create_order_reserves_best_fit_compartments(client, locker, farmer):
    body = order_body(locker, ("chilled", "S"), ("frozen", "M"), ("ambient", "S"))
    response = client.post("/api/v1/orders", headers=key(farmer), json=body)
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "assigned"
    assert order["locker"] == locker
    assert order["compartments"] == ["B1", "C2", "A1"]
    assert [p["vendor"] for p in order["parts"]] == ["boer-jansen"] * 3
    assert [(p["zone"], p["size"], p["compartment"]) for p in order["parts"]] == [
        ("chilled", "S", "B1"),
        ("frozen", "M", "C2"),
        ("ambient", "S", "A1"),
    ]
    assert order["resident"] == {"name": "Mevrouw Bakker", "email": None, "phone": "+31 6 12345678"}
    assert [(h["from"], h["to"]) for h in order["history"]] == [(None, "created"), ("created", "assigned")]
    assert "vendor boer-jansen" in order["history"][0]["cause"]
    assert order["pickup_deadline"] is None  # the food clock starts when it is loaded
    assert len(order["id"]) == 8

    again = client.get(f"/api/v1/orders/{order['id']}", headers=key(farmer))
    assert again.status_code == 200 and again.json() == order
    # people type ids in lower case and confuse O with 0
    assert client.get(f"/api/v1/orders/{order['id'].lower()}", headers=key(farmer)).json()["id"] == order["id"]


def test_accessible_residents_get_low_compartments(client, locker, farmer):
    body = order_body(locker, ("chilled", "S"), accessible=True)
    order = client.post("/api/v1/orders", headers=key(farmer), json=body).json()
    assert order["compartments"] == ["B3"]  # B1/B2 are high up; B3 is the smallest low one


def test_a_full_locker_refuses_with_a_reason_and_keeps_nothing(client, locker, farmer):
    for _ in range(5):
        ok = client.post("/api/v1/orders", headers=key(farmer), json=order_body(locker, ("chilled", "S")))
        assert ok.status_code == 201
    before = client.get("/api/v1/orders", headers=ADMIN).json()
    refused = client.post(
        "/api/v1/orders", headers=key(farmer), json=order_body(locker, ("ambient", "S"), ("chilled", "M"))
    )
    assert refused.status_code == 409
    body = refused.json()
    assert body["detail"].startswith(
        f"no free chilled compartment of size M or larger at {locker} (5 chilled compartments, 5 booked between "
    )
    # The earliest window that fits: when the first of the five bookings ends (no other locker in the village).
    (later,) = body["alternatives"]
    first_ends = min(datetime.fromisoformat(o["pickup_by"]) for o in before)
    assert later["locker"] == locker and datetime.fromisoformat(later["pickup_by"]) > first_ends
    after = client.get("/api/v1/orders", headers=ADMIN).json()
    assert after == before  # the ambient part did not keep A1 for itself
    status = client.get(f"/api/v1/lockers/{locker}", headers=ADMIN).json()
    assert not next(c for c in status["compartments"] if c["id"] == "A1")["occupied"]


def test_cancelling_frees_the_compartment(client, locker, farmer):
    first = client.post("/api/v1/orders", headers=key(farmer), json=order_body(locker, ("frozen", "L"))).json()
    assert first["compartments"] == ["C3"]
    full = client.post("/api/v1/orders", headers=key(farmer), json=order_body(locker, ("frozen", "L")))
    assert full.status_code == 409
    cancelled = client.post(f"/api/v1/orders/{first['id']}/cancel", headers=key(farmer))
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert "cancelled by vendor boer-jansen" in cancelled.json()["history"][-1]["cause"]
    second = client.post("/api/v1/orders", headers=key(farmer), json=order_body(locker, ("frozen", "L")))
    assert second.status_code == 201 and second.json()["compartments"] == ["C3"]
    # DELETE does the same; cancelling twice is a readable conflict
    assert client.delete(f"/api/v1/orders/{second.json()['id']}", headers=ADMIN).json()["status"] == "cancelled"
    again = client.delete(f"/api/v1/orders/{second.json()['id']}", headers=ADMIN)
    assert again.status_code == 409
    assert again.json()["detail"] == f"order {second.json()['id']} is cancelled and can no longer become cancelled"


def test_admins_name_the_vendor_of_each_part(client, locker, farmer, baker):
    body = order_body(locker, ("chilled", "S"), ("ambient", "M"))
    body["parts"][0]["vendor"] = farmer["id"]
    body["parts"][1]["vendor"] = baker["id"]
    response = client.post("/api/v1/orders", headers=ADMIN, json=body)
    assert response.status_code == 201, response.text
    order = response.json()
    assert [p["vendor"] for p in order["parts"]] == [farmer["id"], baker["id"]]
    # each vendor sees the shared order; a third vendor does not
    assert client.get(f"/api/v1/orders/{order['id']}", headers=key(baker)).status_code == 200
    outsider = make_vendor(client, "slager-smit")
    hidden = client.get(f"/api/v1/orders/{order['id']}", headers=key(outsider))
    assert hidden.status_code == 403
    assert hidden.json() == {"detail": f"order {order['id']} belongs to other vendors"}
    assert client.get("/api/v1/orders", headers=key(outsider)).json() == []
    assert [o["id"] for o in client.get("/api/v1/orders", headers=key(baker)).json()] == [order["id"]]
    assert client.post(f"/api/v1/orders/{order['id']}/cancel", headers=key(outsider)).status_code == 403


def test_listing_filters_by_status_and_locker(client, locker, farmer):
    kept = client.post("/api/v1/orders", headers=key(farmer), json=order_body(locker, ("chilled", "S"))).json()
    gone = client.post("/api/v1/orders", headers=key(farmer), json=order_body(locker, ("chilled", "S"))).json()
    client.post(f"/api/v1/orders/{gone['id']}/cancel", headers=key(farmer))
    assigned = client.get("/api/v1/orders", headers=key(farmer), params={"status": "assigned"}).json()
    assert [o["id"] for o in assigned] == [kept["id"]]
    assert client.get("/api/v1/orders", headers=ADMIN, params={"locker": "elsewhere"}).json() == []
    bad = client.get("/api/v1/orders", headers=ADMIN, params={"status": "lost"})
    assert bad.status_code == 422
    assert bad.json()["detail"].startswith("query parameter status: Input should be 'created', 'assigned'")


@pytest.mark.parametrize(
    ("mutate", "status", "detail"),
    [
        (lambda b: b["parts"][0].update(zone="warm"), 422, "parts.0.zone: Input should be 'ambient', 'chilled' or"),
        (lambda b: b["parts"][0].update(size="XL"), 422, "parts.0.size: Input should be 'S', 'M' or 'L'"),
        (lambda b: b.update(parts=[]), 422, "parts: List should have at least 1 item after validation, not 0"),
        (lambda b: b.pop("resident"), 422, "resident: Field required"),
        (lambda b: b["resident"].update(email="not-an-email"), 422, "resident.email: String should match pattern"),
        (lambda b: b.update(partz=[]), 422, "partz: Extra inputs are not permitted"),
        (lambda b: b.update(locker="nowhere"), 404, "no locker 'nowhere'"),
        (lambda b: b["parts"][0].update(vendor="bakker-de-vries"), 403, "parts.0.vendor: vendor boer-jansen can only"),
    ],
)
def test_bad_bodies_get_a_readable_answer(client, locker, farmer, mutate, status, detail):
    body = order_body(locker, ("chilled", "S"))
    mutate(body)
    response = client.post("/api/v1/orders", headers=key(farmer), json=body)
    assert response.status_code == status, response.text
    assert response.json()["detail"].startswith(detail)
    if status == 422:
        assert isinstance(response.json()["errors"], list) and response.json()["errors"]


def test_admin_orders_need_known_vendors(client, locker, farmer):
    body = order_body(locker, ("chilled", "S"))
    missing = client.post("/api/v1/orders", headers=ADMIN, json=body)
    assert missing.status_code == 422
    assert missing.json()["detail"] == "parts.0.vendor: an admin must name the vendor of every part"
    body["parts"][0]["vendor"] = "nobody"
    unknown = client.post("/api/v1/orders", headers=ADMIN, json=body)
    assert unknown.status_code == 422
    assert unknown.json()["detail"] == "parts.0.vendor: no vendor 'nobody'"


@pytest.mark.parametrize(
    ("content_type", "content", "detail"),
    [
        ("application/json", b"{locker: 1", "the request body is not valid JSON"),
        ("application/json", b"[1, 2]", "the request body must be a JSON object"),
        (None, b'{"locker": "x"}', "the request body must be a JSON object, sent with Content-Type: application/json"),
    ],
)
def test_not_a_json_object(client, locker, farmer, content_type, content, detail):
    headers = key(farmer) | ({"Content-Type": content_type} if content_type else {})
    response = client.post("/api/v1/orders", headers=headers, content=content)
    assert response.status_code == 422
    assert response.json()["detail"].startswith(detail)


@pytest.mark.parametrize(
    ("headers", "status", "detail"),
    [
        ({}, 401, "send your API key in the X-API-Key header"),
        ({"X-API-Key": "guess-guess-guess"}, 401, "this API key is not known here"),
    ],
)
def test_callers_must_identify(client, locker, headers, status, detail):
    for method, path in [("post", "/api/v1/orders"), ("get", "/api/v1/orders"), ("get", f"/api/v1/lockers/{locker}")]:
        response = client.request(method, path, headers=headers, json=order_body(locker, ("chilled", "S")))
        assert response.status_code == status
        assert response.json() == {"detail": detail}


def test_unknown_orders_are_404(client, farmer):
    response = client.get("/api/v1/orders/ZZZZZZZZ", headers=key(farmer))
    assert response.status_code == 404
    assert response.json() == {"detail": "no order 'ZZZZZZZZ'"}


def test_pickup_is_refused_until_the_order_is_loaded(client, locker, farmer):
    order = client.post("/api/v1/orders", headers=key(farmer), json=order_body(locker, ("chilled", "S"))).json()
    response = client.get(f"/api/v1/orders/{order['id']}/pickup", headers=key(farmer))
    assert response.status_code == 409
    assert response.json() == {
        "detail": f"order {order['id']} is assigned: the pickup code is issued once the vendor has loaded it"
    }
    assert client.get(f"/api/v1/orders/{order['id']}/pickup").status_code == 401
    forged = client.get(f"/api/v1/orders/{order['id']}/pickup", params={"token": "not-the-token"})
    assert forged.status_code == 403


def test_new_order_is_published_as_a_dropoff(client, locker, farmer, edge):
    initial = edge.latest_desired(1)  # registering the locker published version 1 with its PIN salt
    assert initial.dropoffs == [] and initial.pickups == []
    order = create_order(client, key(farmer), locker, ("chilled", "S"), ("frozen", "S"))
    desired = edge.latest_desired(initial.version + 1)
    expected = [(order["id"], farmer["id"], ["B1", "C1"])]
    assert [(d.order, d.vendor, d.compartments) for d in desired.dropoffs] == expected
    assert desired.pin_salt == initial.pin_salt
    status = client.get(f"/api/v1/lockers/{locker}", headers=ADMIN).json()
    assert status["desired_version"] == desired.version


def test_desired_state_is_retained_for_a_locker_that_connects_later(client, locker, farmer, broker):
    order = client.post("/api/v1/orders", headers=key(farmer), json=order_body(locker, ("ambient", "L"))).json()
    version = client.get(f"/api/v1/lockers/{locker}", headers=ADMIN).json()["desired_version"]
    with EdgeProbe(broker, locker) as late:
        desired = late.latest_desired(version)
    assert desired.version == version
    assert desired.dropoffs[0].order == order["id"] and desired.dropoffs[0].compartments == ["A4"]
