"""Hostile input never becomes a 500 or a crashed worker, and concurrent orders never share a compartment."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from cloud.assignment import NoFit
from cloud.schemas import OrderCreate
from cloud.services.access import VendorCaller
from lockers.protocol.messages import EventKind, StateMessage
from lockers.protocol.topics import Channel
from tests.cloud.conftest import ADMIN, counter, key, order_body, wait_count
from tests.support import wait_until


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/api/v1/orders/%00%00", 404),
        ("get", "/api/v1/orders/ABC%00DEFG/pickup", 404),
        ("delete", "/api/v1/orders/" + "X" * 500, 404),
        ("get", "/api/v1/lockers/demo%00", 404),
        ("get", "/api/v1/lockers/demo%00/events", 404),
        ("get", "/api/v1/orders?locker=%00", 200),
    ],
)
def test_odd_paths_are_answered_not_crashed(client, method, path, status):
    response = client.request(method, path, headers=ADMIN)
    assert response.status_code == status, response.text


@pytest.mark.parametrize(
    ("mutate", "detail"),
    [
        (lambda b: b["resident"].update(name="Ann\u0000"), "resident.name: Value error, must not contain control"),
        (lambda b: b.update(locker="demo\u0000"), "locker: Value error, must not contain control characters"),
        (lambda b: b["parts"][0].update(vendor="x\u0000"), "parts.0.vendor: Value error, must not contain control"),
    ],
)
def test_control_characters_in_bodies_are_refused(client, locker, mutate, detail):
    body = order_body(locker, ("chilled", "S"), vendor="boer-jansen")
    mutate(body)
    response = client.post("/api/v1/orders", headers=ADMIN, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith(detail)


def test_unknown_but_well_formed_locker_in_a_body_is_404(client, farmer):
    response = client.post("/api/v1/orders", headers=key(farmer), json=order_body("Not A Locker", ("chilled", "S")))
    assert response.status_code == 404 and response.json() == {"detail": "no locker 'Not A Locker'"}


def test_nul_characters_over_mqtt_are_dropped(client, locker, farmer, edge):
    oid = client.post("/api/v1/orders", headers=key(farmer), json=order_body(locker, ("chilled", "S"))).json()["id"]
    before = counter(client, "dropped_by_reason.malformed_payload")
    base = f"dk/v1/{locker}"
    edge.send_raw(f"{base}/state", b'{"v":1,"state":"online","agent":"x\\u0000"}')
    edge.send_raw(
        f"{base}/events",
        b'{"v":1,"id":"%s","seq":1,"ts":"2026-01-01T00:00:00Z","kind":"loaded","compartment":"B1","order":"\\u0000"}'
        % ("ab" * 16).encode(),
    )
    wait_count(client, "dropped_by_reason.malformed_payload", before + 2)
    # the bridge carries on with proper messages
    edge.event(EventKind.LOADED, compartment="B1", order=oid, vendor=farmer["id"])
    edge.send(Channel.STATE, StateMessage(state="online", agent="edge 0.1.0"))
    wait_until(lambda: client.get(f"/api/v1/orders/{oid}", headers=ADMIN).json()["status"] == "ready", 10, "ready")

    def agent() -> str | None:
        return client.get(f"/api/v1/lockers/{locker}", headers=ADMIN).json()["agent"]

    wait_until(lambda: agent() == "edge 0.1.0", 10, "the agent version from the state message")


def test_concurrent_orders_never_share_a_compartment(client, locker, farmer):
    """Twelve shops race for five chilled compartments: five win, seven are told why, nothing is double-booked."""
    orders = client.app.state.runtime.orders
    caller = VendorCaller(id=farmer["id"], name="Boer Jansen")
    request = OrderCreate.model_validate(order_body(locker, ("chilled", "S")))

    def attempt(_: int) -> str:
        try:
            return orders.create(caller, request).compartments[0]
        except NoFit as refused:
            return refused.detail

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(attempt, range(12)))
    won = sorted(r for r in results if not r.startswith("no free"))
    assert won == ["B1", "B2", "B3", "B4", "B5"]
    full = f"no free chilled compartment of size S or larger at {locker} (5 chilled compartments, 5 booked between "
    assert sum(r.startswith(full) for r in results) == 7
    assert len(client.get("/api/v1/orders", headers=ADMIN, params={"locker": locker}).json()) == 5
