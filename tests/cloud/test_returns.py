"""Returns (reststromen) over the real broker, database and SMTP server: the resident books a compartment through
the order's link, puts the crates in with the deposit code, the vendor is emailed and takes them back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from lockers.codes import CodeKind, hash_pin, verify_token
from lockers.protocol.messages import EventKind, Method
from tests.cloud.conftest import ADMIN, cloud_settings, compartment, key
from tests.cloud.test_edge_flow import trusted_keys, wait_status
from tests.cloud.test_expiry import FARMER_MAIL, vendor_with_mail
from tests.support import wait_until


@pytest.fixture
def settings(database_url, broker, tmp_path, smtp):
    _inbox, port = smtp
    return cloud_settings(database_url, broker, tmp_path / "data", smtp_host="127.0.0.1", smtp_port=port)


@pytest.fixture
def farmer(client) -> dict:
    return vendor_with_mail(client, "boer-jansen", FARMER_MAIL)


def delivered(client, locker: str, edge, *vendors: dict, collect: bool = True) -> tuple[dict, str]:
    """An order with a part of each vendor, loaded (and collected); with its resident link's token."""
    body = {
        "locker": locker,
        "resident": {"name": "Mevrouw Bakker", "email": "bakker@dorp.example"},
        "parts": [{"zone": "ambient", "size": "S", "vendor": vendor["id"]} for vendor in vendors],
    }
    response = client.post("/api/v1/orders", headers=ADMIN, json=body)
    assert response.status_code == 201, response.text
    order = response.json()
    for part in order["parts"]:
        edge.event(EventKind.LOADED, compartment=part["compartment"], order=order["id"], vendor=part["vendor"])
    wait_status(client, order["id"], ADMIN, "ready")
    url = client.get(f"/api/v1/orders/{order['id']}/pickup", headers=ADMIN).json()["resident_url"]
    token = parse_qs(urlsplit(url).query)["token"][0]
    if collect:
        for part in order["parts"]:
            edge.event(EventKind.COLLECTED, compartment=part["compartment"], order=order["id"], method=Method.PIN)
        order = wait_status(client, order["id"], ADMIN, "collected")
    return order, token


def book(client, order_id: str, token: str | None = None, who: dict | None = None, **body):
    query = f"?token={token}" if token else ""
    return client.post(f"/api/v1/orders/{order_id}/returns{query}", headers=who or {}, json=body)


