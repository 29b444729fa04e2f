"""Topic parsing and payload decoding: the pure halves of the wire protocol."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from lockers.errors import MalformedMessage
from lockers.layout import Zone
from lockers.protocol import codec
from lockers.protocol.messages import (
    MAX_RESEND,
    Command,
    DesiredState,
    Event,
    EventKind,
    Quality,
    Reading,
    Reported,
    StateMessage,
    Telemetry,
)
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


# --- reported.last_seq and the resend command ------------------------------------------------------------

EXPIRES = "2026-11-26T12:10:00Z"


@pytest.mark.parametrize(
    ("payload", "last_seq"),
    [
        (b'{"desired_version": 3, "agent": "0.2.0", "ts": "2026-11-26T12:00:00Z"}', 0),  # an older agent
        (b'{"desired_version": 3, "agent": "0.3.0", "ts": "2026-11-26T12:00:00Z", "last_seq": 0}', 0),
        (b'{"desired_version": 3, "agent": "0.3.0", "ts": "2026-11-26T12:00:00Z", "last_seq": 4711}', 4711),
    ],
    ids=["absent", "zero", "numbered"],
)
def test_reported_says_the_newest_event_number(payload, last_seq):
    reported = codec.decode(Channel.REPORTED, payload)
    assert isinstance(reported, Reported) and reported.last_seq == last_seq
    assert codec.decode(Channel.REPORTED, codec.encode(reported)) == reported


def test_reported_refuses_a_negative_last_seq():
    with pytest.raises(MalformedMessage, match="last_seq"):
        codec.decode(
            Channel.REPORTED, b'{"desired_version": 3, "agent": "a", "ts": "2026-11-26T12:00:00Z", "last_seq": -1}'
        )


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"kind": "unlock", "compartments": ["A1", "B2"]}, ("unlock", ["A1", "B2"], None, None)),
        ({"kind": "resend", "from_seq": 8, "to_seq": 10}, ("resend", [], 8, 10)),
        ({"kind": "resend", "from_seq": 5, "to_seq": 5}, ("resend", [], 5, 5)),
        ({"kind": "resend", "from_seq": 1, "to_seq": MAX_RESEND}, ("resend", [], 1, MAX_RESEND)),
    ],
    ids=["unlock", "resend", "resend-one", "resend-the-most"],
)
def test_commands_of_each_kind(fields, expected):
    body = {"id": "ab" * 16, "expires_at": EXPIRES, "issued_by": "cloud", **fields}
    command = codec.decode(Channel.CMD, json.dumps(body).encode())
    assert isinstance(command, Command)
    assert (command.kind, command.compartments, command.from_seq, command.to_seq) == expected
    assert codec.decode(Channel.CMD, codec.encode(command)) == command


def test_an_unlock_encodes_as_before():
    command = Command(id="ab" * 16, kind="unlock", compartments=["A1"], expires_at=EXPIRES, issued_by="Anna")
    assert json.loads(codec.encode(command)) == {
        "v": 1,
        "id": "ab" * 16,
        "kind": "unlock",
        "compartments": ["A1"],
        "expires_at": "2026-11-26T12:10:00Z",
        "issued_by": "Anna",
    }


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"kind": "unlock"}, "at least one compartment"),
        ({"kind": "unlock", "compartments": []}, "at least one compartment"),
        ({"kind": "unlock", "compartments": ["A1"], "from_seq": 1, "to_seq": 2}, "no sequence range"),
        ({"kind": "resend", "from_seq": 3}, "from_seq and to_seq"),
        ({"kind": "resend", "to_seq": 3}, "from_seq and to_seq"),
        ({"kind": "resend", "from_seq": 0, "to_seq": 3}, "from_seq"),
        ({"kind": "resend", "from_seq": 9, "to_seq": 8}, "to_seq must not be below from_seq"),
        ({"kind": "resend", "from_seq": 1, "to_seq": MAX_RESEND + 1}, f"at most {MAX_RESEND}"),
        ({"kind": "resend", "from_seq": 1, "to_seq": 2, "compartments": ["A1"]}, "opens nothing"),
        ({"kind": "reboot", "compartments": ["A1"]}, "kind"),
    ],
    ids=[
        "unlock-without-compartments",
        "unlock-empty",
        "unlock-with-range",
        "resend-without-end",
        "resend-without-start",
        "resend-from-zero",
        "resend-backwards",
        "resend-too-long",
        "resend-with-compartments",
        "unknown-kind",
    ],
)
def test_commands_refused(fields, fragment):
    body = {"id": "ab" * 16, "expires_at": EXPIRES, "issued_by": "cloud", **fields}
    with pytest.raises(MalformedMessage) as refused:
        codec.decode(Channel.CMD, json.dumps(body).encode())
    assert fragment in str(refused.value)


def test_messages_stay_frozen():
    command = Command(id="ab" * 16, kind="resend", from_seq=1, to_seq=2, expires_at=EXPIRES, issued_by="cloud")
    with pytest.raises(ValidationError):
        command.to_seq = 3  # type: ignore[misc]
