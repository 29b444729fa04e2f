"""Orders book compartments in time over the API: from the drop-off window to the pickup; a compartment serves
one order after another; a booking nobody was told about moves to make room; a full window gets alternatives;
impossible times get a readable 422; the locker learns when a drop-off opens."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from cloud.db import utcnow
from lockers.protocol.messages import EventKind
from tests.cloud.conftest import ADMIN, DEMO_LAYOUT, compartment, key
from tests.cloud.test_edge_flow import order_status, wait_status
from tests.support import wait_until

TOMORROW = (utcnow() + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)


def at(hours: float) -> str:
    return (TOMORROW + timedelta(hours=hours)).isoformat()


def booking(
    locker: str,
    *parts: tuple[str, str],
    start: float | None = None,
    end: float | None = None,
    pickup: float | None = None,
) -> dict:
    """An order body; its drop-off window and pickup in hours after 09:00 tomorrow (none: open from now)."""
    body = {
        "locker": locker,
        "resident": {"name": "Mevrouw Bakker"},
        "parts": [{"zone": zone, "size": size} for zone, size in parts],
    }
    if start is not None:
        body["dropoff"] = {"start": at(start), "end": at(end)}
    if pickup is not None:
        body["pickup_by"] = at(pickup)
    return body


def book(client, who, body, status: int = 201) -> dict:
    response = client.post("/api/v1/orders", headers=who, json=body)
    assert response.status_code == status, response.text
    return response.json()


def test_one_compartment_serves_one_order_after_another(client, locker, farmer):
    who = key(farmer)
    morning = book(client, who, booking(locker, ("frozen", "S"), start=0, end=2, pickup=5))
    afternoon = book(client, who, booking(locker, ("frozen", "S"), start=5, end=7, pickup=10))
    overlapping = book(client, who, booking(locker, ("frozen", "S"), start=4, end=6, pickup=9))
    assert (morning["compartments"], afternoon["compartments"], overlapping["compartments"]) == (
        ["C1"],
        ["C1"],  # free again when the morning's resident has collected
        ["C2"],  # C1 is booked then
    )
    assert datetime.fromisoformat(morning["dropoff_from"]) == datetime.fromisoformat(at(0))
    assert datetime.fromisoformat(morning["pickup_by"]) == datetime.fromisoformat(at(5))
    assert "booked by best fit from" in morning["history"][-1]["cause"]


def test_a_compartment_booked_for_tomorrow_is_free_now(client, locker, farmer):
    book(client, key(farmer), booking(locker, ("frozen", "S"), start=0, end=2, pickup=5))
    assert compartment(client, locker, "C1")["status"] == "free"


def test_a_booking_nobody_was_told_about_moves_to_make_room(client, locker, farmer):
    who = key(farmer)
    small = book(client, who, booking(locker, ("frozen", "S"), start=0, end=2, pickup=5))
    moved = book(client, who, booking(locker, ("frozen", "S"), start=0, end=2, pickup=5))
    large = book(client, who, booking(locker, ("frozen", "L"), start=0, end=2, pickup=5))
    assert (small["compartments"], moved["compartments"], large["compartments"]) == (["C1"], ["C2"], ["C3"])
    assert client.post(f"/api/v1/orders/{small['id']}/cancel", headers=who).status_code == 200
    # An M part now needs C2: the small part booked there moves to the freed C1.
    medium = book(client, who, booking(locker, ("frozen", "M"), start=1, end=2, pickup=4))
    assert medium["compartments"] == ["C2"]
    assert client.get(f"/api/v1/orders/{moved['id']}", headers=who).json()["compartments"] == ["C1"]
    assert f"moved {moved['id']} to make room" in medium["history"][-1]["cause"]
    (entry,) = client.get("/api/v1/audit", headers=ADMIN, params={"subject": f"order:{moved['id']}"}).json()
    assert (entry["action"], entry["old"], entry["new"]["compartments"]) == (
        "order.moved",
        {"compartments": ["C2"]},
        ["C1"],
    )


def test_a_booking_whose_window_is_open_stays_where_the_vendor_was_sent(client, locker, farmer):
    who = key(farmer)
    gone = book(client, who, booking(locker, ("frozen", "S")))  # windows open now
    sent = book(client, who, booking(locker, ("frozen", "S")))
    book(client, who, booking(locker, ("frozen", "L")))
    assert sent["compartments"] == ["C2"]
    client.post(f"/api/v1/orders/{gone['id']}/cancel", headers=who)
    # Moving `sent` to C1 would make room, but its vendor may already be at the door of C2.
    refused = book(client, who, booking(locker, ("frozen", "M")), status=409)
    assert "no free frozen compartment of size M or larger" in refused["detail"]
    assert client.get(f"/api/v1/orders/{sent['id']}", headers=who).json()["compartments"] == ["C2"]


def test_a_full_window_proposes_a_later_one_and_the_village_s_other_lockers(client, locker, farmer):
    other = f"{locker}-b"
    body = {"id": other, "name": "Bij de bakker", "village": "Zwartsluis", "layout": DEMO_LAYOUT}
    assert client.post("/api/v1/lockers", headers=ADMIN, json=body).status_code == 201
    who = key(farmer)
    for _ in range(3):
        book(client, who, booking(locker, ("frozen", "S"), start=0, end=2, pickup=6))
    refused = book(client, who, booking(locker, ("frozen", "S"), start=1, end=3, pickup=5), status=409)
    assert refused["detail"].startswith(f"no free frozen compartment of size S or larger at {locker} (3 frozen")
    later, nearby = refused["alternatives"]
    assert later["locker"] == locker and datetime.fromisoformat(later["window_start"]) >= datetime.fromisoformat(at(6))
    assert nearby == {
        "locker": other,
        "window_start": refused["alternatives"][1]["window_start"],
        "window_end": refused["alternatives"][1]["window_end"],
        "pickup_by": refused["alternatives"][1]["pickup_by"],
    }
    assert datetime.fromisoformat(nearby["window_start"]) == datetime.fromisoformat(at(1))
    # The proposal works as it stands.
    taken = booking(other, ("frozen", "S"), start=1, end=3, pickup=5)
    assert book(client, who, taken)["locker"] == other


@pytest.mark.parametrize(
    ("dropoff", "pickup", "says"),
    [
        ((-48, -46), None, "dropoff.start: "),
        ((2, 1), None, "must come after dropoff.start"),
        ((0, 30), None, "a drop-off window lasts at most 24 hours"),
        ((0, 2), 1, "must come after the drop-off window ends"),
        ((0, 2), 27, "is too late for the food: it may wait 24 hours after the drop-off window"),
        ((24 * 70, 24 * 70 + 1), None, "more than 60 days ahead"),
    ],
    ids=["in-the-past", "ends-before-it-starts", "too-long", "pickup-before-dropoff", "too-late-for-food", "too-far"],
)
def test_impossible_times_are_refused_with_a_reason(client, locker, farmer, dropoff, pickup, says):
    body = booking(locker, ("frozen", "S"), start=dropoff[0], end=dropoff[1], pickup=pickup)
    refused = book(client, key(farmer), body, status=422)
    assert says in refused["detail"]
    assert client.get("/api/v1/orders", headers=ADMIN, params={"locker": locker}).json() == []


def test_the_locker_learns_when_each_drop_off_opens(client, locker, farmer, edge):
    order = book(client, key(farmer), booking(locker, ("chilled", "S"), start=0, end=2, pickup=5))
    (grant,) = edge.latest_desired(2).dropoffs
    assert grant.order == order["id"] and grant.opens == datetime.fromisoformat(at(0))
    assert grant.until == datetime.fromisoformat(at(2))


def test_vendors_sharing_a_compartment_each_load_their_own_part(client, locker, farmer, baker, edge):
    full = [book(client, ADMIN, {
        "locker": locker, "resident": {"name": "Buurman"},
        "parts": [{"zone": "chilled", "size": "S", "vendor": farmer["id"]}],
    }) for _ in range(2)]  # fmt: skip
    assert {c for o in full for c in o["compartments"]} == {"B1", "B2"}
    shared = book(client, ADMIN, {
        "locker": locker, "resident": {"name": "Mevrouw Bakker"},
        "parts": [{"zone": "chilled", "size": "S", "vendor": farmer["id"]},
                  {"zone": "chilled", "size": "S", "vendor": baker["id"]}],
    })  # fmt: skip
    assert shared["compartments"] == ["B3"] and [p["compartment"] for p in shared["parts"]] == ["B3", "B3"]
    edge.event(EventKind.LOADED, compartment="B3", order=shared["id"], vendor=farmer["id"])
    wait_until(
        lambda: client.get(f"/api/v1/orders/{shared['id']}", headers=ADMIN).json()["parts"][0]["loaded_at"], 10,
        "the farmer's part loaded",
    )  # fmt: skip
    assert order_status(client, shared["id"], ADMIN) == "assigned"  # the baker's part is still to come
    edge.event(EventKind.LOADED, compartment="B3", order=shared["id"], vendor=baker["id"])
    wait_status(client, shared["id"], ADMIN, "ready")
