"""The real agent on gpiozero mock pins against the real broker, with the test playing the cloud."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from dorpskluis import __version__
from edge.agent import AgentError
from lockers.protocol.messages import (
    DepositGrant,
    EventKind,
    Method,
    RejectReason,
    Reported,
    RetrievalGrant,
    StateMessage,
)
from lockers.protocol.topics import Channel
from tests.edge.codes_fixture import NOW, CodeBook, desired, dropoff, grant
from tests.edge.harness import CloudSide, edge_config, running_rig
from tests.support import wait_until

KEY = CodeBook().key
K = EventKind

DESIRED = desired(
    3,
    pickups=[
        grant("ord-multi", "aa000001", "482913", ["B2", "C1", "A2"]),
        grant("ord-single", "aa000002", "730551", ["B3"]),
    ],
    dropoffs=[
        dropoff("ord-7", "bakkerij-x", ["A1"]),
        dropoff("ord-8", "bakkerij-x", ["A3"]),
        dropoff("ord-8", "slagerij-y", ["B4"]),
    ],
    unlock_pulse_s=0.2,
    pin_max_attempts=3,
    pin_lockout_s=300,
)


@pytest.fixture
def book(locker):
    return CodeBook(locker=locker, key=KEY)


@pytest.fixture
def config(broker, book, locker, tmp_path):
    return edge_config(broker, book, locker, tmp_path / "state")


def reported_version(cloud: CloudSide, version: int, timeout: float = 10.0) -> Reported:
    return cloud.wait_for(Channel.REPORTED, lambda m: m.desired_version == version, timeout)


def test_birth_online_then_offline_on_clean_stop(cloud, config):
    with running_rig(config):
        online = cloud.wait_for(Channel.STATE, lambda m: m.state == "online")
        assert online == StateMessage(state="online", agent=__version__)
    offline = cloud.wait_for(Channel.STATE, lambda m: m.state == "offline")
    assert offline.agent is None
    # Retained: a cloud that subscribes afterwards learns the locker is offline.
    late = CloudSide(cloud.broker, cloud.locker)
    assert late.wait_for(Channel.STATE, lambda m: True).state == "offline"
    late.session.stop()


def test_desired_state_is_applied_persisted_and_reported(cloud, config):
    cloud.publish_desired(DESIRED)
    with running_rig(config) as rig:
        reported = reported_version(cloud, 3)
        assert reported.agent == __version__
        assert reported.doors == {c.id: "closed" for c in config.layout.compartments}
        assert rig.store.desired() == DESIRED
        assert rig.agent.status()["desired_version"] == 3
        assert rig.agent.stats["desired_applied"] == 1


def test_stale_desired_version_is_ignored(cloud, config):
    cloud.publish_desired(DESIRED)
    with running_rig(config) as rig:
        reported_version(cloud, 3)
        cloud.publish_desired(desired(2, pickups=[grant("ord-old", "aa0000ee", "123987", ["A1"])]))
        cloud.publish_desired(DESIRED)  # the same version again (a retained redelivery)
        wait_until(lambda: rig.agent.stats["desired_ignored"] == 2, what="two ignored desired states")
        assert rig.store.desired() == DESIRED
        newer = desired(4, pickups=DESIRED.pickups)
        cloud.publish_desired(newer)
        reported_version(cloud, 4)
        assert rig.store.desired_version() == 4


def test_desired_survives_a_restart_and_old_versions_stay_ignored(cloud, config):
    cloud.publish_desired(DESIRED)
    with running_rig(config) as rig:
        reported_version(cloud, 3)
    with running_rig(config) as rig:
        # The retained v3 comes again (amqtt sends it twice: on connect and on re-subscribe): already held,
        # so ignored, and the reported version is still 3.
        wait_until(lambda: rig.agent.stats["desired_ignored"] >= 1, what="retained redelivery ignored")
        assert rig.agent.stats["desired_applied"] == 0
        assert rig.agent.status()["desired_version"] == 3


@pytest.mark.parametrize(
    "payload",
    # (oversized payloads never arrive: the broker's message_size_limit matches the codec's)
    [b"{not json", b'{"v": 1, "version": "three"}', b'{"v": 2, "version": 5}', b"", b"\xff\xfe" * 5000],
    ids=["not-json", "wrong-type", "future-schema", "empty", "binary-10k"],
)
def test_malformed_desired_is_counted_and_dropped(cloud, config, payload, caplog):
    with running_rig(config) as rig:
        cloud.wait_for(Channel.STATE, lambda m: m.state == "online")
        with caplog.at_level(logging.WARNING, logger="edge"):
            cloud.publish_desired(payload)
            wait_until(lambda: rig.agent.stats["malformed"] == 1, what="malformed message counted")
        warnings = [r for r in caplog.records if r.name == "edge.link" and r.levelno == logging.WARNING]
        assert warnings and all(r.exc_info is None for r in warnings)
        assert all(len(r.getMessage()) < 600 for r in warnings)  # truncated
        # Still alive and working.
        cloud.publish_desired(DESIRED)
        reported_version(cloud, 3)


def test_qr_pickup_opens_every_zone_and_collects(cloud, config, book):
    cloud.publish_desired(DESIRED)
    with running_rig(config) as rig:
        reported_version(cloud, 3)
        for cid in ("A2", "B2", "C1", "B3"):
            rig.lock_pin(cid).clear_states()
        result = rig.agent.scan(book.pickup("ord-multi", ["B2", "C1", "A2"], code_id="aa000001"))
        assert result.ok and result.opened == ["A2", "B2", "C1"] and result.reason is None
        assert "A2, B2 and C1" in result.message
        unlocked = cloud.wait_events(K.UNLOCKED, 3)
        assert {(e.compartment, e.method, e.order, e.code_id) for e in unlocked} == {
            (c, Method.QR, "ord-multi", "aa000001") for c in ("A2", "B2", "C1")
        }
        for cid in ("A2", "B2", "C1"):
            wait_until(lambda cid=cid: len(rig.lock_pin(cid).states) == 3, what=f"{cid} relay pulsed")
            rig.lock_pin(cid).assert_states([False, True, False])
        assert len(rig.lock_pin("B3").states) == 1  # nothing else energised
        assert rig.store.consumed_codes() == {"aa000001"}

        rig.open_and_close("A2", "B2", "C1")
        collected = cloud.wait_events(K.COLLECTED, 3)
        assert {(e.compartment, e.order, e.code_id, e.method) for e in collected} == {
            (c, "ord-multi", "aa000001", Method.QR) for c in ("A2", "B2", "C1")
        }
        assert len(cloud.events(K.DOOR_OPENED)) == 3 and len(cloud.events(K.DOOR_CLOSED)) == 3
        assert cloud.events(K.TAMPER) == []

        # Single use: the same QR again, and the order's PIN, are refused.
        again = rig.agent.scan(book.pickup("ord-multi", ["B2", "C1", "A2"], code_id="aa000001"))
        assert (again.ok, again.reason, again.opened) == (False, RejectReason.ALREADY_USED, [])
        assert rig.agent.scan("482913").reason is RejectReason.ALREADY_USED


def test_pin_pickup(cloud, config):
    cloud.publish_desired(DESIRED)
    with running_rig(config) as rig:
        reported_version(cloud, 3)
        result = rig.agent.scan("730551")
        assert result.ok and result.opened == ["B3"]
        rig.open_and_close("B3")
        (collected,) = cloud.wait_events(K.COLLECTED)
        assert (collected.compartment, collected.order, collected.method) == ("B3", "ord-single", Method.PIN)


def test_vendor_code_opens_only_its_dropoffs_and_loads(cloud, config, book):
    cloud.publish_desired(DESIRED)
    with running_rig(config) as rig:
        reported_version(cloud, 3)
        result = rig.agent.scan(book.vendor("bakkerij-x", code_id="cc000001"))
        assert result.ok and result.opened == ["A1", "A3"]
        unlocked = cloud.wait_events(K.UNLOCKED, 2)
        assert {(e.compartment, e.order, e.vendor, e.method) for e in unlocked} == {
            ("A1", "ord-7", "bakkerij-x", Method.VENDOR),
            ("A3", "ord-8", "bakkerij-x", Method.VENDOR),
        }
        wait_until(lambda: len(rig.lock_pin("A3").states) >= 3, what="A3 relay pulsed")
        assert len(rig.lock_pin("B4").states) == 1  # the butcher's compartment stayed shut

        rig.open_and_close("A1")
        (loaded,) = cloud.wait_events(K.LOADED)
        assert (loaded.compartment, loaded.order, loaded.vendor) == ("A1", "ord-7", "bakkerij-x")
        # Loaded locally: the next scan opens only what is still pending, even before the cloud confirms.
        again = rig.agent.scan(book.vendor("bakkerij-x", code_id="cc000001"))
        assert again.opened == ["A3"]
        rig.open_and_close("A3")
        cloud.wait_events(K.LOADED, 2)
        done = rig.agent.scan(book.vendor("bakkerij-x", code_id="cc000001"))
        assert (done.ok, done.reason, done.message) == (
            False,
            RejectReason.NOTHING_TO_OPEN,
            "Nothing to load here for bakkerij-x.",
        )


def test_vendor_takes_back_expired_goods_and_a_resident_puts_a_return_in(cloud, config, book):
    state = DESIRED.model_copy(
        update={
            "version": 4,
            "retrievals": [RetrievalGrant(order="ord-old", vendor="slagerij-y", compartments=["B5"], reason="expired")],
            "deposits": [
                DepositGrant(
                    order="ret-1",
                    code_id="dd000001",
                    compartments=["C3"],
                    opens=NOW - timedelta(hours=1),
                    until=NOW + timedelta(days=400),
                )
            ],
        }
    )
    cloud.publish_desired(state)
    with running_rig(config) as rig:
        reported_version(cloud, 4)
        taking = rig.agent.scan(book.vendor("slagerij-y", code_id="cc000002"))
        assert taking.ok and taking.opened == ["B4", "B5"] and taking.purpose == "load_and_retrieve"
        rig.open_and_close("B5")
        (retrieved,) = cloud.wait_events(K.RETRIEVED)
        assert (retrieved.compartment, retrieved.order, retrieved.vendor, retrieved.method) == (
            "B5",
            "ord-old",
            "slagerij-y",
            Method.VENDOR,
        )
        assert cloud.events(K.LOADED) == []  # B4 (the drop-off) is still open, not yet closed

        deposit = book.deposit("ret-1", ["C3"], code_id="dd000001", start=NOW - timedelta(hours=1))
        putting = rig.agent.scan(deposit)
        assert putting.ok and putting.opened == ["C3"] and putting.purpose == "deposit"
        rig.open_and_close("C3")
        (loaded,) = cloud.wait_events(K.LOADED)
        assert (loaded.compartment, loaded.order, loaded.code_id, loaded.method) == (
            "C3",
            "ret-1",
            "dd000001",
            Method.QR,
        )
        assert rig.agent.scan(deposit).reason is RejectReason.ALREADY_USED


@pytest.mark.parametrize(
    "make_code, reason, method",
    [
        (lambda b: b.pickup("o", ["B2"], code_id="aa0000f1", locker="elsewhere"), RejectReason.WRONG_LOCKER, Method.QR),
        (
            lambda b: b.pickup("o", ["B2"], code_id="aa0000f1", start=NOW - timedelta(days=3)),
            RejectReason.EXPIRED,
            Method.QR,
        ),
        (lambda b: "999999", RejectReason.WRONG_PIN, Method.PIN),
        (lambda b: b.vendor("nobody", code_id="cc000009"), RejectReason.NOTHING_TO_OPEN, Method.VENDOR),
    ],
    ids=["other-locker", "expired", "wrong-pin", "vendor-without-dropoffs"],
)
def test_refusals_publish_code_rejected_and_energise_nothing(cloud, config, book, make_code, reason, method):
    cloud.publish_desired(DESIRED)
    with running_rig(config) as rig:
        reported_version(cloud, 3)
        code = make_code(book)
        result = rig.agent.scan(code)
        assert (result.ok, result.opened, result.reason) == (False, [], reason)
        (event,) = cloud.wait_events(K.CODE_REJECTED)
        assert (event.reason, event.method) == (reason, method)
        assert code not in (event.detail or "")
        assert all(len(rig.lock_pin(c.id).states) == 1 for c in config.layout.compartments)
        assert rig.agent.status()["locks_energised"] == []
        assert cloud.events(K.UNLOCKED) == []


def test_pin_lockout(cloud, config, book):
    cloud.publish_desired(DESIRED)
    with running_rig(config) as rig:
        reported_version(cloud, 3)
        answers = [rig.agent.scan("111111") for _ in range(3)]
        assert [a.reason for a in answers] == [RejectReason.WRONG_PIN] * 3
        assert answers[-1].message == "Wrong PIN. The keypad is locked for 5 minutes."
        locked = rig.agent.scan("730551")  # the right PIN, too late
        assert (locked.ok, locked.reason) == (False, RejectReason.KEYPAD_LOCKED)
        assert rig.agent.status()["keypad_locked"] is True
        events = cloud.wait_events(K.CODE_REJECTED, 4)
        assert [e.reason for e in events] == [RejectReason.WRONG_PIN] * 3 + [RejectReason.KEYPAD_LOCKED]
        assert "locked for 300 s" in events[2].detail
        (lockout,) = cloud.wait_events(K.KEYPAD_LOCKED, 1)  # once, when the third wrong PIN locked it
        assert (lockout.count, lockout.seq) == (3, events[2].seq + 1)
        # QR codes still work while the keypad is locked.
        assert rig.agent.scan(book.pickup("ord-single", ["B3"], code_id="aa000002")).ok


def test_door_forced_open_is_tamper(cloud, config):
    with running_rig(config) as rig:
        cloud.wait_for(Channel.STATE, lambda m: m.state == "online")
        rig.door_pin("C2").drive_high()
        (tamper,) = cloud.wait_events(K.TAMPER)
        assert tamper.compartment == "C2"
        cloud.wait_for(Channel.REPORTED, lambda m: m.doors.get("C2") == "open")
        assert rig.agent.status()["doors"]["C2"] == "open"


def test_sequence_numbers_increase_and_survive_a_restart(cloud, config):
    # Without sensors, so that only the events made here are numbered (a missing sensor raises sensor_fault).
    config = config.model_copy(update={"layout": config.layout.model_copy(update={"sensors": ()})})
    with running_rig(config) as rig:
        for _ in range(3):
            rig.agent.scan("not a code")
        cloud.wait_events(K.CODE_REJECTED, 3)
    with running_rig(config) as rig:
        rig.agent.scan("still not a code")
        rig.door_pin("A4").drive_high()
        cloud.wait_events(K.TAMPER)
    events = sorted(cloud.events(), key=lambda e: e.seq)
    assert [(e.seq, e.kind) for e in events] == [
        (1, K.CODE_REJECTED),
        (2, K.CODE_REJECTED),
        (3, K.CODE_REJECTED),
        (4, K.CODE_REJECTED),
        (5, K.DOOR_OPENED),
        (6, K.TAMPER),
    ]
    assert len({e.id for e in events}) == 6


def test_scan_and_status_need_a_running_agent(config, cloud):
    with running_rig(config) as rig:
        pass
    with pytest.raises(AgentError, match="not running"):
        rig.agent.scan("482913")
    with pytest.raises(AgentError, match="not running"):
        rig.agent.status()
