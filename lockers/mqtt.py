"""The only module that imports paho: an MQTT session that speaks in our own frozen message types.

Callbacks run on paho's network thread; they only hand inbound messages to the caller's `on_message`
(which must itself just enqueue) and never do work. Subscriptions and birth messages are renewed in
on_connect, so a broker restart or a lost persistent session heals itself.
"""

from __future__ import annotations

import functools
import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from lockers.errors import TransportError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Inbound:
    """A message received from the broker."""

    topic: str
    payload: bytes
    retained: bool = False


@dataclass(frozen=True, slots=True)
class Outbound:
    """A message to publish."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where and as whom to connect."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)


class Delivery:
    """Handle on a publish: `wait` tells whether the broker acknowledged it in time."""

    def __init__(self, info: paho.MQTTMessageInfo) -> None:
        self._info = info

    def wait(self, timeout: float) -> bool:
        if self._info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN:
            # Queued while offline: paho sends it after reconnecting but its public waiters raise on the
            # NO_CONN return code, so watch the acknowledgement flag paho sets on PUBACK instead.
            deadline = time.monotonic() + timeout
            while not self._info._published and time.monotonic() < deadline:  # noqa: SLF001
                time.sleep(0.02)
            return self._info._published  # noqa: SLF001
        try:
            self._info.wait_for_publish(timeout)
        except (RuntimeError, ValueError):
            return False  # paho raises when the message could not even be queued
        return self._info.is_published()


def _set_nodelay(sock) -> None:
    """Without TCP_NODELAY, Nagle + delayed ACK cap QoS 1 at ~100 messages/s on loopback."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        log.debug("socket does not support TCP_NODELAY")


class MqttSession:
    """A reconnecting MQTT 3.1.1 session (persistent by default) with birth message and Last Will."""

    def __init__(
        self,
        address: BrokerAddress,
        client_id: str,
        *,
        on_message: Callable[[Inbound], None] | None = None,
        subscriptions: Sequence[tuple[str, int]] = (),
        will: Outbound | None = None,
        birth: Sequence[Outbound] = (),
        persistent: bool = True,
        on_connection: Callable[[bool], None] | None = None,
        keepalive: int = 30,
        max_queued: int = 0,
    ) -> None:
        self.address = address
        self.client_id = client_id
        self._on_message = on_message
        self._subscriptions = list(subscriptions)
        self._birth = list(birth)
        self._on_connection = on_connection
        self._connected = threading.Event()
        self.callback_errors = 0
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=not persistent,
            protocol=paho.MQTTv311,
        )
        if address.username:
            client.username_pw_set(address.username, address.password)
        if will is not None:
            client.will_set(will.topic, will.payload, will.qos, will.retain)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.max_queued_messages_set(max_queued)
        client.on_socket_open = self._guard(lambda _c, _u, sock: _set_nodelay(sock))
        client.on_connect = self._guard(self._handle_connect)
        client.on_disconnect = self._guard(self._handle_disconnect)
        client.on_message = self._guard(self._handle_message)
        self._client = client
        self._keepalive = keepalive

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Begin connecting in the background; reconnects forever until `stop`."""
        try:
            self._client.connect_async(self.address.host, self.address.port, keepalive=self._keepalive)
        except (OSError, ValueError) as exc:
            raise TransportError(f"cannot connect to {self.address.host}:{self.address.port}: {exc}") from exc
        self._client.loop_start()

    def wait_connected(self, timeout: float) -> None:
        """Block until connected, or raise TransportError."""
        if not self._connected.wait(timeout):
            raise TransportError(f"no MQTT connection to {self.address.host}:{self.address.port} within {timeout:g}s")

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def stop(self, final: Sequence[Outbound] = (), timeout: float = 2.0) -> None:
        """Publish `final` (e.g. a clean `offline`), then disconnect and stop the network thread."""
        if self.connected:
            for message in final:
                self.publish(message).wait(timeout)
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()

    # --- publishing -----------------------------------------------------------------------------------

    def publish(self, message: Outbound) -> Delivery:
        """Queue a message; QoS 1 messages published while disconnected go out after reconnecting."""
        info = self._client.publish(message.topic, message.payload, message.qos, message.retain)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise TransportError(f"publish to {message.topic} failed: {paho.error_string(info.rc)}")
        return Delivery(info)

    def set_birth(self, birth: Sequence[Outbound]) -> None:
        """Replace the messages published on every (re)connect."""
        self._birth = list(birth)

    # --- paho callbacks (network thread: hand over, never block) --------------------------------------

    def _guard(self, callback: Callable) -> Callable:
        @functools.wraps(callback)
        def guarded(*args):
            try:
                return callback(*args)
            except Exception:
                self.callback_errors += 1
                log.exception("error in MQTT callback %s of %s", callback.__name__, self.client_id)
                return None

        return guarded

    def _handle_connect(self, client, _userdata, _flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            log.warning(
                "broker %s:%s refused %s: %s", self.address.host, self.address.port, self.client_id, reason_code
            )
            return
        for topic_filter, qos in self._subscriptions:
            client.subscribe(topic_filter, qos)
        for message in self._birth:
            client.publish(message.topic, message.payload, message.qos, message.retain)
        self._connected.set()
        log.info("%s connected to %s:%s", self.client_id, self.address.host, self.address.port)
        if self._on_connection:
            self._on_connection(True)

    def _handle_disconnect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        if was_connected:
            log.info("%s disconnected: %s", self.client_id, reason_code)
            if self._on_connection:
                self._on_connection(False)

    def _handle_message(self, _client, _userdata, message: paho.MQTTMessage) -> None:
        if self._on_message:
            self._on_message(Inbound(message.topic, message.payload, bool(message.retain)))
