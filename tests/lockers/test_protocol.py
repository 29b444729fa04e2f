"""Topic parsing and payload decoding: the pure halves of the wire protocol."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lockers.errors import MalformedMessage
from lockers.layout import Zone
from lockers.protocol import codec
from lockers.protocol.messages import DesiredState, Event, EventKind, Quality, Reading, StateMessage, Telemetry
from lockers.protocol.topics import Channel, TopicAddress, cloud_subscription, parse_topic, topic

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("dk/v1/demo-1/state", TopicAddress("demo-1", Channel.STATE)),
        ("dk/v1/demo-1/telemetry", TopicAddress("demo-1", Channel.TELEMETRY)),
        ("dk/v1/zwartsluis-2/events", TopicAddress("zwartsluis-2", Channel.EVENTS)),
        ("dk/v1/demo-1/cmd/ack", TopicAddress("demo-1", Channel.CMD_ACK)),
    ],
)
def test_parse_topic(name, expected):
    assert parse_topic(name) == expected
    assert topic(expected.locker, expected.channel) == name


@pytest.mark.parametrize(
    "name",
    [
        "dk/v2/demo-1/state",
        "dk/v1/Demo/state",
        "dk/v1/demo-1/nope",
        "dk/v1//state",
        "dk/v1/demo-1",
        "x",
        "dk/v1/+/state",
    ],
)
def test_parse_topic_refuses(name):
    with pytest.raises(MalformedMessage):
        parse_topic(name)


def test_topic_refuses_unsafe_locker_ids():
    with pytest.raises(ValueError):
        topic("a/b", Channel.STATE)


def test_shared_subscription():
    assert cloud_subscription(Channel.TELEMETRY) == "dk/v1/+/telemetry"
    assert cloud_subscription(Channel.TELEMETRY, "cloud") == "$share/cloud/dk/v1/+/telemetry"


def test_round_trip_every_channel_model():
    messages = {
        Channel.STATE: StateMessage(state="online", agent="0.1.0"),
        Channel.TELEMETRY: Telemetry(
            readings=[
                Reading(sensor="28-00000000b001", zone=Zone.CHILLED, ts=NOW, celsius=4.0625),
                Reading(sensor="28-00000000c001", zone=Zone.FROZEN, ts=NOW, quality=Quality.POWER_ON_RESET),
            ]
        ),
        Channel.EVENTS: Event(id="a" * 32, seq=1, ts=NOW, kind=EventKind.LOADED, compartment="B2", order="K7M2Q9XH"),
        Channel.DESIRED: DesiredState(version=3, issued_at=NOW, pin_salt="0" * 32),
    }
    for channel, message in messages.items():
        assert codec.decode(channel, codec.encode(message)) == message


@pytest.mark.parametrize(
    ("channel", "payload", "fragment"),
    [
        (Channel.EVENTS, b"not json", "events"),
        (Channel.EVENTS, b"{}", "id"),
        (Channel.STATE, b'{"v": 2, "state": "online"}', "v"),
        (Channel.STATE, b'{"state": "sleeping"}', "state"),
        (Channel.TELEMETRY, b'{"readings": []}', "readings"),
        (
            Channel.TELEMETRY,
            b'{"readings": [{"sensor": "28-00000000b001", "zone": "chilled", "ts": "2026-11-26T12:00:00Z"}]}',
            "temperature",
        ),
        (
            Channel.TELEMETRY,
            b'{"readings": [{"sensor": "28-00000000b001", "zone": "chilled", '
            b'"ts": "2026-11-26T12:00:00", "celsius": 4}]}',
            "timezone",
        ),
        (Channel.EVENTS, b"[" * 300_000, "exceeds"),
    ],
)
def test_decode_refuses_with_a_reason(channel, payload, fragment):
    with pytest.raises(MalformedMessage) as refused:
        codec.decode(channel, payload)
    assert fragment in str(refused.value)


def test_unknown_fields_from_newer_peers_are_ignored():
    message = codec.decode(Channel.STATE, b'{"v": 1, "state": "online", "uptime_s": 12}')
    assert message == StateMessage(state="online")


def test_preview_truncates():
    assert codec.preview(b"x" * 500, limit=10) == "x" * 10 + "…"
    assert codec.preview(b"\xff\xfeok").endswith("ok")
