"""A load generator's MQTT 3.1.1 publisher, written at the wire level: CONNECT, QoS 1 PUBLISH, PUBACK, nothing else.

The ingest benchmark's lockers stand in for devices far away; on this 2-core machine every microsecond they spend
is taken from the cloud, mosquitto and PostgreSQL under test. paho costs ~150 µs of CPU per QoS 1 publish here
(Delivery bookkeeping, a lock, a packet queue, one send per packet); this publisher writes a round of packets
per socket with one `send` and reads PUBACKs in bulk, for a few µs per message. It is a benchmark tool only:
the product's MQTT goes through lockers/mqtt.py (paho)."""

from __future__ import annotations

import selectors
import socket
import struct
import time
from dataclasses import dataclass, field

from lockers.errors import TransportError

CONNECT, CONNACK, PUBLISH_QOS0_RETAINED, PUBLISH_QOS1, PUBACK = 0x10, 0x20, 0x31, 0x32, 0x40


def remaining_length(n: int) -> bytes:
    """MQTT's variable-length integer."""
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(value: str) -> bytes:
    raw = value.encode()
    return struct.pack("!H", len(raw)) + raw


def connect_packet(client_id: str, keepalive: int = 60, credentials: tuple[str, str] | None = None) -> bytes:
    """CONNECT with a clean session, no will, and a username and password when `credentials` are given."""
    flags = 0x02 | (0xC0 if credentials else 0)
    body = _string("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive) + _string(client_id)
    if credentials:
        body += _string(credentials[0]) + _string(credentials[1])
    return bytes([CONNECT]) + remaining_length(len(body)) + body


def retained_packet(topic: str, payload: bytes) -> bytes:
    """A retained QoS 0 PUBLISH (a birth message: nothing to acknowledge)."""
    body = _string(topic) + payload
    return bytes([PUBLISH_QOS0_RETAINED]) + remaining_length(len(body)) + body


def publish_packet(topic: bytes, packet_id: int, payload: bytes) -> bytes:
    """A QoS 1 PUBLISH (topic already encoded with its length prefix)."""
    return b"".join(
        (bytes([PUBLISH_QOS1]), remaining_length(len(topic) + 2 + len(payload)), topic, packet_id.to_bytes(2), payload)
    )


@dataclass
class WireLocker:
    """One simulated locker's connection: packets are queued by `publish` and go out together on `flush`."""

    client_id: str
    topic: str
    sock: socket.socket
    in_flight: set[int] = field(default_factory=set)
    sent: int = 0
    _next_id: int = 0
    _out: list[bytes] = field(default_factory=list)
    _rest: bytes = b""
    _topic: bytes = b""

    def __post_init__(self) -> None:
        self._topic = _string(self.topic)

    def publish(self, payload: bytes) -> None:
        self._next_id = self._next_id % 65535 + 1
        while self._next_id in self.in_flight:  # never reuse an id still waiting (a window is far below 65535)
            self._next_id = self._next_id % 65535 + 1
        self.in_flight.add(self._next_id)
        self._out.append(publish_packet(self._topic, self._next_id, payload))
        self.sent += 1

    def flush(self) -> None:
        if self._out:
            data, self._out = b"".join(self._out), []
            self.sock.setblocking(True)
            self.sock.sendall(data)
            self.sock.setblocking(False)

    def read_acks(self) -> int:
        """Take every PUBACK that arrived (non-blocking); returns how many."""
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return 0
        if not data:
            raise TransportError(f"{self.client_id}: the broker closed the connection")
        data, count, at = self._rest + data, 0, 0
        while len(data) - at >= 4:
            if data[at] != PUBACK or data[at + 1] != 2:
                raise TransportError(f"{self.client_id}: unexpected packet 0x{data[at]:02x} from the broker")
            self.in_flight.discard(int.from_bytes(data[at + 2 : at + 4]))
            count += 1
            at += 4
        self._rest = data[at:]
        return count


def connect(
    host: str,
    port: int,
    client_id: str,
    topic: str,
    *,
    tcp_nodelay: bool,
    birth: tuple[str, bytes] | None = None,
    credentials: tuple[str, str] | None = None,
    timeout: float = 30,
) -> WireLocker:
    """Open a connection, wait for the broker's CONNACK, then send the `birth` (topic, payload) if given; a refusal
    or a dropped connection is a TransportError."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise TransportError(f"{client_id}: cannot reach the broker at {host}:{port}: {exc}") from exc
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1 if tcp_nodelay else 0)
        sock.sendall(connect_packet(client_id, credentials=credentials))
        reply = b""
        while len(reply) < 4:
            chunk = sock.recv(4 - len(reply))
            if not chunk:
                raise TransportError(f"{client_id}: the broker closed the connection before CONNACK")
            reply += chunk
        if reply[0] != CONNACK or reply[3] != 0:
            raise TransportError(f"{client_id}: the broker refused the connection ({reply.hex()})")
        if birth is not None:
            sock.sendall(retained_packet(*birth))
    except OSError as exc:
        sock.close()
        raise TransportError(f"{client_id}: the broker dropped the connection before CONNACK: {exc}") from exc
    except TransportError:
        sock.close()
        raise
    sock.setblocking(False)
    return WireLocker(client_id, topic, sock)


class AckReader:
    """Reads PUBACKs of many lockers at once."""

    def __init__(self, lockers: list[WireLocker]) -> None:
        self._selector = selectors.DefaultSelector()
        for locker in lockers:
            self._selector.register(locker.sock, selectors.EVENT_READ, locker)

    def poll(self, timeout: float = 0.0) -> None:
        for key, _ in self._selector.select(timeout):
            key.data.read_acks()

    def wait_until(self, done, timeout: float) -> bool:
        """Read acks until `done()` holds; False when `timeout` passed first."""
        deadline = time.monotonic() + timeout
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.poll(min(left, 0.05))
        return True

    def close(self) -> None:
        self._selector.close()


def disconnect(locker: WireLocker) -> None:
    try:
        locker.sock.setblocking(True)
        locker.sock.sendall(b"\xe0\x00")
    except OSError:
        pass
    finally:
        locker.sock.close()
