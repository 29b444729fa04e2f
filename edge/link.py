"""The agent's uplink: what it needs from a transport, and the factory that builds the real MQTT session."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

import dorpskluis
from edge.config import EdgeConfig
from lockers.errors import MalformedMessage
from lockers.mqtt import Inbound, MqttSession, Outbound
from lockers.protocol import codec
from lockers.protocol.messages import Message, StateMessage
from lockers.protocol.topics import Channel, parse_topic, topic

log = logging.getLogger(__name__)

AGENT_VERSION = dorpskluis.__version__

# Topics and retain flag of everything the edge publishes (docs/protocol.md, topic tree).
RETAINED = frozenset({Channel.STATE, Channel.REPORTED})


class Transport(Protocol):
    """What the agent uses of `lockers.mqtt.MqttSession`."""

    @property
    def connected(self) -> bool: ...

    @property
    def suspended(self) -> bool: ...

    def start(self) -> None: ...

    def publish(self, message: Outbound, on_acked: Callable[[], None] | None = None) -> object: ...

    def suspend(self) -> None: ...

    def resume(self) -> None: ...

    def stop(self, final: Sequence[Outbound] = (), timeout: float = 2.0) -> None: ...


# Builds a transport that hands inbound messages and connection changes to the agent's queue.
TransportFactory = Callable[[Callable[[Inbound], None], Callable[[bool], None]], Transport]


def outbound(locker: str, channel: Channel, message: Message) -> Outbound:
    """A message of ours on `channel`, QoS 1, retained where the protocol says so."""
    return Outbound(topic(locker, channel), codec.encode(message), qos=1, retain=channel in RETAINED)


def receive(locker: str, message: Inbound) -> Message | None:
    """The model of a message received for `locker`; None (logged, truncated) when topic or payload is malformed."""
    try:
        address = parse_topic(message.topic)
        if address.locker != locker:
            raise MalformedMessage(f"topic {message.topic[:80]!r} is not about locker {locker}")
        return codec.decode(address.channel, message.payload)
    except MalformedMessage as exc:
        log.warning(
            "dropped malformed message on %s: %s; payload %s", message.topic[:80], exc, codec.preview(message.payload)
        )
        return None


def online(locker: str) -> Outbound:
    return outbound(locker, Channel.STATE, StateMessage(state="online", agent=AGENT_VERSION))


def offline(locker: str) -> Outbound:
    return outbound(locker, Channel.STATE, StateMessage(state="offline"))


def mqtt_transport(config: EdgeConfig) -> TransportFactory:
    """Factory of the real session: client id = locker id, persistent, Last Will `offline`, birth `online`."""

    def build(on_message: Callable[[Inbound], None], on_connection: Callable[[bool], None]) -> MqttSession:
        locker = config.locker
        return MqttSession(
            config.mqtt.address(),
            locker,
            on_message=on_message,
            on_connection=on_connection,
            subscriptions=[(topic(locker, Channel.DESIRED), 1), (topic(locker, Channel.CMD), 1)],
            will=offline(locker),
            birth=[online(locker)],
            persistent=True,
        )

    return build
