"""The cold chain of orders: the record over each part's dwell, breaches flagged while the goods wait, vendors
told by email, and the site policy "block" revoking the pickup code at the locker."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from cloud.models import Order
from cloud.services.aftercommit import AfterCommit
from lockers.layout import Zone
from lockers.protocol.messages import EventKind, Method
from sensors.simulator import Fault
from tests.cloud.coldchain_support import SimulatedSite, alerts
from tests.cloud.conftest import ADMIN, cloud_settings, create_order, key
from tests.cloud.test_edge_flow import wait_status
from tests.support import wait_until

MINUTE = 60.0
VENDOR_MAIL = "boer@jansen.example"


@pytest.fixture
def policy() -> str:
    return "warn"


@pytest.fixture
def settings(database_url, broker, tmp_path, smtp, policy):
    _inbox, port = smtp
    return cloud_settings(
        database_url, broker, tmp_path / "data", smtp_host="127.0.0.1", smtp_port=port, coldchain_policy=policy
    )


@pytest.fixture
def vendor(client) -> dict:
    body = {"id": "boer-jansen", "name": "Boer Jansen", "kind": "farmer", "email": VENDOR_MAIL}
    response = client.post("/api/v1/vendors", headers=ADMIN, json=body)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def site(edge, tmp_path) -> SimulatedSite:
    simulated = SimulatedSite(edge, tmp_path / "w1")
    simulated.online()
    simulated.advance(5 * MINUTE)
    return simulated


def load(site: SimulatedSite, order: dict, vendor: dict) -> dict[str, datetime]:
    """The vendor opens, fills and closes each compartment of the order, half a minute each."""
    loaded = {}
    for compartment in order["compartments"]:
        site.door(compartment, True)
        site.advance(30)
        site.door(compartment, False)
        site.edge.event(EventKind.LOADED, ts=site.now, compartment=compartment, order=order["id"], vendor=vendor["id"])
        loaded[compartment] = site.now
    return loaded


def collect(site: SimulatedSite, order: dict) -> dict[str, datetime]:
    collected = {}
    for compartment in order["compartments"]:
        site.door(compartment, True)
        site.advance(30)
        site.door(compartment, False)
        site.edge.event(EventKind.COLLECTED, ts=site.now, compartment=compartment, order=order["id"], method=Method.PIN)
        collected[compartment] = site.now
    return collected


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_a_clean_dwell_gets_a_plausible_record(client, locker, vendor, site, smtp):
    inbox, _ = smtp
    order = create_order(client, key(vendor), locker, ("chilled", "S"), ("ambient", "S"))
    loaded = load(site, order, vendor)
    ready = wait_status(client, order["id"], key(vendor), "ready")
    assert (ready["coldchain_breached"], ready["pickup_blocked"], ready["coldchain"]) == (False, False, None)
    site.advance(60 * MINUTE)
    collected = collect(site, order)
    done = wait_status(client, order["id"], key(vendor), "collected")

    record = done["coldchain"]
    assert (record["breached"], record["policy"], done["coldchain_breached"]) == (False, "warn", False)
    chilled, ambient = record["parts"]
    assert (chilled["zone"], chilled["compartment"], chilled["vendor"]) == ("chilled", "B1", "boer-jansen")
    # the dwell runs on the locker's clock, from its loaded to its collected event
    assert when(chilled["start"]) == loaded["B1"] and when(chilled["end"]) == collected["B1"]
    assert 120 <= chilled["samples"] <= 125 and chilled["faulty_samples"] == 0
    assert 2.5 < chilled["min_c"] < chilled["mean_c"] < chilled["max_c"] < 7.0
    assert 3.0 < chilled["mean_c"] < 5.5
    assert chilled["mean_c"] < chilled["mkt_c"] < chilled["max_c"]  # MKT weighs warm spells more
    assert (chilled["minutes_above_limit"], chilled["limit_c"], chilled["alerts"]) == (0, 7.0, [])
    assert (ambient["limit_c"], ambient["minutes_above_limit"], ambient["breached"]) == (None, 0, False)
    assert 19.0 < ambient["mean_c"] < 21.0
    assert inbox.to(VENDOR_MAIL) == []

    # the resident sees the same record through the link, after collection too
    as_admin = client.get(f"/api/v1/orders/{order['id']}", headers=ADMIN).json()
    link = client.app.state.runtime.pickups.resident_url(order["id"]).split("?token=")[1]
    by_link = client.get(f"/api/v1/orders/{order['id']}/coldchain", params={"token": link})
    assert by_link.status_code == 200, by_link.text
    assert by_link.json() == {
        "order": order["id"],
        "status": "collected",
        "coldchain_breached": False,
        "coldchain": record,
    }
    assert as_admin["coldchain"] == record
    forged = client.get(f"/api/v1/orders/{order['id']}/coldchain", params={"token": "x" * 32})
    assert forged.status_code == 403


def test_an_excursion_flags_the_order_tells_the_vendor_and_lands_in_the_record(client, locker, vendor, site, smtp):
    inbox, _ = smtp
    order = create_order(client, key(vendor), locker, ("chilled", "S"))
    load(site, order, vendor)
    wait_status(client, order["id"], key(vendor), "ready")
    site.door("B4", True)  # someone leaves another fridge door open
    site.advance(20 * MINUTE)
    site.door("B4", False)
    site.advance(10 * MINUTE)
    site.sync(client)

    (alert,) = alerts(client, locker, kind="temperature")
    waiting = client.get(f"/api/v1/orders/{order['id']}", headers=key(vendor)).json()
    assert (waiting["status"], waiting["coldchain_breached"], waiting["pickup_blocked"]) == ("ready", True, False)
    note = waiting["history"][-1]
    assert (note["from"], note["to"]) == ("ready", "ready")
    assert note["cause"].startswith(f"cold chain breached: alert {alert['id']} (chilled zone above 7 °C")
    (mail,) = wait_until(lambda: inbox.to(VENDOR_MAIL), 10, "vendor told of the breach")
    assert mail["Subject"] == f"[Dorpskluis] order {order['id']}: goods too warm at locker {locker}"
    assert "the resident may still collect it" in mail.get_content()
    pickup = client.get(f"/api/v1/orders/{order['id']}/pickup", headers=key(vendor))
    assert pickup.status_code == 200 and pickup.json()["coldchain_breached"] is True  # policy warn

    site.advance(20 * MINUTE)
    collect(site, order)
    done = wait_status(client, order["id"], key(vendor), "collected")
    (part,) = done["coldchain"]["parts"]
    assert done["coldchain"]["breached"] is True and part["breached"] is True
    assert part["alerts"] == [alert["id"]]
    assert part["max_c"] > 9.0 and part["minutes_above_limit"] > 15
    wait_until(lambda: len(inbox.to(VENDOR_MAIL)) == 2, 10, "vendor sent the record")
    record_mail = inbox.to(VENDOR_MAIL)[1]
    assert record_mail["Subject"] == f"[Dorpskluis] order {order['id']}: cold-chain record shows a breach"
    assert f"alerts [{alert['id']}]" in record_mail.get_content()


def test_goods_loaded_into_a_zone_in_alarm_are_breached_at_once(client, locker, vendor, site):
    site.cabinet.inject(Zone.CHILLED, Fault.COMPRESSOR_FAILURE)
    site.advance(40 * MINUTE)
    site.sync(client)
    (alert,) = alerts(client, locker)
    assert alert["state"] == "raised"
    order = create_order(client, key(vendor), locker, ("chilled", "S"))
    load(site, order, vendor)
    ready = wait_status(client, order["id"], key(vendor), "ready")
    assert ready["coldchain_breached"] is True
    assert any(f"alert {alert['id']}" in step["cause"] for step in ready["history"])


@pytest.mark.parametrize("policy", ["block"])
def test_policy_block_revokes_the_pickup_code_at_the_locker(client, locker, vendor, site, edge, policy):
    order = create_order(client, key(vendor), locker, ("chilled", "S"))
    load(site, order, vendor)
    wait_status(client, order["id"], key(vendor), "ready")
    version = client.get(f"/api/v1/lockers/{locker}", headers=ADMIN).json()["desired_version"]
    (grant,) = edge.latest_desired(version).pickups
    assert grant.order == order["id"]

    site.crafted(*[9.0] * 45)  # the vendor just closed the door: 15 min delay + 5 min door grace
    site.sync(client)
    desired = edge.latest_desired(version + 1)
    assert desired.pickups == [] and desired.revoked == [grant.code_id]
    blocked = client.get(f"/api/v1/orders/{order['id']}", headers=key(vendor)).json()
    assert (blocked["pickup_blocked"], blocked["coldchain_breached"]) == (True, True)
    assert "pickup blocked by site policy" in blocked["history"][-1]["cause"]
    refused = client.get(f"/api/v1/orders/{order['id']}/pickup", headers=key(vendor))
    assert refused.status_code == 409
    assert "can no longer be collected" in refused.json()["detail"]


def test_the_record_of_an_order_that_expired_runs_to_the_given_end(client, locker, vendor, site):
    order = create_order(client, key(vendor), locker, ("frozen", "S"))
    loaded = load(site, order, vendor)
    wait_status(client, order["id"], key(vendor), "ready")
    site.advance(30 * MINUTE)
    site.sync(client)
    runtime = client.app.state.runtime
    end = site.now - timedelta(minutes=5)
    with runtime.db.write() as session:
        stored = session.get(Order, order["id"])
        (record,) = runtime.coldchain.close(session, AfterCommit(), stored, end=end)
        again = runtime.coldchain.close(session, AfterCommit(), stored, end=site.now)
    assert again == [record]  # written once, never recomputed
    assert (record.start, record.end, record.limit_c) == (loaded["C1"], end, -18.0)
    assert -22.0 < record.min_c < -18.0 < record.max_c < -15.0  # the freezer door was open while loading
    # a few minutes above -18 °C while loading: recorded, but no alarm, so not a breach
    assert 0 < record.minutes_above_limit < 5 and record.breached is False and record.alert_ids == []
    assert 45 <= record.samples <= 52
