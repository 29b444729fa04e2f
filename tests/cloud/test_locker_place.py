"""Where residents find a locker: its address and map point at registration, changed later by the foundation
(audited), refused when malformed."""

from __future__ import annotations

import pytest

from tests.cloud.conftest import ADMIN, DEMO_LAYOUT, key

PLACE = {"address": "Kerkplein 1, naast de kerkdeur", "location": {"lat": 52.6376, "lon": 6.0712}}


def test_a_locker_registers_with_its_place_and_shows_it(client, locker_id):
    body = {"id": locker_id, "name": "Kerkplein", "village": "Zwartsluis", "layout": DEMO_LAYOUT} | PLACE
    created = client.post("/api/v1/lockers", headers=ADMIN, json=body)
    assert created.status_code == 201, created.text
    shown = client.get(f"/api/v1/lockers/{locker_id}", headers=ADMIN).json()
    assert (shown["address"], shown["location"]) == (PLACE["address"], PLACE["location"])


def test_the_foundation_moves_a_locker_and_the_audit_trail_says_so(client, locker):
    before = client.get(f"/api/v1/lockers/{locker}", headers=ADMIN).json()
    assert before["address"] is None and before["location"] is None
    moved = client.patch(f"/api/v1/lockers/{locker}", headers=ADMIN, json=PLACE)
    assert moved.status_code == 200, moved.text
    assert moved.json()["address"] == PLACE["address"] and moved.json()["name"] == before["name"]  # the rest stays
    cleared = client.patch(f"/api/v1/lockers/{locker}", headers=ADMIN, json={"location": None}).json()
    assert cleared["location"] is None and cleared["address"] == PLACE["address"]
    trail = client.get("/api/v1/audit", headers=ADMIN, params={"subject": f"locker:{locker}"}).json()
    assert [(e["action"], e["new"]["location"]) for e in trail] == [
        ("locker.updated", None),
        ("locker.updated", [52.6376, 6.0712]),
    ]
    assert trail[1]["old"]["address"] is None and trail[1]["actor"] == "admin"


def test_an_unchanged_place_writes_no_audit_entry(client, locker):
    client.patch(f"/api/v1/lockers/{locker}", headers=ADMIN, json={"village": "Zwartsluis"})  # as registered
    assert client.get("/api/v1/audit", headers=ADMIN, params={"subject": f"locker:{locker}"}).json() == []


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"name": None}, "keeps a name"),
        ({"location": {"lat": 91, "lon": 6}}, "less than or equal to 90"),
        ({"location": {"lat": 52.6}}, "lon"),
        ({"address": "x" * 201}, "at most 200"),
        ({"adress": "typo"}, "adress"),
    ],
    ids=["name-null", "off-the-map", "half-a-point", "address-too-long", "unknown-field"],
)
def test_a_malformed_change_is_refused_with_a_reason(client, locker, body, says):
    refused = client.patch(f"/api/v1/lockers/{locker}", headers=ADMIN, json=body)
    assert refused.status_code == 422 and says in refused.text


def test_only_the_foundation_moves_lockers(client, locker, farmer):
    assert client.patch(f"/api/v1/lockers/{locker}", headers=key(farmer), json=PLACE).status_code == 403
    assert client.patch("/api/v1/lockers/nowhere-1", headers=ADMIN, json=PLACE).status_code == 404
