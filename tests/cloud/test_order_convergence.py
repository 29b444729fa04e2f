"""Orders converge whatever order locker events arrive in: reversed, replayed and repeated events end in the
same state and history as the physical order; a code used after its order was cancelled is a recorded
conflict, never a silent drop."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from lockers.protocol.messages import Event, EventKind, Method
from lockers.protocol.topics import Channel
from tests.cloud.conftest import ADMIN, EdgeProbe, counter, create_order, key, wait_count
from tests.cloud.test_edge_flow import wait_status

# Arrival orders of the four events of one order's life: L1/L2 = loaded B1/C1, C1/C2 = collected B1/C1.
ARRIVALS = {
    "in_order": ["L1", "L2", "C1", "C2"],
    "reversed": ["C2", "C1", "L2", "L1"],
    "collected_first_with_repeats": ["C1", "C2", "C1", "L2", "L2", "L1", "C2"],
    "loaded_last": ["L2", "C2", "C1", "L1"],
}


def story(edge: EdgeProbe, oid: str, vendor: str, compartments: list[str]) -> dict[str, Event]:
    """The events of the physical story, numbered in the order they happened (an hour ago, at the locker)."""
    start = datetime.now(UTC) - timedelta(hours=1)
    first, second = compartments
    return {
        "L1": edge.make_event(EventKind.LOADED, ts=start, compartment=first, order=oid, vendor=vendor),
        "L2": edge.make_event(
            EventKind.LOADED, ts=start + timedelta(minutes=2), compartment=second, order=oid, vendor=vendor
        ),
        "C1": edge.make_event(
            EventKind.COLLECTED, ts=start + timedelta(minutes=30), compartment=first, order=oid, method=Method.PIN
        ),
        "C2": edge.make_event(
            EventKind.COLLECTED, ts=start + timedelta(minutes=31), compartment=second, order=oid, method=Method.PIN
        ),
    }


def normalized(history: list[dict], events: dict[str, Event]) -> list[tuple]:
    """History with event ids replaced by their role, the (random) code id by CODE, the booked times by BOOKED."""
    roles = {event.id: role for role, event in events.items()}

    def cause(text: str) -> str:
        text = re.sub(r"[0-9a-f]{32}", lambda m: roles.get(m.group(0), "?"), text)
        text = re.sub(r"from \d{4}-\d\d-\d\d \d\d:\d\d to \d{4}-\d\d-\d\d \d\d:\d\d UTC", "from BOOKED", text)
        return re.sub(r"pickup code \S+ issued", "pickup code CODE issued", text)

    return [(h["from"], h["to"], cause(h["cause"])) for h in history]


@pytest.mark.parametrize("arrival", list(ARRIVALS), ids=list(ARRIVALS))
def test_any_arrival_order_gives_the_same_state_and_history(client, locker, farmer, edge, arrival):
    who = key(farmer)
    order = create_order(client, who, locker, ("chilled", "S"), ("frozen", "S"))
    oid, compartments = order["id"], order["compartments"]
    events = story(edge, oid, farmer["id"], compartments)
    duplicates = counter(client, "duplicates")
    for role in ARRIVALS[arrival]:
        edge.send(Channel.EVENTS, events[role])
    repeats = len(ARRIVALS[arrival]) - len(set(ARRIVALS[arrival]))
    wait_count(client, "duplicates", duplicates + repeats)
    done = wait_status(client, oid, who, "collected")

    first, second = compartments
    assert normalized(done["history"], events) == [
        (None, "created", "created by vendor boer-jansen via the API"),
        ("created", "assigned", f"compartments {first}, {second} booked by best fit from BOOKED"),
        ("assigned", "loaded", f"locker {locker} event L2: vendor boer-jansen closed {second}"),
        ("loaded", "ready", "pickup code CODE issued; resident not notified: no notification channel is configured"),
        ("ready", "collected", f"locker {locker} event C2: resident took the last compartment {second} with pin"),
    ]
    at = {(h["from"], h["to"]): datetime.fromisoformat(h["at"]) for h in done["history"]}
    assert at[("assigned", "loaded")] == events["L2"].ts  # when it happened at the locker, not when it arrived
    assert at[("ready", "collected")] == events["C2"].ts
    parts = {p["compartment"]: p for p in done["parts"]}
    assert [datetime.fromisoformat(parts[c]["loaded_at"]) for c in compartments] == [events["L1"].ts, events["L2"].ts]
    assert [datetime.fromisoformat(parts[c]["collected_at"]) for c in compartments] == [
        events["C1"].ts,
        events["C2"].ts,
    ]
    assert done["coldchain"] is not None  # the record is written once, over the dwell the facts give
    assert counter(client, "duplicates") == duplicates + repeats
    stored = client.get(f"/api/v1/lockers/{locker}/events", headers=ADMIN).json()["events"]
    assert sorted(e["id"] for e in stored) == sorted(e.id for e in events.values())  # each stored once
    numbering = client.get(f"/api/v1/lockers/{locker}", headers=ADMIN).json()["events"]
    assert (numbering["last_seq"], numbering["contiguous_to"], numbering["gaps"]) == (4, 4, [])
    compartments_now = client.get(f"/api/v1/lockers/{locker}", headers=ADMIN).json()["compartments"]
    assert not any(c["occupied"] for c in compartments_now)


def conflicts(client, locker: str) -> list[dict]:
    response = client.get("/api/v1/alerts", headers=ADMIN, params={"locker": locker, "kind": "conflict"})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_pickup_after_cancellation_is_recorded_and_raises_one_conflict(client, locker, farmer, edge):
    who = key(farmer)
    oid = create_order(client, who, locker, ("frozen", "S"))["id"]
    loaded = edge.event(EventKind.LOADED, compartment="C1", order=oid, vendor=farmer["id"])
    wait_status(client, oid, who, "ready")
    version = client.get(f"/api/v1/lockers/{locker}", headers=ADMIN).json()["desired_version"]
    (grant,) = edge.latest_desired(version).pickups
    cancelled = client.post(f"/api/v1/orders/{oid}/cancel", headers=who)
    assert cancelled.status_code == 200, cancelled.text
    # the locker was offline and never heard of the cancellation: the resident's PIN still opened the door
    inconsistent = counter(client, "inconsistent")
    code_id = grant.code_id
    unlocked = edge.event(EventKind.UNLOCKED, compartment="C1", order=oid, method=Method.PIN, code_id=code_id)
    edge.event(EventKind.DOOR_OPENED, compartment="C1")
    edge.event(EventKind.DOOR_CLOSED, compartment="C1")
    collected = edge.event(EventKind.COLLECTED, compartment="C1", order=oid, method=Method.PIN, code_id=code_id)
    wait_count(client, "inconsistent", inconsistent + 2)

    order = client.get(f"/api/v1/orders/{oid}", headers=who).json()
    assert order["status"] == "cancelled"
    assert order["parts"][0]["collected_at"] is not None  # the fact is kept: the goods are gone
    notes = [h for h in order["history"] if h["cause"].startswith("conflict:")]
    assert [(h["from"], h["to"]) for h in notes] == [("cancelled", "cancelled")] * 2
    assert notes[0]["cause"].startswith(f"conflict: locker {locker} event {unlocked.id}: the PIN unlocked C1 at ")
    assert notes[0]["cause"].endswith("although the order was cancelled")
    assert notes[1]["cause"].startswith(f"conflict: locker {locker} event {collected.id}: the PIN opened C1 at ")
    assert loaded.id in order["history"][2]["cause"]

    (alert,) = conflicts(client, locker)  # one alert for the order, however many events conflict
    assert (alert["kind"], alert["order"], alert["state"], alert["severity"]) == ("conflict", oid, "raised", "warning")
    assert alert["detail"].startswith(f"order {oid} at locker {locker}: the PIN unlocked C1 at ")
    assert (alert["zone"], alert["sensor"]) == (None, None)
    # nothing ends a conflict by itself: whoever resolves it acknowledges it, which clears it
    acked = client.post(f"/api/v1/alerts/{alert['id']}/ack", headers=ADMIN, json={"note": "refunded; resident called"})
    assert acked.status_code == 200, acked.text
    assert acked.json()["state"] == "cleared" and acked.json()["cleared_at"] is not None


def test_goods_loaded_for_a_cancelled_order_are_a_conflict(client, locker, farmer, edge):
    who = key(farmer)
    order = create_order(client, who, locker, ("chilled", "S"))
    oid, (compartment,) = order["id"], order["compartments"]
    assert client.post(f"/api/v1/orders/{oid}/cancel", headers=who).status_code == 200
    inconsistent = counter(client, "inconsistent")
    loaded = edge.event(EventKind.LOADED, compartment=compartment, order=oid, vendor=farmer["id"])
    wait_count(client, "inconsistent", inconsistent + 1)
    after = client.get(f"/api/v1/orders/{oid}", headers=who).json()
    assert after["status"] == "cancelled" and after["parts"][0]["loaded_at"] is not None
    assert after["history"][-1]["cause"].startswith(
        f"conflict: locker {locker} event {loaded.id}: vendor boer-jansen loaded {compartment} at "
    )
    (alert,) = conflicts(client, locker)
    assert alert["order"] == oid and "must be taken back" in alert["detail"]
    # the same event again is a repeat, not a second conflict
    duplicates = counter(client, "duplicates")
    edge.send(Channel.EVENTS, loaded)
    wait_count(client, "duplicates", duplicates + 1)
    assert len(client.get(f"/api/v1/orders/{oid}", headers=who).json()["history"]) == len(after["history"])
    assert len(conflicts(client, locker)) == 1