def test_a_resident_returns_crates_and_the_vendor_takes_them_back(client, locker, farmer, edge, smtp):
    inbox, _ = smtp
    order, token = delivered(client, locker, edge, farmer)
    version = edge.latest_desired().version
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    window = {"start": start.isoformat(), "end": (start + timedelta(hours=4)).isoformat()}

    booked = book(client, order["id"], token, size="M", window=window)
    assert booked.status_code == 201, booked.text
    returned = booked.json()
    rid, (place,) = returned["id"], returned["compartments"]
    assert (returned["kind"], returned["status"], returned["resident"]["name"]) == (
        "return",
        "assigned",
        "Mevrouw Bakker",
    )
    (part,) = returned["parts"]
    assert (part["zone"], part["size"], part["vendor"]) == ("ambient", "M", "boer-jansen")
    assert datetime.fromisoformat(returned["pickup_by"]) == start + timedelta(hours=4 + 72)  # the vendor's 3 days
    assert (
        returned["history"][0]["cause"]
        == f"return of order {order['id']} to boer-jansen, booked by the resident's link"
    )
    assert returned["history"][1]["cause"].startswith(f"compartment {place} booked from {start:%Y-%m-%d %H:%M}")
    again = book(client, order["id"], token)
    assert again.status_code == 409 and again.json()["detail"] == (
        f"order {order['id']} already has return {rid} booked; use its code"
    )

    # the deposit code: a kind-3 token valid in the window, and a PIN the locker knows
    code = client.get(f"/api/v1/orders/{rid}/pickup", headers=key(farmer)).json()
    claims = verify_token(code["token"], trusted_keys(client), locker, start)
    assert (claims.kind, claims.subject, claims.compartments) == (CodeKind.DEPOSIT, rid, (place,))
    assert claims.expires_at == start + timedelta(hours=4)
    desired = edge.latest_desired(version + 1)
    (grant,) = desired.deposits
    assert (grant.order, grant.code_id, grant.compartments) == (rid, claims.code_id, [place])
    assert (grant.opens, grant.until) == (start, start + timedelta(hours=4))
    assert grant.pin_hash == hash_pin(code["pin"], desired.pin_salt)
    ahead = compartment(client, locker, place)
    assert ahead["occupied"] is False and ahead["status"] == "free"  # booked ahead: free until the window
    assert datetime.fromisoformat(ahead["booked_from"]) == start
    mine = client.get("/api/v1/vendors/me", headers=key(farmer)).json()
    assert mine["dropoffs"] == [] and mine["take_back"] == []  # the resident brings it; nothing to fetch yet

    # the resident puts the crates in: the vendor is told and its vendor code opens the compartment
    edge.event(EventKind.LOADED, compartment=place, order=rid, code_id=grant.code_id, method=Method.PIN)
    waiting = wait_status(client, rid, ADMIN, "ready")
    assert waiting["history"][-2]["cause"].endswith(f"the resident closed {place}")
    assert waiting["history"][-1]["cause"] == "return waits for boer-jansen to take it back; vendor told by email"
    (mail,) = wait_until(lambda: inbox.to(FARMER_MAIL), 10, "the vendor told")
    assert mail["Subject"] == f"[Dorpskluis] return {rid} from Mevrouw Bakker: please collect it"
    assert f"compartment {place} of locker {locker}" in mail.get_content()
    desired = edge.latest_desired(desired.version + 1)
    assert desired.deposits == [] and desired.pickups == []
    assert [(g.order, g.vendor, g.compartments, g.reason) for g in desired.retrievals] == [
        (rid, "boer-jansen", [place], "return")
    ]
    inside = compartment(client, locker, place)
    assert (inside["status"], inside["booked_from"], inside["order"]) == ("return", None, rid)
    (back,) = client.get("/api/v1/vendors/me", headers=key(farmer)).json()["take_back"]
    assert (back["order"], back["locker"], back["compartments"], back["reason"]) == (rid, locker, [place], "return")
    gone = client.get(f"/api/v1/orders/{rid}/pickup", headers=key(farmer))
    assert gone.status_code == 409 and "the return is in the locker" in gone.json()["detail"]

    taken = edge.event(EventKind.RETRIEVED, compartment=place, order=rid, vendor="boer-jansen", method=Method.VENDOR)
    done = wait_status(client, rid, ADMIN, "collected")
    assert (
        done["history"][-1]["cause"]
        == f"locker {locker} event {taken.id}: vendor boer-jansen took the return from {place}"
    )
    assert done["parts"][0]["retrieved_at"] is not None
    assert edge.latest_desired(desired.version + 1).retrievals == []
    assert not compartment(client, locker, place)["occupied"]
    assert client.get("/api/v1/vendors/me", headers=key(farmer)).json()["take_back"] == []
    origin = client.get(f"/api/v1/orders/{order['id']}", headers=ADMIN).json()
    assert origin["history"][-1]["cause"] == f"return {rid} booked: crates, jars or packaging back to boer-jansen"


def test_returns_are_refused_with_a_reason(client, locker, farmer, edge):
    baker = vendor_with_mail(client, "bakker-de-vries", "bakker@devries.example")
    waiting, token = delivered(client, locker, edge, farmer, collect=False)
    early = book(client, waiting["id"], token)
    assert early.status_code == 409
    assert early.json()["detail"] == (
        f"order {waiting['id']} is ready: crates can be returned once the order is collected"
    )

    both, token = delivered(client, locker, edge, farmer, baker)
    which = book(client, both["id"], token)
    assert which.status_code == 422
    assert which.json()["detail"] == (
        f"vendor: order {both['id']} came from bakker-de-vries, boer-jansen; say whose the return is"
    )
    stranger = book(client, both["id"], token, vendor="slager-x")
    assert stranger.status_code == 403 and "had no part in order" in stranger.json()["detail"]
    assert book(client, both["id"], "not-the-token").status_code == 403
    assert book(client, both["id"]).status_code == 401
    assert book(client, both["id"], token, size="XL").status_code == 422
    # the vendor books it for the resident, through the API
    for_resident = book(client, both["id"], who=key(baker), vendor="bakker-de-vries", size="S")
    assert for_resident.status_code == 201, for_resident.text
    assert for_resident.json()["history"][0]["cause"].endswith("booked by vendor bakker-de-vries via the API")
    cancelled = client.post(f"/api/v1/orders/{for_resident.json()['id']}/cancel", headers=key(baker))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert book(client, both["id"], who=key(baker), vendor="bakker-de-vries").status_code == 201  # booked anew
