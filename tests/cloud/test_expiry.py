"""Expiry over the real broker, database and SMTP server: an order nobody collected by its deadline expires,
each vendor is emailed and its vendor code opens its goods to take back; the compartments are freed after."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from lockers.protocol.messages import EventKind, Method
from tests.cloud.conftest import ADMIN, cloud_settings, compartment, counter, key, wait_count
from tests.cloud.test_edge_flow import wait_status
from tests.support import wait_until

FARMER_MAIL, BAKER_MAIL = "boer@jansen.example", "bakker@devries.example"


@pytest.fixture
def settings(database_url, broker, tmp_path, smtp):
    _inbox, port = smtp
    return cloud_settings(database_url, broker, tmp_path / "data", smtp_host="127.0.0.1", smtp_port=port)


def vendor_with_mail(client, vendor_id: str, email: str) -> dict:
    body = {"id": vendor_id, "name": vendor_id.replace("-", " ").title(), "kind": "farmer", "email": email}
    response = client.post("/api/v1/vendors", headers=ADMIN, json=body)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def farmer(client) -> dict:
    return vendor_with_mail(client, "boer-jansen", FARMER_MAIL)


@pytest.fixture
def baker(client) -> dict:
    return vendor_with_mail(client, "bakker-de-vries", BAKER_MAIL)


def ready_order(client, locker: str, edge, *parts: tuple[str, dict]) -> dict:
    """An order with one ambient part per vendor, loaded and ready; returns its body."""
    body = {
        "locker": locker,
        "resident": {"name": "Mevrouw Bakker", "phone": "+31 6 12345678"},
        "parts": [{"zone": zone, "size": "S", "vendor": vendor["id"]} for zone, vendor in parts],
    }
    response = client.post("/api/v1/orders", headers=ADMIN, json=body)
    assert response.status_code == 201, response.text
    order = response.json()
    for part in order["parts"]:
        edge.event(EventKind.LOADED, compartment=part["compartment"], order=order["id"], vendor=part["vendor"])
    return wait_status(client, order["id"], ADMIN, "ready")


def expire(client, at: datetime) -> int:
    return client.app.state.runtime.watchdog.expire(at)


def test_an_order_nobody_collected_expires_and_each_vendor_takes_its_goods_back(
    client, locker, farmer, baker, edge, smtp
):
    inbox, _ = smtp
    order = ready_order(client, locker, edge, ("chilled", farmer), ("ambient", baker))
    oid, deadline = order["id"], datetime.fromisoformat(order["pickup_deadline"])
    (b_compartment, a_compartment) = (p["compartment"] for p in order["parts"])
    version = edge.latest_desired().version
    assert expire(client, deadline - timedelta(seconds=1)) == 0  # not yet

    assert expire(client, deadline) == 1
    expired = client.get(f"/api/v1/orders/{oid}", headers=ADMIN).json()
    assert expired["status"] == "expired"
    last = expired["history"][-1]
    assert (last["from"], last["to"], datetime.fromisoformat(last["at"])) == ("ready", "expired", deadline)
    assert last["cause"] == (
        f"not collected by the pickup deadline {deadline:%Y-%m-%d %H:%M} UTC; vendors to take back "
        f"bakker-de-vries: {a_compartment}; boer-jansen: {b_compartment}"
    )
    # the cold-chain record ends at the deadline; the goods still hold their compartments
    assert expired["coldchain"] is not None
    assert datetime.fromisoformat(expired["coldchain"]["parts"][0]["end"]) == deadline
    assert compartment(client, locker, b_compartment)["occupied"] is True
    assert expire(client, deadline + timedelta(hours=1)) == 0  # once

    # the locker: the code no longer opens, each vendor's code opens its own goods
    desired = edge.latest_desired(version + 1)
    assert desired.pickups == []
    assert [(g.order, g.vendor, g.compartments, g.reason) for g in desired.retrievals] == [
        (oid, "bakker-de-vries", [a_compartment], "expired"),
        (oid, "boer-jansen", [b_compartment], "expired"),
    ]
    # each vendor is told where and what (a real SMTP server)
    for address, compartment_id in ((FARMER_MAIL, b_compartment), (BAKER_MAIL, a_compartment)):
        (mail,) = wait_until(lambda a=address: inbox.to(a), 10, f"{address} told")
        assert mail["Subject"] == f"[Dorpskluis] order {oid} expired: please take it back"
        text = mail.get_content()
        assert f"compartment {compartment_id} of locker {locker}" in text and "Your vendor code opens it" in text

    (back,) = client.get("/api/v1/vendors/me", headers=key(farmer)).json()["take_back"]
    assert (back["order"], back["compartments"], back["reason"]) == (oid, [b_compartment], "expired")
    assert datetime.fromisoformat(back["since"]) == deadline

    edge.event(EventKind.RETRIEVED, compartment=b_compartment, order=oid, vendor="boer-jansen", method=Method.VENDOR)
    shrunk = edge.latest_desired(desired.version + 1)
    assert [(g.vendor, g.compartments) for g in shrunk.retrievals] == [("bakker-de-vries", [a_compartment])]
    assert client.get(f"/api/v1/orders/{oid}", headers=ADMIN).json()["status"] == "expired"
    assert client.get("/api/v1/vendors/me", headers=key(farmer)).json()["take_back"] == []

    taken = edge.event(
        EventKind.RETRIEVED, compartment=a_compartment, order=oid, vendor="bakker-de-vries", method=Method.VENDOR
    )
    returned = wait_status(client, oid, ADMIN, "returned")
    assert returned["history"][-1]["cause"] == (
        f"locker {locker} event {taken.id}: vendor bakker-de-vries took back {a_compartment}"
    )
    assert all(p["retrieved_at"] and p["collected_at"] is None for p in returned["parts"])
    assert edge.latest_desired(shrunk.version + 1).retrievals == []
    assert not compartment(client, locker, a_compartment)["occupied"]
    assert not compartment(client, locker, b_compartment)["occupied"]


def test_a_pickup_the_locker_reports_after_the_expiry_still_counts(client, locker, farmer, edge):
    order = ready_order(client, locker, edge, ("ambient", farmer))
    oid, deadline = order["id"], datetime.fromisoformat(order["pickup_deadline"])
    assert expire(client, deadline) == 1
    version = edge.latest_desired().version
    # the resident took it a minute before the deadline; the locker was offline and reports it now
    (part,) = order["parts"]
    edge.event(EventKind.COLLECTED, ts=deadline - timedelta(minutes=1), compartment=part["compartment"], order=oid)
    collected = wait_status(client, oid, ADMIN, "collected")
    assert collected["history"][-1]["cause"].endswith(
        f"resident took {part['compartment']} before the deadline (reported late)"
    )
    assert edge.latest_desired(version + 1).retrievals == []  # the vendor has nothing to take back


def test_taking_back_goods_of_an_order_still_ready_is_not_applied(client, locker, farmer, edge):
    order = ready_order(client, locker, edge, ("ambient", farmer))
    (part,) = order["parts"]
    before = counter(client, "inconsistent")
    edge.event(EventKind.RETRIEVED, compartment=part["compartment"], order=order["id"], vendor="boer-jansen")
    wait_count(client, "inconsistent", before + 1)
    still = client.get(f"/api/v1/orders/{order['id']}", headers=key(farmer)).json()
    assert still["status"] == "ready" and still["parts"][0]["retrieved_at"] is None
