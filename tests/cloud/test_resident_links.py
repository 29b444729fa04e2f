"""Resident links: capability tokens that expire some time after the pickup deadline, and whose guessing is
cut off like any failed authentication."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from cloud.db import utcnow
from cloud.models import Order
from tests.cloud.conftest import cloud_settings, create_order, key


@pytest.fixture
def settings(database_url, broker, tmp_path):
    return cloud_settings(database_url, broker, tmp_path / "data", auth_failures_allowed=3, resident_link_days=30)


def link_of(client, order_id: str) -> str:
    return client.app.state.runtime.pickups.resident_url(order_id).split("?token=")[1]


def test_a_link_works_until_thirty_days_after_the_deadline_then_says_it_expired(client, locker, farmer):
    order = create_order(client, key(farmer), locker, ("chilled", "S"))
    token = link_of(client, order["id"])
    assert client.get(f"/api/v1/orders/{order['id']}/coldchain", params={"token": token}).status_code == 200
    db = client.app.state.runtime.db
    longest = timedelta(hours=48)  # ambient: the latest deadline the order could still get
    with db.write() as session:  # the drop-off window ended 30 days and an hour ago, plus the longest pickup time
        session.execute(
            update(Order)
            .where(Order.id == order["id"])
            .values(dropoff_until=utcnow() - timedelta(days=30, hours=1) - longest)
        )
    expired = client.get(f"/api/v1/orders/{order['id']}/coldchain", params={"token": token})
    assert expired.status_code == 410 and "expired" in expired.json()["detail"]
    with db.write() as session:  # a day less old: still inside the 30 days
        session.execute(
            update(Order).where(Order.id == order["id"]).values(dropoff_until=utcnow() - timedelta(days=29) - longest)
        )
    assert client.get(f"/api/v1/orders/{order['id']}/coldchain", params={"token": token}).status_code == 200
    # The vendor is not bound by the link's life.
    assert client.get(f"/api/v1/orders/{order['id']}/coldchain", headers=key(farmer)).status_code == 200


def test_guessing_links_is_cut_off(client, locker, farmer):
    order = create_order(client, key(farmer), locker, ("chilled", "S"))
    guesses = [
        client.get(f"/api/v1/orders/{order['id']}/coldchain", params={"token": "guess" * 6}),
        client.get("/api/v1/orders/ZZZZZZZZ/coldchain", params={"token": "guess" * 6}),
        client.get(f"/api/v1/orders/{order['id']}/pickup", params={"token": "guess" * 6}),
    ]
    assert [g.status_code for g in guesses] == [403, 404, 403]
    right = client.get(f"/api/v1/orders/{order['id']}/coldchain", params={"token": link_of(client, order["id"])})
    assert right.status_code == 429 and "too many failed attempts" in right.json()["detail"]
