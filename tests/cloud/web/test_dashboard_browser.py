"""The foundation's dashboard and the vendor's page in headless Chromium: logging in, the fleet updating itself,
a locker's compartments, charts and alerts, acknowledging one; axe-core finds nothing serious or critical."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from lockers.protocol.messages import EventKind
from tests.browser import serious_violations
from tests.cloud.coldchain_support import SimulatedSite, newest_reading
from tests.cloud.conftest import ADMIN_KEY, DEMO_LAYOUT, EdgeProbe
from tests.support import wait_until


def log_in(page, url: str, key: str) -> None:
    page.goto(url)
    assert page.locator("h1").inner_text() == "Inloggen"
    assert serious_violations(page) == []
    page.get_by_label("Sleutel").fill(key)
    page.get_by_role("button", name="Inloggen").click()


def test_the_foundation_watches_its_lockers_and_acknowledges_an_alert(live, broker, desk, tmp_path, screenshot):
    page = desk
    live.register_locker("kerk-dash", "Dorpshuis De Kern", "Kerkstraat 4")
    with EdgeProbe(broker, "kerk-dash") as edge:
        site = SimulatedSite(edge, tmp_path / "w1", start=datetime.now(UTC) - timedelta(hours=6))
        site.online()
        site.advance(6 * 3600, step_s=300)  # six hours of fridge life, for the charts
        site.crafted(*[9.0] * 34)  # the chilled zone stays too warm past the alarm delay
        wait_until(lambda: newest_reading(live.http, "kerk-dash") >= site.now, 20, "the readings")
        assert live.app.state.runtime.bridge.wait_idle(15)
        wait_until(lambda: live.http.get("/api/v1/alerts", params={"locker": "kerk-dash"}).json(), 10, "the alert")

        log_in(page, f"{live.url}/dashboard", ADMIN_KEY)
        page.wait_for_url(f"{live.url}/dashboard")
        row = page.locator("table.fleet tbody tr", has_text="Dorpshuis De Kern")
        assert "online" in row.inner_text() and row.locator(".badge.bad").inner_text() == "1"  # one open alert
        assert serious_violations(page) == []
        screenshot(page, "dashboard-fleet-nl")
        page.goto(f"{live.url}/dashboard?lang=en")
        assert page.locator("h1").inner_text() == "All lockers" and serious_violations(page) == []
        screenshot(page, "dashboard-fleet-en")
        page.goto(f"{live.url}/dashboard")
        # It refreshes itself without a reload.
        wait_until(lambda: page.locator("[data-live]").get_attribute("data-refreshed"), 12, "a live refresh")

        page.get_by_role("link", name="Dorpshuis De Kern").click()
        page.wait_for_url("**/dashboard/lockers/kerk-dash**")
        assert page.locator("ul.grid li").count() == len(DEMO_LAYOUT["compartments"])
        assert page.locator("figure.chart svg").count() == 2  # 24 hours and 7 days
        wait_until(lambda: page.locator("[data-live]").get_attribute("data-refreshed"), 12, "the grid's live refresh")
        assert "koel: grens 7 °C" in page.locator("figure.chart").first.inner_html()  # the limit drawn in
        assert "Zwartsluis · Kerkstraat 4" in page.locator("main").inner_text()
        assert page.get_by_role("link", name="Bekijk de plek op de kaart").count() == 1
        alert_text = page.locator("ul.alerts").inner_text()
        assert "Te warm (ernstig, koel)" in alert_text and "hoogste 9,0 °C" in alert_text
        technical = page.locator("ul.alerts details")  # the cloud's own words, in English, folded away
        assert not technical.locator("span[lang=en]").is_visible()
        technical.locator("summary").click()
        assert technical.locator("span[lang=en]").is_visible()
        assert serious_violations(page) == []
        screenshot(page, "dashboard-locker-nl")
        page.get_by_role("link", name="English").click()
        page.wait_for_url("**lang=en**")
        assert "Too warm (critical, chilled)" in page.locator("ul.alerts").inner_text()
        assert "peak 9.0 °C" in page.locator("ul.alerts").inner_text()
        assert serious_violations(page) == []
        screenshot(page, "dashboard-locker-en")
        page.get_by_role("link", name="Nederlands").click()
        page.wait_for_url("**lang=nl**")
        page.get_by_role("button", name="Gezien").click()
        assert "is afgevinkt" in page.locator("[role=status]").inner_text()
        assert page.get_by_role("button", name="Gezien").count() == 0
        (alert,) = live.http.get("/api/v1/alerts", params={"locker": "kerk-dash"}).json()
        assert alert["state"] == "acknowledged" and alert["acknowledged_by"] == "admin (dashboard)"

        # Remote unlock: a form, then a confirmation page, then the command.
        page.get_by_label("B2").check()
        page.get_by_label("Waarom (voor het logboek)").fill("mevrouw staat buiten, belde 10:02")
        page.get_by_label("Uw naam").fill("Anna")
        page.get_by_role("button", name="Verder").click()
        assert page.locator("h1").inner_text() == "Weet u het zeker?"
        assert serious_violations(page) == []
        page.get_by_role("button", name="Ja, nu openen").click()
        assert "is verstuurd" in page.locator("[role=status]").inner_text()
        command_id = page.url.split("sent=")[1].split("&")[0]
        assert edge.command(command_id)[0].compartments == ["B2"]

        page.get_by_role("link", name="Logboek").click()
        trail = page.locator("main").inner_text()
        assert "admin (dashboard, Anna)" in trail and "alert.acknowledged" in trail
        assert serious_violations(page) == []
        screenshot(page, "dashboard-audit-nl")


def test_a_vendor_sees_its_code_and_its_day(live, broker, page, screenshot):
    live.register_locker("kerk-vnd", "Kerkplein", "Kerkplein 1, naast de kerkdeur")
    vendor = live.http.post("/api/v1/vendors", json={"id": "bakker-de-vries", "name": "Bakkerij De Vries"}).json()

    def order(zone: str) -> dict:
        part = {"zone": zone, "size": "S", "vendor": vendor["id"]}
        return live.http.post(
            "/api/v1/orders", json={"locker": "kerk-vnd", "resident": {"name": "Anna"}, "parts": [part]}
        ).json()

    brought, pending = order("ambient"), order("chilled")
    with EdgeProbe(broker, "kerk-vnd") as edge:
        edge.event(EventKind.LOADED, compartment=brought["compartments"][0], order=brought["id"], vendor=vendor["id"])
        wait_until(lambda: live.http.get(f"/api/v1/orders/{brought['id']}").json()["status"] == "ready", 10, "ready")

    log_in(page, f"{live.url}/login", vendor["api_key"])
    page.wait_for_url(f"{live.url}/vendor")
    assert page.locator("h1").inner_text() == "Bakkerij De Vries"
    assert page.locator("figure.qr svg").count() == 1
    day = page.locator("article.locker-day")
    assert day.locator("h3").inner_text() == "Kerkplein, Zwartsluis"
    assert "Kerkplein 1, naast de kerkdeur" in day.inner_text()
    to_bring, done = day.locator("ul.drops").all()
    expected = f"vak {pending['compartments'][0]} · bestelling {pending['id']} · uiterlijk"
    assert to_bring.inner_text().startswith(expected)
    assert done.inner_text().startswith(f"✓ vak {brought['compartments'][0]} · bestelling {brought['id']} · om ")
    orders = page.locator("table.fleet").inner_text()
    assert "klaar om op te halen" in orders and "wacht op levering" in orders
    assert re.search(r"Geldig tot \d+ \w+ \d{4}\.", page.locator("main").inner_text())  # the code's year
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # fits the phone
    assert serious_violations(page) == []
    screenshot(page, "vendor-nl")

    page.get_by_role("link", name="English").click()
    page.wait_for_url("**lang=en**")
    assert page.locator("#today-title").inner_text().startswith("Today, ")
    assert "ready for pickup" in page.locator("table.fleet").inner_text()
    assert serious_violations(page) == []
    screenshot(page, "vendor-en")
