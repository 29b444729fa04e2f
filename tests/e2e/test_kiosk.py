"""The locker's touchscreen page, served by the real agent of a simulated locker, in headless Chromium: type
a PIN, see which doors opened; wrong, used and locked-out PINs in plain words; it keeps working with the
uplink cut; Dutch first, English a tap away; nothing serious or critical for axe-core."""

from __future__ import annotations

from tests.browser import serious_violations
from tests.e2e.test_walking_skeleton import create_order
from tests.support import wait_until


def type_code(page, code: str, button: str = "Openen") -> str:
    page.get_by_label("Pincode of code" if button == "Openen" else "PIN or code").fill(code)
    page.get_by_role("button", name=button).click()
    return page.locator(".answer").inner_text()


def test_a_resident_opens_the_locker_at_its_screen_even_offline(stack, page, screenshot):
    order = create_order(stack, ("chilled", "S"), ("frozen", "S"))
    # The farmer's scanner types its vendor code into the screen: the doors of its drop-offs open.
    page.goto(stack.kiosk_url)
    loading = type_code(page, stack.vendor_code)
    assert "Leg alles erin" in loading and all(c in loading for c in order["compartments"])
    for compartment in order["compartments"]:
        assert stack.cli("sim", "door", stack.locker, compartment, "close").returncode == 0
    ready = wait_until(lambda: (o := stack.order(order["id"]))["status"] == "ready" and o, 30, "order ready")
    pin = stack.admin.http.get(f"/api/v1/orders/{ready['id']}/pickup").json()["pin"]
    assert stack.cli("sim", "uplink", stack.locker, "down").returncode == 0  # the village's internet is down

    page.goto(stack.kiosk_url)
    assert page.locator("html").get_attribute("lang") == "nl"
    assert serious_violations(page) == []
    screenshot(page, "kiosk-nl")
    wrong = "000000" if pin != "000000" else "111111"
    assert type_code(page, wrong) == "Verkeerde pincode. Probeer het opnieuw."
    assert page.locator("[role=alert]").count() == 1
    opened = type_code(page, pin)
    assert opened.startswith("Open: vak ") and all(c in opened for c in order["compartments"])
    assert page.locator("[role=status]").count() == 1
    screenshot(page, "kiosk-opened-nl")
    assert type_code(page, pin) == "Deze code is al gebruikt."
    assert serious_violations(page) == []

    page.get_by_role("link", name="English").click()
    assert page.locator("html").get_attribute("lang") == "en"
    assert type_code(page, "12", button="Open") == "We do not know this code. Check the PIN or scan the QR code again."
    assert serious_violations(page) == []
    screenshot(page, "kiosk-en")
