"""The resident's page in headless Chromium: the code in large type, where and until when, how to open; Dutch
first, English a click away; no serious or critical axe-core violations; one printed A4 page."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from lockers.protocol.messages import EventKind
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
