"""The resident's page in headless Chromium: the code in large type, where and until when, how to open; Dutch
first, English a click away; no serious or critical axe-core violations; one printed A4 page."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from lockers.protocol.messages import EventKind, Method
from tests.browser import serious_violations
from tests.cloud.conftest import EdgeProbe
from tests.support import wait_until


def ready_order(live, broker) -> tuple[dict, dict]:
    """A two-zone order for Mevrouw De Vries, loaded by the farmer through the locker's events."""
    live.register_locker("kerk-web", "Dorpshuis De Kern", "Kerkstraat 4, naast de bibliotheek")
    live.http.post("/api/v1/vendors", json={"id": "boer-jansen", "name": "Boer Jansen", "kind": "farmer"})
    order = live.http.post(
        "/api/v1/orders",
        json={
            "locker": "kerk-web",
            "resident": {"name": "Mevrouw J. de Vries"},
            "parts": [
                {"zone": "chilled", "size": "S", "vendor": "boer-jansen"},
                {"zone": "frozen", "size": "S", "vendor": "boer-jansen"},
            ],
        },
    ).json()
    with EdgeProbe(broker, "kerk-web") as edge:
        for compartment in order["compartments"]:
            edge.event(EventKind.LOADED, compartment=compartment, order=order["id"], vendor="boer-jansen")
        wait_until(lambda: live.http.get(f"/api/v1/orders/{order['id']}").json()["status"] == "ready", 10, "ready")
    return order, live.http.get(f"/api/v1/orders/{order['id']}/pickup").json()


def local(live, resident_url: str) -> str:
    url = urlsplit(resident_url)
    return f"{live.url}{url.path}?{url.query}"


def test_the_resident_sees_pin_qr_place_and_deadline_in_dutch_then_english(live, broker, page, screenshot):
    order, pickup = ready_order(live, broker)
    response = page.goto(local(live, pickup["resident_url"]))
    assert response.status == 200
    assert page.locator("html").get_attribute("lang") == "nl"
    assert page.locator("h1").inner_text() == "Uw boodschappen liggen klaar"
    assert page.locator(".pin").inner_text() == f"{pickup['pin'][:3]} {pickup['pin'][3:]}"
    assert page.locator("figure[role=img] svg").count() == 1
    body = page.locator("main").inner_text()
    assert "Dorpshuis De Kern, Zwartsluis" in body and "Kerkstraat 4, naast de bibliotheek" in body
    map_link = page.get_by_role("link", name="Bekijk de plek op de kaart")
    assert map_link.get_attribute("href").startswith("https://www.openstreetmap.org/?mlat=52.637600&mlon=6.071200")
    assert re.search(r"Ophalen vóór \w+dag \d+ \w+, \d\d:\d\d", body)
    assert f"{order['compartments'][0]} (koel)" in body and "(vries)" in body
    assert "Mevrouw" not in body  # the page shows the code, not who it is for
    assert serious_violations(page) == []
    screenshot(page, "resident-ready-nl")

    page.get_by_role("link", name="English").click()
    page.wait_for_url(re.compile(r"lang=en"))
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "Your groceries are ready"
    assert "Collect before" in page.locator("main").inner_text()
    assert page.get_by_role("link", name="See the place on the map").count() == 1
    assert serious_violations(page) == []
    screenshot(page, "resident-ready-en")


def test_the_page_prints_on_one_a4_page(live, broker, page):
    _order, pickup = ready_order(live, broker)
    page.goto(local(live, pickup["resident_url"]))
    page.emulate_media(media="print")
    pdf = page.pdf(format="A4", print_background=True)
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1
    assert page.locator(".pin").is_visible() and page.locator("figure svg").is_visible()
    assert not page.locator(".map-link").is_visible()  # a link is no use on paper; the address is printed


def test_a_wrong_link_says_so_plainly_and_accessibly(live, page, screenshot):
    response = page.goto(f"{live.url}/r/ZZZZZZZZ?token=not-a-real-token")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "Deze link werkt niet"
    assert serious_violations(page) == []
    screenshot(page, "resident-bad-link-nl")


def test_after_pickup_the_resident_books_a_compartment_to_return_the_crates(live, broker, page, screenshot):
    order, pickup = ready_order(live, broker)
    with EdgeProbe(broker, "kerk-web") as edge:
        for compartment in order["compartments"]:
            edge.event(EventKind.COLLECTED, compartment=compartment, order=order["id"], method=Method.PIN)
        wait_until(
            lambda: live.http.get(f"/api/v1/orders/{order['id']}").json()["status"] == "collected", 10, "collected"
        )
    page.goto(local(live, pickup["resident_url"]))
    offer = page.get_by_role("region", name="Kratten, potten of verpakking terugbrengen?")
    assert "Met de code zet u alles binnen een dag in de kluis" in offer.inner_text()
    page.get_by_label("een krat (middelgroot vak)").check()
    page.get_by_role("button", name="Vak reserveren").click()

    page.wait_for_url(re.compile(r"/r/\w+\?token="))
    assert page.locator("h1").inner_text() == "Breng uw retour"
    body = page.locator("main").inner_text()
    assert "Zet uw kratten, potten of verpakking voor Boer Jansen in de kluis bij Dorpshuis De Kern." in body
    assert re.search(r"Tussen \w+dag \d+ \w+, \d\d:\d\d en \w+dag \d+ \w+, \d\d:\d\d", body)
    assert re.fullmatch(r"\d{3} \d{3}", page.locator(".pin").inner_text())
    assert page.locator("figure[role=img] svg").count() == 1
    assert serious_violations(page) == []
    screenshot(page, "resident-return-nl")
    return_id = urlsplit(page.url).path.rsplit("/", 1)[1]
    booked = live.http.get(f"/api/v1/orders/{return_id}").json()
    assert (booked["kind"], booked["status"], booked["parts"][0]["size"]) == ("return", "assigned", "M")

    # the order's own page now leads to the return instead of offering a second one
    page.goto(local(live, pickup["resident_url"]))
    page.get_by_role("link", name="Naar uw retourcode").click()
    page.wait_for_url(re.compile(rf"/r/{return_id}\?"))
    assert page.locator("h1").inner_text() == "Breng uw retour"
