"""The only module that imports paho: an MQTT session that speaks in our own frozen message types.

The session runs its own network thread (paho's external-loop mode) so that it, not paho, decides when to
reconnect: after a lost connection it waits a jittered, exponentially growing delay (`reconnect_delay`), so
a fleet of lockers that lost the same broker does not come back in lockstep; and `suspend` cuts the uplink
the way a network failure would (no DISCONNECT, so the broker publishes the Last Will) until `resume`.

Callbacks run on that thread; they only hand inbound messages, acknowledgements and connection changes to
the caller (whose callbacks must themselves just enqueue) and never do work. Subscriptions and birth messages
are renewed on every connect, so a broker restart or a lost persistent session heals itself. The session
announces itself connected (`connected`, `wait_connected`, `on_connection(True)`) once the broker confirmed
the subscriptions and paho has re-queued the QoS 1 messages not acknowledged when the connection dropped, so
those go out again before anything newer.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import socket
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes

from lockers.errors import TransportError

log = logging.getLogger(__name__)

RECONNECT_BASE_S = 1.0  # ceiling of the first delay after a lost connection
RECONNECT_MAX_S = 30.0  # the ceiling stops doubling here
PUBACK = PacketTypes.PUBACK << 4
READ_AHEAD_BYTES = 65536
MAX_READ_AHEAD_PACKETS = 1000  # then writes (acks) and keepalive get their turn in paho's loop
LOOP_TIMEOUT_S = 0.5  # longest the network thread sleeps in select(); publishes wake it at once


@dataclass(frozen=True, slots=True)
class Inbound:
    """A message received from the broker; with a `manual_ack` session, call `ack` once it is safely handled."""

    topic: str
    payload: bytes
    retained: bool = False
    ack: Callable[[], None] | None = field(default=None, compare=False, repr=False)
    receipt: tuple[int, int] | None = field(default=None, compare=False, repr=False)  # (mid, qos) to acknowledge


@dataclass(frozen=True, slots=True)
class Outbound:
    """A message to publish."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where and as whom to connect; over TLS when `tls` (or a `ca_file` to trust instead of the system's CAs)."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    tls: bool = False

    @property
    def uses_tls(self) -> bool:
        return self.tls or self.ca_file is not None


class Delivery:
    """Handle on a publish: `wait` tells whether the broker acknowledged it (PUBACK for QoS 1) in time."""

    def __init__(self, on_acked: Callable[[], None] | None = None) -> None:
        self._done = threading.Event()
        self._on_acked = on_acked

    @property
    def acknowledged(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float) -> bool:
        return self._done.wait(timeout)

    def _acknowledge(self) -> None:
        self._done.set()
        if self._on_acked is not None:
            self._on_acked()


def reconnect_delay(
    attempt: int, rng: random.Random, base_s: float = RECONNECT_BASE_S, max_s: float = RECONNECT_MAX_S
) -> float:
    """Seconds to wait before reconnect attempt `attempt` (0 = the first after a loss): "full jitter".

    Uniform up to a ceiling of base·2^attempt capped at `max_s`, so lockers that lost the broker together spread
    their attempts over the whole window; from a tenth of `base_s` up, so a refusing broker is not hammered.
    """
    ceiling = min(max_s, base_s * 2 ** min(attempt, 32))
    return rng.uniform(min(base_s / 10, ceiling), ceiling)


