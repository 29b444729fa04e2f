"""Topic tree `dk/v1/{locker}/{channel}`: building and parsing, pure functions."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from lockers.errors import MalformedMessage
from lockers.layout import is_locker_id

ROOT = "dk/v1"


class Channel(StrEnum):
    """The per-locker subtopics; the value is the topic suffix."""

    STATE = "state"
    TELEMETRY = "telemetry"
    EVENTS = "events"
    DESIRED = "desired"
    REPORTED = "reported"
    CMD = "cmd"
    CMD_ACK = "cmd/ack"


# Which side publishes each channel; the broker ACL mirrors this split.
EDGE_PUBLISHES = frozenset({Channel.STATE, Channel.TELEMETRY, Channel.EVENTS, Channel.REPORTED, Channel.CMD_ACK})
CLOUD_PUBLISHES = frozenset({Channel.DESIRED, Channel.CMD})


@dataclass(frozen=True, slots=True)
class TopicAddress:
    """A parsed topic: which locker, which channel."""

    locker: str
    channel: Channel


def topic(locker: str, channel: Channel) -> str:
    """The topic of `channel` for `locker`."""
    if not is_locker_id(locker):
        raise ValueError(f"invalid locker id {locker!r}")
    return f"{ROOT}/{locker}/{channel.value}"


def cloud_subscription(channel: Channel, shared_group: str | None = None) -> str:
    """Wildcard filter the cloud uses for one edge channel, optionally as a shared subscription."""
    pattern = f"{ROOT}/+/{channel.value}"
    return f"$share/{shared_group}/{pattern}" if shared_group else pattern


def parse_topic(name: str) -> TopicAddress:
    """Split a topic into locker and channel, or raise MalformedMessage."""
    prefix = ROOT + "/"
    if not name.startswith(prefix):
        raise MalformedMessage(f"topic {name[:80]!r} is outside {ROOT}/")
    locker, _, suffix = name[len(prefix) :].partition("/")
    if not is_locker_id(locker):
        raise MalformedMessage(f"topic {name[:80]!r} names no valid locker")
    try:
        channel = Channel(suffix)
    except ValueError:
        raise MalformedMessage(f"topic {name[:80]!r} has unknown channel {suffix[:40]!r}") from None
    return TopicAddress(locker, channel)
