"""The cloud driven by locker events over the real broker: loaded -> ready with a pickup code -> collected."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from cloud.keys import decode_public
from lockers.codes import CodeKind, hash_pin, verify_token
from lockers.protocol.messages import EventKind, Method
from lockers.protocol.topics import Channel
from tests.cloud.conftest import ADMIN, counter, create_order, key, order_body, wait_count
from tests.support import wait_until


def trusted_keys(client) -> dict:
    keys = client.get("/api/v1/keys").json()["keys"]
    assert keys and all(k["algorithm"] == "Ed25519" for k in keys)
    return {k["kid"]: decode_public(k["public_key"]) for k in keys}


def order_status(client, order_id: str, who: dict) -> str:
    return client.get(f"/api/v1/orders/{order_id}", headers=who).json()["status"]


def wait_status(client, order_id: str, who: dict, status: str) -> dict:
    wait_until(lambda: order_status(client, order_id, who) == status, 10, f"order {order_id} to be {status}")
    return client.get(f"/api/v1/orders/{order_id}", headers=who).json()


def test_loaded_then_collected(client, locker, farmer, edge):
    who = key(farmer)
    order = create_order(client, who, locker, ("chilled", "S"), ("frozen", "S"))
    oid = order["id"]
    assert client.get("/api/v1/vendors/me", headers=who).json()["dropoffs"] == [
        {
            "order": oid,
            "locker": locker,
            "compartments": ["B1", "C1"],
            "dropoff_from": order["dropoff_from"],
            "dropoff_until": order["dropoff_until"],
            "loaded_at": None,
        }
    ]
    version = edge.latest_desired(2).version

    # first compartment loaded: the order waits for the second, whose drop-off stays open
    edge.event(EventKind.LOADED, compartment="B1", order=oid, vendor=farmer["id"])
    desired = edge.latest_desired(version + 1)
    assert [(d.order, d.compartments) for d in desired.dropoffs] == [(oid, ["C1"])]
    assert order_status(client, oid, who) == "assigned"

    last = edge.event(EventKind.LOADED, compartment="C1", order=oid, vendor=farmer["id"])
    ready = wait_status(client, oid, who, "ready")
    assert [(h["from"], h["to"]) for h in ready["history"][-2:]] == [("assigned", "loaded"), ("loaded", "ready")]
    assert ready["history"][-2]["cause"] == f"locker {locker} event {last.id}: vendor boer-jansen closed C1"
    assert "no notification channel is configured" in ready["history"][-1]["cause"]
    assert all(p["loaded_at"] for p in ready["parts"])
    assert client.get("/api/v1/vendors/me", headers=who).json()["dropoffs"] == []

    # the pickup code: a token the locker can verify offline, and a PIN matching the published hash
    pickup = client.get(f"/api/v1/orders/{oid}/pickup", headers=who)
    assert pickup.status_code == 200, pickup.text
    code = pickup.json()
    claims = verify_token(code["token"], trusted_keys(client), locker, datetime.now(UTC))
    assert claims.kind is CodeKind.PICKUP and claims.subject == oid
    assert claims.compartments == ("B1", "C1") == tuple(code["compartments"])
    assert datetime.fromisoformat(code["expires_at"]) == claims.expires_at
    assert datetime.fromisoformat(ready["pickup_deadline"]) == claims.expires_at
    assert code["qr_png"].startswith("data:image/png;base64,") and code["qr_svg"].startswith("<svg")
    desired = edge.latest_desired(version + 2)
    assert desired.dropoffs == []
    (grant,) = desired.pickups
    assert (grant.order, grant.code_id, grant.compartments) == (oid, claims.code_id, ["B1", "C1"])
    assert len(code["pin"]) == 6 and grant.pin_hash == hash_pin(code["pin"], desired.pin_salt)

    # the resident's link opens the resident's page, and its token the JSON view, without an API key
    url = urlsplit(code["resident_url"])
    assert code["resident_url"].startswith(f"https://dorpskluis.example/r/{oid}?token=")
    page = client.get(f"{url.path}?{url.query}")
    assert page.status_code == 200 and f"{code['pin'][:3]} {code['pin'][3:]}" in page.text
    by_link = client.get(f"/api/v1/orders/{oid}/pickup?{url.query}")
    assert by_link.status_code == 200 and by_link.json()["pin"] == code["pin"]

    # collection, one compartment after the other
    edge.event(EventKind.COLLECTED, compartment="B1", order=oid, code_id=grant.code_id, method=Method.PIN)

    def first_part() -> dict:
        return client.get(f"/api/v1/orders/{oid}", headers=who).json()["parts"][0]

    wait_until(lambda: first_part()["collected_at"], 10, "B1 collected")
    assert order_status(client, oid, who) == "ready"
    edge.event(EventKind.COLLECTED, compartment="C1", order=oid, code_id=grant.code_id, method=Method.PIN)
    done = wait_status(client, oid, who, "collected")
    assert done["history"][-1]["cause"].endswith("resident took the last compartment C1 with pin")
    desired = edge.latest_desired(desired.version + 1)
    assert desired.pickups == [] and desired.dropoffs == []
    compartments = client.get(f"/api/v1/lockers/{locker}", headers=who).json()["compartments"]
    assert not any(c["occupied"] for c in compartments)
    gone = client.get(f"/api/v1/orders/{oid}/pickup", headers=who)
    assert gone.status_code == 409
    assert gone.json()["detail"] == f"order {oid} is collected: it has already been picked up"


def test_repeated_events_change_nothing_twice(client, locker, farmer, edge):
    who = key(farmer)
    oid = client.post("/api/v1/orders", headers=who, json=order_body(locker, ("ambient", "S"))).json()["id"]
    duplicates = counter(client, "duplicates")
    loaded = edge.event(EventKind.LOADED, compartment="A1", order=oid, vendor=farmer["id"])
    ready = wait_status(client, oid, who, "ready")
    edge.send(Channel.EVENTS, loaded)  # the same event again, as QoS 1 may deliver it
    stats = wait_count(client, "duplicates", duplicates + 1)
    assert stats["duplicates"] == duplicates + 1
    # a second report of the same drop-off under a new event id is stored but applied only once
    edge.event(EventKind.LOADED, compartment="A1", order=oid, vendor=farmer["id"])
    wait_until(lambda: len(events_of(client, locker, "loaded")) == 2, 10, "second loaded event stored")
    again = client.get(f"/api/v1/orders/{oid}", headers=who).json()
    assert again["history"] == ready["history"]
    assert [e["id"] for e in events_of(client, locker, "loaded")][-1] == loaded.id


def events_of(client, locker: str, kind: str | None = None) -> list[dict]:
    params = {"kind": kind} if kind else {}
    body = client.get(f"/api/v1/lockers/{locker}/events", headers=ADMIN, params=params).json()
    assert body["locker"] == locker
    return body["events"]


def test_events_that_do_not_fit_are_stored_not_applied(client, locker, farmer, edge):
    who = key(farmer)
    oid = client.post("/api/v1/orders", headers=who, json=order_body(locker, ("chilled", "M"))).json()["id"]
    before = counter(client, "inconsistent")
    edge.event(EventKind.LOADED, compartment="B1", order=oid, vendor=farmer["id"])  # not its compartment
    edge.event(EventKind.LOADED, compartment="B3", order="NOSUCHID", vendor=farmer["id"])
    edge.event(EventKind.DOOR_OPENED, compartment="Z9")  # no such compartment
    wait_count(client, "inconsistent", before + 3)
    assert order_status(client, oid, who) == "assigned"
    stored = events_of(client, locker)
    assert [e["kind"] for e in stored] == ["door_opened", "loaded", "loaded"]  # newest first
    assert (stored[1]["compartment"], stored[1]["order"], stored[1]["vendor"]) == ("B3", "NOSUCHID", "boer-jansen")
    assert stored[1]["seq"] == 2 and stored[1]["method"] is None
    assert client.get(f"/api/v1/lockers/{locker}/events", headers=who).status_code == 403


def test_cancelling_a_ready_order_revokes_its_code(client, locker, farmer, edge):
    who = key(farmer)
    oid = client.post("/api/v1/orders", headers=who, json=order_body(locker, ("frozen", "S"))).json()["id"]
    edge.event(EventKind.LOADED, compartment="C1", order=oid, vendor=farmer["id"])
    wait_status(client, oid, who, "ready")
    code = client.get(f"/api/v1/orders/{oid}/pickup", headers=who).json()
    version = client.get(f"/api/v1/lockers/{locker}", headers=who).json()["desired_version"]
    assert client.post(f"/api/v1/orders/{oid}/cancel", headers=who).status_code == 200
    desired = edge.latest_desired(version + 1)
    assert desired.pickups == []
    claims = verify_token(code["token"], trusted_keys(client), locker, datetime.now(UTC))
    assert desired.revoked == [claims.code_id]


def test_doors_tamper_and_rejections_are_recorded(client, locker, edge):
    edge.event(EventKind.DOOR_OPENED, compartment="B2")
    edge.event(EventKind.TAMPER, compartment="C3")
    edge.event(EventKind.CODE_REJECTED, method=Method.PIN, reason="wrong_pin", detail="wrong PIN")

    def doors() -> dict:
        status = client.get(f"/api/v1/lockers/{locker}", headers=ADMIN).json()
        return {c["id"]: c["door"] for c in status["compartments"]}

    wait_until(lambda: doors()["B2"] == "open" and doors()["C3"] == "open", 10, "doors open")
    assert doors()["A1"] == "unknown"
    edge.event(EventKind.DOOR_CLOSED, compartment="B2")
    wait_until(lambda: doors()["B2"] == "closed", 10, "door B2 closed")
    assert [e["kind"] for e in events_of(client, locker, "tamper")] == ["tamper"]
    (rejected,) = events_of(client, locker, "code_rejected")
    assert (rejected["method"], rejected["reason"], rejected["detail"]) == ("pin", "wrong_pin", "wrong PIN")
    assert rejected["compartment"] is None
    bad_kind = client.get(f"/api/v1/lockers/{locker}/events", headers=ADMIN, params={"kind": "exploded"})
    assert bad_kind.status_code == 422 and bad_kind.json()["detail"].startswith("query parameter kind:")