def _set_nodelay(sock) -> None:
    """Without TCP_NODELAY, Nagle + delayed ACK cap QoS 1 at ~100 messages/s on loopback."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        log.debug("socket does not support TCP_NODELAY")


class _ReadAheadClient(paho.Client):
    """paho reads each packet with three or more recv() calls (type byte, each length byte, body), each a system
    call that also lets go of the GIL; this client reads what the socket holds at once and serves those calls
    from memory. The cloud receives thousands of messages a second: profiled, this halved the network
    thread's CPU per message (benchmarks/bench_ingest.py)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._ahead = b""
        self._ahead_at = 0

    def forget_read_ahead(self) -> None:
        """A new socket: nothing read from the old one may be taken for its data."""
        self._ahead, self._ahead_at = b"", 0

    def read_ahead(self) -> bool:
        """Bytes were read from the socket and not yet taken by paho."""
        return self._ahead_at < len(self._ahead)

    def ack_all(self, receipts: Sequence[tuple[int, int]]) -> None:
        """Acknowledge QoS 1 messages (manual ack) with their PUBACKs queued as ONE write: paho's `ack` queues a
        packet, wakes the network thread and costs a send() per message (~10 µs of the cloud's GIL each)."""
        pubacks = b"".join(struct.pack("!BBH", PUBACK, 2, mid) for mid, qos in receipts if qos == 1)
        if pubacks:
            self._packet_queue(PUBACK, pubacks, 0, 0)
        for mid, qos in receipts:
            if qos == 2:  # not used by Dorpskluis; paho's own path
                self.ack(mid, qos)

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._ahead_at >= len(self._ahead):
            data = super()._sock_recv(READ_AHEAD_BYTES)  # BlockingIOError when nothing waits, b"" at the end
            if not data:
                return data
            self._ahead, self._ahead_at = data, 0
        chunk = self._ahead[self._ahead_at : self._ahead_at + bufsize]
        self._ahead_at += len(chunk)
        return chunk


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
        reconnect_base_s: float = RECONNECT_BASE_S,
        reconnect_max_s: float = RECONNECT_MAX_S,
        rng: random.Random | None = None,
        manual_ack: bool = False,
        tcp_nodelay: bool = True,
    ) -> None:
        """`manual_ack`: QoS 1 messages are acknowledged to the broker only when the receiver calls `Inbound.ack`
        (in arrival order), so what a crash interrupts is delivered again; otherwise paho acks on receipt.
        `tcp_nodelay=False` keeps paho's default socket (Nagle on): only for the ingest benchmark's baseline.
        Subscriptions may be shared (`$share/<group>/<filter>`, MQTT 5 semantics that Mosquitto 2 also offers
        to 3.1.1 clients): each message of the filter then goes to one member of the group."""
        self.address = address
        self.client_id = client_id
        self._on_message = on_message
        self._subscriptions = list(subscriptions)
        self._birth = list(birth)
        self._on_connection = on_connection
        self._keepalive = keepalive
        self._reconnect = (reconnect_base_s, reconnect_max_s)
        self._rng = rng or random.Random()  # seeded from the OS: every locker draws different delays
        self._attempt = 0
        self._announce = False  # connected and subscribed: tell the caller once paho re-queued what was in flight
        self._suback_mid: int | None = None  # the SUBSCRIBE of this connection, until the broker confirms it
        self._connected = threading.Event()
        self._suspended = threading.Event()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._acks_lock = threading.Lock()
        self._awaiting: dict[int, Delivery] = {}
        self._early_acks: set[int] = set()
        self._thread: threading.Thread | None = None
        self.callback_errors = 0
        self.last_refusal: str | None = None  # why the broker last refused our CONNECT, until it accepts one
        self.last_error: str | None = None  # why the last connection attempt failed below MQTT (network, TLS)
        client = _ReadAheadClient(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=not persistent,
            protocol=paho.MQTTv311,
            reconnect_on_failure=False,
            manual_ack=manual_ack,
        )
        if address.username:
            client.username_pw_set(address.username, address.password)
        if address.uses_tls:
            try:  # the broker's certificate and host name are checked against `ca_file`, else the system's CAs
                client.tls_set(ca_certs=address.ca_file)
            except (OSError, ValueError) as exc:
                raise TransportError(f"cannot use the CA file {address.ca_file} for TLS: {exc}") from exc
        if will is not None:
            client.will_set(will.topic, will.payload, will.qos, will.retain)
        client.max_queued_messages_set(max_queued)
        client.max_inflight_messages_set(0)  # unlimited: callers bound their own window (edge.publisher)
        client.on_socket_open = self._guard(self._socket_opened)
        self._tcp_nodelay = tcp_nodelay
        # Registering a write callback keeps paho from writing to the socket on the publisher's thread:
        # publish() only queues and wakes the network thread, the one thread that touches the socket.
        client.on_socket_register_write = lambda _c, _u, _s: None
        client.on_connect = self._guard(self._handle_connect)
        client.on_disconnect = self._guard(self._handle_disconnect)
        client.on_message = self._guard(self._handle_message)
        client.on_subscribe = self._guard(self._handle_subscribe)
        client.on_publish = self._guard(self._handle_publish)
        self._client = client
        self._manual_ack = manual_ack

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Begin connecting in the background; reconnects until `stop` (after which `start` may run again)."""
        try:
            self._client.connect_async(self.address.host, self.address.port, keepalive=self._keepalive)
        except (OSError, ValueError) as exc:
            raise TransportError(f"cannot connect to {self.address.host}:{self.address.port}: {exc}") from exc
        self._stopping.clear()  # a stopped session may be started again
        self._attempt = 0
        self._thread = threading.Thread(target=self._run, name=f"mqtt-{self.client_id}", daemon=True)
        self._thread.start()

    def wait_connected(self, timeout: float) -> None:
        """Block until connected, or raise TransportError."""
        if not self._connected.wait(timeout):
            raise TransportError(f"no MQTT connection to {self.address.host}:{self.address.port} within {timeout:g}s")

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def suspended(self) -> bool:
        return self._suspended.is_set()

    def suspend(self) -> None:
        """Cut the connection as a network failure would (the broker publishes the Last Will); stay down until
        `resume`. QoS 1 messages published meanwhile wait in the session."""
        self._suspended.set()
        self._drop_socket()
        self._wake.set()

    def resume(self) -> None:
        """Reconnect at once after `suspend`."""
        self._attempt = 0
        self._suspended.clear()
        self._wake.set()

    def stop(self, final: Sequence[Outbound] = (), timeout: float = 2.0) -> None:
        """Publish `final` (e.g. a clean `offline`), then disconnect and stop the network thread."""
        if self.connected:
            for message in final:
                self.publish(message).wait(timeout)
        self._stopping.set()
        self._wake.set()
        if not self.suspended:
            self._client.disconnect()  # wakes the network thread at once; it also says goodbye itself if connecting
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout + LOOP_TIMEOUT_S)
            if self._thread.is_alive():
                log.warning("MQTT network thread of %s still running after stop", self.client_id)
        self._connected.clear()

    # --- publishing -----------------------------------------------------------------------------------

    def publish(self, message: Outbound, on_acked: Callable[[], None] | None = None) -> Delivery:
        """Queue a message; QoS 1 messages published while disconnected go out after reconnecting.

        `on_acked` runs once the broker acknowledged the message, on the network thread (or on this one when the
        acknowledgement beat this call back): like every callback here it must only hand over."""
        delivery = Delivery(on_acked)
        info = self._client.publish(message.topic, message.payload, message.qos, message.retain)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise TransportError(f"publish to {message.topic} failed: {paho.error_string(info.rc)}")
        with self._acks_lock:
            early = info.mid in self._early_acks
            if early:
                self._early_acks.discard(info.mid)
            else:
                self._awaiting[info.mid] = delivery
        if early:
            delivery._acknowledge()  # noqa: SLF001 - our own handle
        return delivery

    def acknowledge(self, inbounds: Sequence[Inbound]) -> None:
        """Acknowledge received messages (manual ack) at once, in the order given: one write for all of them
        instead of one per message (`Inbound.ack` does the same for one)."""
        self._client.ack_all([inbound.receipt for inbound in inbounds if inbound.receipt is not None])

    def set_birth(self, birth: Sequence[Outbound]) -> None:
        """Replace the messages published on every (re)connect."""
        self._birth = list(birth)

    # --- the network thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            if self._suspended.is_set():
                self._wake.wait()
                self._wake.clear()
                continue
            try:
                if self._open_connection():
                    self._pump()
                    if self._stopping.is_set() or self._suspended.is_set():
                        continue
            except Exception:  # a locker whose network thread died would stay offline for good
                log.exception("MQTT network loop of %s failed; reconnecting", self.client_id)
                self._drop_socket()
            self._pause()

    def _open_connection(self) -> bool:
        try:
            self._client.reconnect()
        except (OSError, ValueError) as exc:  # ssl.SSLError (an untrusted or misnamed certificate) is an OSError
            self.last_error = str(exc)
            log.info("%s cannot reach %s:%s: %s", self.client_id, self.address.host, self.address.port, exc)
            return False
        self.last_error = None
        return True

    def _pump(self) -> None:
        """Run paho's loop until the connection is gone (lost, cut by `suspend`, or closed by `stop`)."""
        said_goodbye = False
        rc = MQTTErrorCode.MQTT_ERR_SUCCESS
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            if self._suspended.is_set():
                self._drop_socket()
            elif self._stopping.is_set() and not said_goodbye:
                self._client.disconnect()  # a clean DISCONNECT: the broker discards the will
                said_goodbye = True
            rc = self._client.loop(LOOP_TIMEOUT_S)
            packets = 0
            while (
                rc == MQTTErrorCode.MQTT_ERR_SUCCESS and self._client.read_ahead() and packets < MAX_READ_AHEAD_PACKETS
            ):
                rc = self._client.loop_read()  # what was read ahead, without waiting in select() for each packet
                packets += 1
            if self._announce:
                self._announce = False
                self._connected.set()
                if self._on_connection:
                    self._on_connection(True)

    def _pause(self) -> None:
        delay = reconnect_delay(self._attempt, self._rng, *self._reconnect)
        self._attempt += 1
        log.debug("%s reconnects in %.2fs", self.client_id, delay)
        self._wake.wait(delay)
        self._wake.clear()

    def _drop_socket(self) -> None:
        """Shut the TCP connection without DISCONNECT; paho's next read sees it lost."""
        sock = self._client.socket()
        if sock is None:
            return
        with contextlib.suppress(OSError):  # already shut, or closed by paho meanwhile
            sock.shutdown(socket.SHUT_RDWR)

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

    def _socket_opened(self, client, _userdata, sock) -> None:
        client.forget_read_ahead()
        if self._tcp_nodelay:
            _set_nodelay(sock)

    def _handle_connect(self, client, _userdata, _flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            self.last_refusal = str(reason_code)
            log.warning(
                "broker %s:%s refused %s: %s", self.address.host, self.address.port, self.client_id, reason_code
            )
            return
        self.last_refusal = None
        self._attempt = 0
        if self._subscriptions:
            _rc, self._suback_mid = client.subscribe(list(self._subscriptions))
        for message in self._birth:
            self.publish(message)
        self._announce = self._suback_mid is None
        log.info("%s connected to %s:%s", self.client_id, self.address.host, self.address.port)

    def _handle_subscribe(self, _client, _userdata, mid: int, reason_codes, _properties) -> None:
        if mid != self._suback_mid:
            return
        self._suback_mid = None
        self._announce = True
        for (topic_filter, _qos), code in zip(self._subscriptions, reason_codes, strict=False):
            if code.is_failure:
                log.warning("broker refused %s the subscription %s: %s", self.client_id, topic_filter, code)

    def _handle_disconnect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        self._announce = False
        self._suback_mid = None
        was_connected = self._connected.is_set()
        self._connected.clear()
        if was_connected:
            log.info("%s disconnected: %s", self.client_id, reason_code)
            if self._on_connection:
                self._on_connection(False)

    def _handle_message(self, _client, _userdata, message: paho.MQTTMessage) -> None:
        ack = functools.partial(self._client.ack, message.mid, message.qos) if self._manual_ack else None
        receipt = (message.mid, message.qos) if self._manual_ack else None
        if self._on_message:
            self._on_message(Inbound(message.topic, message.payload, bool(message.retain), ack, receipt))
        elif ack is not None:
            ack()  # nobody to hand it to: do not leave the broker waiting

    def _handle_publish(self, _client, _userdata, mid: int, _reason_code, _properties) -> None:
        with self._acks_lock:
            delivery = self._awaiting.pop(mid, None)
            if delivery is None:
                self._early_acks.add(mid)  # publish() has not registered it yet: it will find this
        if delivery is not None:
            delivery._acknowledge()  # noqa: SLF001 - our own handle
