"""The foundation's and the vendors' pages over HTTP: logging in, who sees what, acknowledging an alert."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import update

from cloud.db import utcnow
from cloud.models import Order
from cloud.web.i18n import LOCAL_TIME, TEXTS
from cloud.web.session import WebSessions
from lockers.protocol.messages import EventKind, Method
from tests.cloud.conftest import ADMIN_KEY, cloud_settings, create_order, key
from tests.cloud.test_edge_flow import wait_status


@pytest.fixture
def settings(database_url, broker, tmp_path):
    # Served over plain http here, so the session cookie is not marked Secure (it is when public_url is https).
    return cloud_settings(database_url, broker, tmp_path / "data", public_url="http://testserver")


def login(client, api_key: str, target: str = "/dashboard"):
    return client.post(
        "/login", content=f"key={api_key}&next={target}", headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )  # fmt: skip


def test_pages_send_strangers_to_the_login_and_back(client):
    response = client.get("/dashboard/lockers/x", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=%2Fdashboard%2Flockers%2Fx"
    assert 'type="password"' in client.get(response.headers["location"]).text


def test_a_wrong_key_is_refused_and_counts_as_a_failed_login(client):
    refused = login(client, "not-a-key")
    assert refused.status_code == 401 and "kennen we niet" in refused.text
    assert "dk_session" not in refused.cookies


def test_the_admin_sees_every_locker_with_its_free_compartments(client, locker, farmer):
    create_order(client, key(farmer), locker, ("chilled", "S"))
    entered = login(client, ADMIN_KEY)
    assert entered.status_code == 303 and entered.headers["location"] == "/dashboard"
    cookie = entered.cookies["dk_session"]
    assert ADMIN_KEY not in cookie  # the cookie names who, never the key
    page = client.get("/dashboard")
    assert page.status_code == 200 and locker in page.text
    assert "4 / 5" in page.text  # chilled: one of five compartments reserved
    part = client.get("/dashboard/fleet.part")
    assert part.status_code == 200 and "<table" in part.text and "<html" not in part.text
    detail = client.get(f"/dashboard/lockers/{locker}")
    assert detail.status_code == 200 and "gereserveerd" in detail.text
    part = client.get(f"/dashboard/lockers/{locker}/part")
    assert part.status_code == 200 and "gereserveerd" in part.text and "<html" not in part.text


def test_a_vendor_logs_in_to_its_own_page_not_the_dashboard(client, locker, farmer):
    order = create_order(client, key(farmer), locker, ("chilled", "S"))
    entered = login(client, farmer["api_key"])
    assert entered.headers["location"] == "/vendor"
    page = client.get("/vendor")
    assert page.status_code == 200 and order["id"] in page.text and "<svg" in page.text
    assert client.get("/dashboard", follow_redirects=False).status_code == 303  # not for vendors


def test_an_integration_key_is_not_for_the_pages(client, farmer):
    platform = client.post(
        "/api/v1/integrations", json={"id": "shop", "name": "Shop", "vendors": [farmer["id"]]},
        headers={"X-API-Key": ADMIN_KEY},
    ).json()  # fmt: skip
    assert login(client, platform["api_key"]).status_code == 403


def test_acknowledging_needs_the_sessions_csrf_token(client, locker):
    login(client, ADMIN_KEY)
    forged = client.post(
        "/dashboard/alerts/1/ack", content=f"csrf=forged&locker={locker}",
        headers={"Content-Type": "application/x-www-form-urlencoded"}, follow_redirects=False,
    )  # fmt: skip
    assert forged.status_code == 303 and forged.headers["location"] == "/dashboard"


@pytest.mark.parametrize("tamper", ["payload", "signature", "expired"])
def test_session_cookies_cannot_be_forged_or_outlive_their_day(tamper):
    clock = [1000.0]
    sessions = WebSessions(b"s" * 32, clock=lambda: clock[0])
    cookie = sessions.issue("vendor:boer")
    assert sessions.read(cookie) == "vendor:boer"
    if tamper == "payload":
        forged = (
            WebSessions(b"s" * 32, clock=lambda: clock[0]).issue("admin").split(".")[0] + "." + cookie.split(".")[1]
        )
        assert sessions.read(forged) is None
    elif tamper == "signature":
        assert sessions.read(cookie[:-2] + "xx") is None
    else:
        clock[0] += 9 * 3600
        assert sessions.read(cookie) is None
    assert not sessions.csrf_ok(cookie, "guess") and sessions.csrf_ok(cookie, sessions.csrf(cookie))


def form(client, path: str, body: str):
    return client.post(
        path, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}, follow_redirects=False
    )


def test_remote_unlock_asks_for_confirmation_then_sends_and_audits(client, locker, edge):
    login(client, ADMIN_KEY)
    page = client.get(f"/dashboard/lockers/{locker}")
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    asked = form(
        client, f"/dashboard/lockers/{locker}/unlock", f"csrf={csrf}&compartment=B2&reason=buitengesloten&by=Anna"
    )
    assert asked.status_code == 200 and "Weet u het zeker?" in asked.text and "B2" in asked.text
    sent_so_far = client.get(f"/api/v1/lockers/{locker}/commands", headers={"X-API-Key": ADMIN_KEY}).json()
    assert sent_so_far["commands"] == []  # nothing is sent before the confirmation
    sent = form(
        client,
        f"/dashboard/lockers/{locker}/unlock",
        f"csrf={csrf}&compartment=B2&reason=buitengesloten&by=Anna&confirm=yes",
    )
    assert sent.status_code == 303 and "sent=" in sent.headers["location"]
    command_id = sent.headers["location"].split("sent=")[1]
    command, _retained = edge.command(command_id)
    assert command.compartments == ["B2"]
    trail = client.get("/dashboard/audit")
    assert trail.status_code == 200 and "admin (dashboard, Anna)" in trail.text and "buitengesloten" in trail.text
    missing = form(client, f"/dashboard/lockers/{locker}/unlock", f"csrf={csrf}&reason=&confirm=yes")
    assert "missing=1" in missing.headers["location"]


def test_the_vendor_sees_the_cold_chain_record_of_a_collected_order(client, locker, farmer, edge):
    order = create_order(client, key(farmer), locker, ("frozen", "S"))
    compartment = order["compartments"][0]
    edge.event(EventKind.LOADED, compartment=compartment, order=order["id"], vendor=farmer["id"])
    wait_status(client, order["id"], key(farmer), "ready")
    edge.event(EventKind.COLLECTED, compartment=compartment, order=order["id"], code_id=None, method=Method.PIN)
    wait_status(client, order["id"], key(farmer), "collected")
    login(client, farmer["api_key"])
    page = client.get("/vendor")
    assert 'class="record-details"' in page.text and f"{compartment} (vries)" in page.text


def test_the_vendors_day_lists_what_to_bring_per_locker_and_what_was_brought(client, locker, farmer, edge):
    place = {"address": "Kerkplein 1, naast de kerkdeur", "location": {"lat": 52.6376, "lon": 6.0712}}
    client.patch(f"/api/v1/lockers/{locker}", headers={"X-API-Key": ADMIN_KEY}, json=place)
    brought = create_order(client, key(farmer), locker, ("frozen", "S"))
    pending = create_order(client, key(farmer), locker, ("chilled", "S"))
    late = create_order(client, key(farmer), locker, ("ambient", "S"))
    with client.app.state.runtime.db.write() as session:  # its drop-off window closed an hour ago
        session.execute(update(Order).where(Order.id == late["id"]).values(dropoff_until=utcnow() - timedelta(hours=1)))
    opens = (utcnow() + timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
    window = {"start": opens.isoformat(), "end": (opens + timedelta(hours=2)).isoformat()}
    ahead = client.post(
        "/api/v1/orders",
        headers=key(farmer),
        json={"locker": locker, "resident": {"name": "Anna"}, "parts": [{"zone": "chilled", "size": "S"}]}
        | {"dropoff": window},
    ).json()
    edge.event(EventKind.LOADED, compartment=brought["compartments"][0], order=brought["id"], vendor=farmer["id"])
    wait_status(client, brought["id"], key(farmer), "ready")
    login(client, farmer["api_key"])
    page = BeautifulSoup(client.get("/vendor").text, "html.parser")
    later = page.find(id="later-title").find_parent("section")
    assert [words(li).split(" · ")[1] for li in later.select("li")] == [f"bestelling {ahead['id']}"]
    until = opens + timedelta(hours=2)
    assert f"{opens.astimezone(LOCAL_TIME):%H:%M} tot {until.astimezone(LOCAL_TIME):%H:%M}" in words(later)

    assert page.find(id="today-title").get_text().startswith("Vandaag, ")
    (day,) = page.select("article.locker-day")
    assert day.h3.get_text() == "Dorpshuis, Zwartsluis" and "Kerkplein 1, naast de kerkdeur" in day.get_text()
    assert day.find("a", href=re.compile(r"^https://www\.openstreetmap\.org/\?mlat=52\.637600"))
    bring, done = day.select("ul.drops")
    assert [words(li).split(" · ")[:2] for li in bring.select("li")] == [
        [f"vak {late['compartments'][0]}", f"bestelling {late['id']}"],  # soonest deadline first
        [f"vak {pending['compartments'][0]}", f"bestelling {pending['id']}"],
    ]
    assert [li.select_one(".badge.bad") is not None for li in bring.select("li")] == [True, False]  # "te laat"
    (done_item,) = done.select("li")
    assert f"bestelling {brought['id']}" in done_item.get_text() and re.search(r"om \d\d:\d\d", done_item.get_text())
    statuses = {row.th.get_text(): row.select("td")[1].get_text() for row in page.select("table.fleet tbody tr")}
    assert statuses[brought["id"]] == "klaar om op te halen" and statuses[pending["id"]] == "wacht op levering"


def test_the_vendors_day_lists_goods_to_take_back(client, locker, farmer, edge):
    expired = create_order(client, key(farmer), locker, ("chilled", "S"))
    returned = create_order(client, key(farmer), locker, ("ambient", "S"))
    for order in (expired, returned):
        edge.event(EventKind.LOADED, compartment=order["compartments"][0], order=order["id"], vendor=farmer["id"])
        wait_status(client, order["id"], key(farmer), "ready")
    edge.event(EventKind.COLLECTED, compartment=returned["compartments"][0], order=returned["id"], method=Method.PIN)
    wait_status(client, returned["id"], key(farmer), "collected")
    deadline = client.get(f"/api/v1/orders/{expired['id']}", headers=key(farmer)).json()["pickup_deadline"]
    client.app.state.runtime.watchdog.expire(datetime.fromisoformat(deadline))
    crates = client.post(f"/api/v1/orders/{returned['id']}/returns", headers=key(farmer), json={"size": "S"}).json()
    edge.event(EventKind.LOADED, compartment=crates["compartments"][0], order=crates["id"], method=Method.PIN)
    wait_status(client, crates["id"], key(farmer), "ready")

    login(client, farmer["api_key"])
    page = BeautifulSoup(client.get("/vendor").text, "html.parser")
    (day,) = page.select("article.locker-day")
    back = day.find("h4", string=TEXTS["nl"]["vendor_take_back"]).find_next_sibling("ul")
    items = [words(li) for li in back.select("li")]
    # oldest first: the return came in now, the expired order's deadline was set (a day ahead) for this test
    assert items[0].startswith(f"vak {crates['compartments'][0]} · bestelling {crates['id']} · retour van een klant")
    assert items[1].startswith(f"vak {expired['compartments'][0]} · bestelling {expired['id']} · niet opgehaald vóór ")
    assert TEXTS["nl"]["vendor_none"] not in page.get_text()


def words(element) -> str:
    """An element's text as a reader sees it: whitespace collapsed."""
    return " ".join(element.get_text(" ").split())


def test_a_vendor_with_nothing_to_bring_is_told_so(client, farmer):
    login(client, farmer["api_key"])
    assert TEXTS["nl"]["vendor_none"] in client.get("/vendor").text
    assert TEXTS["en"]["vendor_none"] in client.get("/vendor?lang=en").text


def test_the_grid_marks_a_free_compartment_booked_for_later(client, locker, farmer):
    opens = (utcnow() + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    window = {"start": opens.isoformat(), "end": (opens + timedelta(hours=2)).isoformat()}
    body = {"locker": locker, "resident": {"name": "Anna"}, "parts": [{"zone": "chilled", "size": "S"}]}
    ahead = client.post("/api/v1/orders", headers=key(farmer), json=body | {"dropoff": window}).json()
    login(client, ADMIN_KEY)
    page = BeautifulSoup(client.get(f"/dashboard/lockers/{locker}").text, "html.parser")
    (cell,) = [li for li in page.select("ul.grid li") if li.strong.get_text() == ahead["compartments"][0]]
    assert "free" in cell["class"] and "vrij" in words(cell)
    assert re.search(rf"vrij geboekt vanaf \w+dag \d+ \w+, {opens.astimezone(LOCAL_TIME):%H:%M} ", words(cell))
