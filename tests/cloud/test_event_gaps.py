"""Per-locker event numbering over the real broker: gaps are shown and filled, a gap open too long raises an
event_gap alert that clears once filled, and a locker whose numbering starts again is recognised."""

from __future__ import annotations

import pytest

from lockers.protocol.messages import EventKind
from lockers.protocol.topics import Channel
from tests.cloud.coldchain_support import alerts
from tests.cloud.conftest import ADMIN, EdgeProbe, cloud_settings, counter, key, wait_count
from tests.support import wait_until


@pytest.fixture
def settings(database_url, broker, tmp_path):
    return cloud_settings(database_url, broker, tmp_path / "data", event_gap_alert_s=0.5, watchdog_interval_s=0.05)


def numbering(client, locker: str) -> dict:
    return client.get(f"/api/v1/lockers/{locker}", headers=ADMIN).json()["events"]


def door_events(edge: EdgeProbe, count: int) -> list:
    return [edge.make_event(EventKind.DOOR_OPENED, compartment="A1") for _ in range(count)]


def send(edge: EdgeProbe, *events) -> None:
    for event in events:
        edge.send(Channel.EVENTS, event)


def test_gaps_are_shown_and_filled(client, locker, edge):
    assert numbering(client, locker) == {
        "last_seq": 0,
        "contiguous_to": 0,
        "gaps": [],
        "missing": 0,
        "numbering": 0,
        "restarted_at": None,
        "written_off": [],
    }
    e = door_events(edge, 7)
    send(edge, e[0], e[1], e[4], e[6])
    wait_until(lambda: numbering(client, locker)["last_seq"] == 7, 10, "event 7 taken in")
    seen = numbering(client, locker)
    assert (seen["contiguous_to"], seen["gaps"], seen["missing"]) == (2, [[3, 4], [6, 6]], 3)
    detail = client.get(f"/api/v1/lockers/{locker}/events/gaps", headers=ADMIN).json()
    assert [(g["from"], g["to"], g["count"]) for g in detail["gaps"]] == [(3, 4, 2), (6, 6, 1)]
    assert detail["locker"] == locker and detail["alert_after_s"] == 0.5 and detail["last_seq"] == 7
    send(edge, e[5], e[3], e[2])
    wait_until(lambda: numbering(client, locker)["gaps"] == [], 10, "gaps filled")
    assert numbering(client, locker)["contiguous_to"] == 7


def test_a_gap_open_too_long_raises_an_alert_that_clears_when_filled(client, locker, edge):
    e = door_events(edge, 4)
    send(edge, e[0], e[3])
    (alert,) = wait_until(lambda: alerts(client, locker, kind="event_gap"), 10, "event_gap alert")
    assert (alert["state"], alert["severity"], alert["zone"], alert["order"]) == ("raised", "warning", None, None)
    assert alert["detail"].startswith(f"locker {locker}: events 2-3 (2) for ")
    assert alert["detail"].endswith(" min missing")
    assert client.get(f"/api/v1/lockers/{locker}/events/gaps", headers=ADMIN).json()["gaps"][0]["overdue"] is True
    send(edge, e[2])
    assert alerts(client, locker, kind="event_gap")[0]["state"] == "raised"  # 2 is still missing
    send(edge, e[1])
    wait_until(lambda: alerts(client, locker, kind="event_gap", state="cleared"), 10, "event_gap alert cleared")
    assert len(alerts(client, locker, kind="event_gap")) == 1


def test_a_locker_that_starts_numbering_again_is_recognised(client, locker, edge):
    e = door_events(edge, 5)
    send(edge, e[0], e[1], e[3], e[4])  # 3 never arrives: the locker's store is wiped before it could resend it
    wait_until(lambda: alerts(client, locker, kind="event_gap"), 10, "event_gap alert for event 3")
    edge.seq = 0  # a fresh store numbers from 1 again
    again = door_events(edge, 3)
    duplicates = counter(client, "duplicates")
    send(edge, again[1], again[0], again[2], again[0])
    wait_count(client, "duplicates", duplicates + 1)
    seen = numbering(client, locker)
    assert (seen["numbering"], seen["last_seq"], seen["contiguous_to"], seen["gaps"]) == (1, 3, 3, [])
    assert seen["written_off"] == [[3, 3]] and seen["restarted_at"] is not None
    # the gap of the old numbering can never fill: the alert clears as written off, not as filled
    wait_until(lambda: alerts(client, locker, kind="event_gap", state="cleared"), 10, "event_gap alert cleared")
    # the event list shows the new numbering first
    stored = client.get(f"/api/v1/lockers/{locker}/events", headers=ADMIN).json()["events"]
    assert [(s["numbering"], s["seq"]) for s in stored] == [(1, 3), (1, 2), (1, 1), (0, 5), (0, 4), (0, 2), (0, 1)]
    assert len(stored) == len({s["id"] for s in stored}) == 7


def test_a_repeat_of_an_old_event_is_no_restart(client, locker, edge):
    e = door_events(edge, 3)
    send(edge, *e)
    wait_until(lambda: numbering(client, locker)["last_seq"] == 3, 10, "three events")
    duplicates = counter(client, "duplicates")
    send(edge, e[0])  # the same id again (QoS 1, or an outbox replay)
    wait_count(client, "duplicates", duplicates + 1)
    assert numbering(client, locker)["numbering"] == 0


def test_numbering_is_for_admins(client, locker, farmer):
    assert client.get(f"/api/v1/lockers/{locker}", headers=key(farmer)).json()["events"] is None
    assert client.get(f"/api/v1/lockers/{locker}/events/gaps", headers=key(farmer)).status_code == 403
    missing = client.get("/api/v1/lockers/t-nosuchlocker/events/gaps", headers=ADMIN)
    assert missing.status_code == 404 and missing.json() == {"detail": "no locker 't-nosuchlocker'"}


def test_an_agent_restored_from_an_old_backup_is_no_alarm(client, locker, edge):
    send(edge, *door_events(edge, 30))
    wait_until(lambda: numbering(client, locker)["last_seq"] == 30, 10, "thirty events")
    edge.seq = 11  # its store comes back from a backup that ended at event 11
    send(edge, *door_events(edge, 2))
    wait_until(lambda: numbering(client, locker)["last_seq"] == 13, 10, "a new numbering up to 13")
    seen = numbering(client, locker)
    assert (seen["numbering"], seen["last_seq"], seen["gaps"]) == (1, 13, [[1, 11]])
    (gap,) = client.get(f"/api/v1/lockers/{locker}/events/gaps", headers=ADMIN).json()["gaps"]
    assert gap["quiet"] is True
    # numbers below a restart may never come: written off when overdue, without an alert
    wait_until(lambda: numbering(client, locker)["gaps"] == [], 10, "the quiet gap written off")
    assert numbering(client, locker)["written_off"] == [[1, 11]]
    assert alerts(client, locker, kind="event_gap") == []
