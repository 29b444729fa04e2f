"""Trailing gaps and resend requests over the real broker: a `reported` that numbered more than arrived opens a
gap, the watchdog asks an online locker to send it again (and again while it stays open), the resent events fill
it, and the answer is recorded without being taken for an unknown command or an audit entry of a person."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from lockers.protocol.messages import CommandAck, EventKind, Reported, StateMessage
from lockers.protocol.topics import Channel
from tests.cloud.coldchain_support import alerts
from tests.cloud.conftest import ADMIN, EdgeProbe, cloud_settings, counter
from tests.support import wait_until

EVERY_S = 1.0


@pytest.fixture
def gap_alert_s() -> float:
    return 60.0


@pytest.fixture
def settings(database_url, broker, tmp_path, gap_alert_s):
    return cloud_settings(
        database_url,
        broker,
        tmp_path / "data",
        resend_after_s=0.3,
        resend_every_s=EVERY_S,
        event_gap_alert_s=gap_alert_s,
        watchdog_interval_s=0.05,
    )


def gaps(client, locker: str) -> dict:
    return client.get(f"/api/v1/lockers/{locker}/events/gaps", headers=ADMIN).json()


def resends(client, locker: str) -> list[dict]:
    """The locker's resend commands, oldest first."""
    listed = client.get(f"/api/v1/lockers/{locker}/commands", headers=ADMIN).json()["commands"]
    return [c for c in reversed(listed) if c["kind"] == "resend"]


def reported(last_seq: int) -> Reported:
    return Reported(desired_version=0, agent="edge 0.4", ts=datetime.now(UTC), last_seq=last_seq)


def online(edge: EdgeProbe) -> None:
    edge.send(Channel.STATE, StateMessage(state="online", agent="edge 0.4"))


@pytest.mark.parametrize("retain", [False, True], ids=["live", "retained"])
def test_a_trailing_gap_is_asked_for_and_closes_when_the_events_arrive(client, locker, edge, retain):
    online(edge)
    events = [edge.make_event(EventKind.DOOR_OPENED, compartment="A1") for _ in range(5)]
    for event in events[:3]:
        edge.send(Channel.EVENTS, event)
    # 4 and 5 were acknowledged by a broker that then died: only the locker's `reported` tells
    edge.send(Channel.REPORTED, reported(5), retain=retain)
    wait_until(lambda: gaps(client, locker)["gaps"], 10, "the trailing gap")
    view = gaps(client, locker)
    assert view["last_seq"] == 5 and [(g["from"], g["to"], g["quiet"]) for g in view["gaps"]] == [(4, 5, False)]

    (asked,) = wait_until(lambda: resends(client, locker), 10, "a resend request")
    assert (asked["issued_by"], asked["state"], asked["compartments"]) == ("cloud", "sent", [])
    assert asked["reason"].startswith("resend events 4-5: missing since ")
    received, was_retained = edge.command(asked["id"])
    assert (received.kind, received.from_seq, received.to_seq, received.issued_by) == ("resend", 4, 5, "cloud")
    assert not was_retained and not received.compartments
    assert received.expires_at - datetime.fromisoformat(asked["issued_at"]) == timedelta(minutes=10)
    (gap,) = gaps(client, locker)["gaps"]
    assert gap["resend_requests"] == 1 and gap["resend_requested_at"] is not None

    unknown = counter(client, "dropped_by_reason.unknown_command")
    for event in events[3:]:
        edge.send(Channel.EVENTS, event)  # the locker's archive: the same ids
    edge.send(Channel.CMD_ACK, CommandAck(id=received.id, ok=True, detail="resent 2 events; 0 no longer kept"))
    wait_until(lambda: gaps(client, locker)["gaps"] == [], 10, "the gap filled")
    done = wait_until(lambda: (c := resends(client, locker)[0])["state"] == "acknowledged" and c, 10, "the answer")
    assert done["detail"] == "resent 2 events; 0 no longer kept" and done["answered_at"] is not None
    assert counter(client, "dropped_by_reason.unknown_command") == unknown
    audit = client.get("/api/v1/audit", headers=ADMIN, params={"subject": f"command:{received.id}"}).json()
    assert audit == []  # nobody did anything: a system command is logged and listed, not audited
    numbering = client.get(f"/api/v1/lockers/{locker}", headers=ADMIN).json()["events"]
    assert (numbering["last_seq"], numbering["contiguous_to"], numbering["numbering"]) == (5, 5, 0)
    time.sleep(EVERY_S + 0.3)
    assert len(resends(client, locker)) == 1  # closed: not asked again


def test_a_gap_that_stays_open_is_asked_for_again_at_most_every_interval(client, locker, edge):
    online(edge)
    edge.event(EventKind.DOOR_OPENED, compartment="A1")
    edge.send(Channel.REPORTED, reported(4))
    wait_until(lambda: len(resends(client, locker)) >= 3, 10, "three requests")
    asked = resends(client, locker)
    times = [datetime.fromisoformat(c["issued_at"]) for c in asked]
    assert all(later - earlier >= timedelta(seconds=EVERY_S) for earlier, later in pairwise(times))
    assert all(c["reason"].startswith("resend events 2-4: ") for c in asked)
    assert "asked 2 time(s) before" in asked[2]["reason"]
    assert gaps(client, locker)["gaps"][0]["resend_requests"] >= 3
    assert alerts(client, locker, kind="event_gap") == []  # the alert still waits DK_EVENT_GAP_ALERT_S


def test_a_locker_that_is_offline_is_not_asked(client, locker, edge):
    edge.event(EventKind.DOOR_OPENED, compartment="A1")
    edge.send(Channel.STATE, StateMessage(state="offline"))
    edge.send(Channel.REPORTED, reported(3))
    wait_until(lambda: gaps(client, locker)["gaps"], 10, "the trailing gap")
    time.sleep(1.0)
    assert resends(client, locker) == []
    online(edge)  # back: asked now
    wait_until(lambda: resends(client, locker), 10, "a resend request once online")


def test_reported_below_what_arrived_or_from_an_older_agent_opens_nothing(client, locker, edge):
    online(edge)
    for _ in range(3):
        edge.event(EventKind.DOOR_OPENED, compartment="A1")
    edge.send(Channel.REPORTED, reported(2))
    edge.send(Channel.REPORTED, reported(0))  # an agent that does not say
    edge.send(Channel.REPORTED, reported(3))
    edge.event(EventKind.DOOR_CLOSED, compartment="A1")
    wait_until(lambda: gaps(client, locker)["last_seq"] == 4, 10, "event 4")
    assert gaps(client, locker)["gaps"] == []
    time.sleep(0.6)
    assert resends(client, locker) == []


@pytest.mark.parametrize("gap_alert_s", [2.0])  # well above how late the events may come on a busy machine
def test_a_reported_ahead_of_its_events_is_no_alarm(client, locker, edge, gap_alert_s):
    online(edge)
    events = [edge.make_event(EventKind.DOOR_OPENED, compartment="A1") for _ in range(3)]
    edge.send(Channel.REPORTED, reported(3))  # seen before its events (two cloud nodes, a redelivery)
    for event in events:
        edge.send(Channel.EVENTS, event)
    wait_until(lambda: gaps(client, locker)["last_seq"] == 3, 10, "the reported")
    wait_until(lambda: gaps(client, locker)["gaps"] == [], 10, "the events")
    time.sleep(gap_alert_s + 0.5)
    # A resend may have gone out if the events took longer than resend_after_s (0.3 s) on a busy machine:
    # harmless, the repeats are de-duplicated. What must not happen is an alarm.
    assert alerts(client, locker, kind="event_gap") == []
