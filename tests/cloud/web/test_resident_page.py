"""The resident's page over HTTP: what it says at each stage of the order, in which language, and how it
refuses a wrong, expired or guessed link."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import update

from cloud.db import utcnow
from cloud.models import Order
from cloud.web.i18n import TEXTS, celsius, grouped_pin, local_day, local_time, pick_language
from lockers.protocol.messages import EventKind, Method
from tests.cloud.conftest import ADMIN, cloud_settings, create_order, key
from tests.cloud.test_edge_flow import wait_status


@pytest.fixture
def settings(database_url, broker, tmp_path):
    return cloud_settings(database_url, broker, tmp_path / "data", auth_failures_allowed=3)


def page_url(client, order_id: str) -> str:
    return client.app.state.runtime.pickups.resident_url(order_id).removeprefix("https://dorpskluis.example")


def test_before_loading_the_page_says_it_is_being_prepared_and_shows_no_code(client, locker, farmer):
    order = create_order(client, key(farmer), locker, ("chilled", "S"))
    page = client.get(page_url(client, order["id"]))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert TEXTS["nl"]["waiting_title"] in page.text and 'class="pin"' not in page.text
    assert '<html lang="nl">' in page.text
    assert "openstreetmap" not in page.text  # no map point entered: no map link


def test_the_page_says_where_the_locker_is(client, locker, farmer):
    order = create_order(client, key(farmer), locker, ("chilled", "S"))
    place = {"address": "Kerkplein 1, naast de kerkdeur", "location": {"lat": 52.6376, "lon": 6.0712}}
    assert client.patch(f"/api/v1/lockers/{locker}", headers=ADMIN, json=place).status_code == 200
    page = client.get(page_url(client, order["id"])).text
    assert "Dorpshuis, Zwartsluis" in page and "Kerkplein 1, naast de kerkdeur" in page
    assert 'href="https://www.openstreetmap.org/?mlat=52.637600&amp;mlon=6.071200#map=18/52.637600/6.071200"' in page
    assert TEXTS["nl"]["map_link"] in page


def test_english_by_choice_or_by_the_browser(client, locker, farmer):
    order = create_order(client, key(farmer), locker, ("chilled", "S"))
    url = page_url(client, order["id"])
    assert TEXTS["en"]["waiting_title"] in client.get(url + "&lang=en").text
    assert TEXTS["en"]["waiting_title"] in client.get(url, headers={"Accept-Language": "en-GB,en;q=0.9"}).text
    assert TEXTS["nl"]["waiting_title"] in client.get(url, headers={"Accept-Language": "de-DE"}).text


def test_a_cancelled_order_says_so(client, locker, farmer):
    order = create_order(client, key(farmer), locker, ("chilled", "S"))
    client.post(f"/api/v1/orders/{order['id']}/cancel", headers=ADMIN)
    assert TEXTS["nl"]["cancelled_lead"] in client.get(page_url(client, order["id"])).text


def test_wrong_expired_and_guessed_links(client, locker, farmer):
    order = create_order(client, key(farmer), locker, ("chilled", "S"))
    url = page_url(client, order["id"])
    wrong = client.get(f"/r/{order['id']}?token=not-the-token")
    assert wrong.status_code == 404 and TEXTS["nl"]["link_invalid_title"] in wrong.text
    with client.app.state.runtime.db.write() as session:
        session.execute(update(Order).values(dropoff_until=utcnow() - timedelta(days=40)))
    expired = client.get(url)
    assert expired.status_code == 410 and "30 dagen" in expired.text
    client.get("/r/ZZZZZZZZ?token=guess")  # the third failure (a wrong order id counts)
    blocked = client.get(url)
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) >= 1
    assert TEXTS["nl"]["too_many_title"] in blocked.text


@pytest.mark.parametrize(
    ("query", "accept", "expected"),
    [
        ("en", None, "en"),
        ("nl", "en", "nl"),
        ("fr", "en-US,en", "en"),
        (None, "fr, de;q=0.8", "nl"),
        (None, None, "nl"),
    ],
)
def test_pick_language(query, accept, expected):
    assert pick_language(query, accept) == expected


def test_times_and_pins_read_as_people_say_them():
    moment = utcnow().replace(year=2026, month=11, day=27, hour=13, minute=5)
    assert local_time(moment, "nl") == "vrijdag 27 november, 14:05"  # CET is UTC+1 in November
    assert local_time(moment.replace(month=7, day=3), "en") == "Friday 3 July, 15:05"  # CEST: UTC+2
    assert grouped_pin("482913") == "482 913"


@pytest.mark.parametrize(
    ("moment", "start", "hours"),
    [
        ("2026-11-27T10:00Z", "2026-11-26T23:00Z", 24),
        ("2026-11-26T23:30Z", "2026-11-26T23:00Z", 24),  # already Friday in the village
        ("2026-03-29T10:00Z", "2026-03-28T23:00Z", 23),  # clocks go forward
        ("2026-10-25T01:30Z", "2026-10-24T22:00Z", 25),  # clocks go back
    ],
)
def test_the_village_day_runs_midnight_to_midnight(moment, start, hours):
    begins, ends = local_day(datetime.fromisoformat(moment))
    assert begins == datetime.fromisoformat(start) and ends - begins == timedelta(hours=hours)


@pytest.mark.parametrize(
    ("value", "language", "shown"),
    [(4.46, "nl", "4,5 °C"), (4.46, "en", "4.5 °C"), (-18.04, "nl", "\u221218,0 °C"), (0.0, "en", "0.0 °C")],
)
def test_temperatures_read_as_people_write_them(value, language, shown):
    assert celsius(value, language) == shown


def test_after_pickup_the_page_shows_the_cold_chain_record(client, locker, farmer, edge):
    order = create_order(client, key(farmer), locker, ("chilled", "S"))
    compartment = order["compartments"][0]
    edge.event(EventKind.LOADED, compartment=compartment, order=order["id"], vendor=farmer["id"])
    wait_status(client, order["id"], key(farmer), "ready")
    code = client.get(f"/api/v1/orders/{order['id']}/pickup", headers=key(farmer)).json()
    edge.event(EventKind.COLLECTED, compartment=compartment, order=order["id"], code_id=None, method=Method.PIN)
    wait_status(client, order["id"], key(farmer), "collected")
    page = client.get(page_url(client, order["id"]))
    assert page.status_code == 200
    assert TEXTS["nl"]["collected_lead"] in page.text and "<table" in page.text
    assert f"{compartment} (koel)" in page.text
    assert code["pin"] not in page.text  # the code is gone once used


def collected(client, locker, farmer, edge) -> dict:
    order = create_order(client, key(farmer), locker, ("ambient", "S"))
    (compartment,) = order["compartments"]
    edge.event(EventKind.LOADED, compartment=compartment, order=order["id"], vendor=farmer["id"])
    wait_status(client, order["id"], key(farmer), "ready")
    edge.event(EventKind.COLLECTED, compartment=compartment, order=order["id"], method=Method.PIN)
    return wait_status(client, order["id"], key(farmer), "collected")


def test_the_return_form_books_once_and_refuses_plainly(client, locker, farmer, edge):
    waiting = create_order(client, key(farmer), locker, ("ambient", "S"))
    assert TEXTS["nl"]["offer_title"] not in client.get(page_url(client, waiting["id"])).text  # not yet collected
    order = collected(client, locker, farmer, edge)
    url = page_url(client, order["id"])
    page = client.get(url).text
    assert TEXTS["nl"]["offer_title"] in page and 'name="vendor"' not in page  # one vendor: nothing to choose
    token = url.split("token=")[1]
    form = {"token": token, "lang": "en", "size": "L"}

    booked = client.post(f"/r/{order['id']}/return", data=form, follow_redirects=False)
    assert booked.status_code == 303
    (returned,) = client.get("/api/v1/orders?locker=" + locker, headers=ADMIN).json()[:1]
    assert (returned["kind"], returned["parts"][0]["size"]) == ("return", "L")
    assert (
        booked.headers["location"]
        == f"/r/{returned['id']}?token={client.app.state.runtime.pickups.link_token(returned['id'])}&lang=en"
    )
    shown = client.get(booked.headers["location"]).text
    assert TEXTS["en"]["return_title"] in shown and returned["id"] in shown
    assert TEXTS["nl"]["offer_open"] in client.get(url).text

    twice = client.post(f"/r/{order['id']}/return", data=form)
    assert twice.status_code == 409 and f"already has return {returned['id']} booked" in twice.text
    assert TEXTS["en"]["offer_failed_title"] in twice.text
    bad_size = client.post(f"/r/{order['id']}/return", data={**form, "size": "XXL"})
    assert bad_size.status_code == 422 and TEXTS["en"]["offer_bad"] in bad_size.text
    wrong = client.post(f"/r/{order['id']}/return", data={**form, "token": "guessed"})
    assert wrong.status_code == 404 and TEXTS["en"]["link_invalid_title"] in wrong.text
