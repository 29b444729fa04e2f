"""Sends the outbox to the broker in insertion order, a bounded window at a time, deleting rows once acked.

It has its own thread so the agent's worker never waits on the network: the worker adds rows and calls
`wake`. A window of messages in flight (not one publish and wait) keeps QoS 1 throughput at what the link
allows. Rows in flight when a connection drops stay with the MQTT session, which sends them again first after
reconnecting (lockers.mqtt); the cursor then moves on. A new process starts its cursor at 0, so whatever an
earlier one left in the outbox goes out again, oldest first.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time

from edge.link import RETAINED, Transport
from edge.outbox import Outbox
from lockers.errors import TransportError
from lockers.mqtt import Outbound
from lockers.protocol.topics import topic

log = logging.getLogger(__name__)

DEFAULT_WINDOW = 200  # messages in flight: ~one round trip per 200 messages
RECHECK_S = 1.0  # a missed wake-up (e.g. a connection that came back) costs at most this long


class OutboxPublisher:
    """The thread that drains an Outbox through a transport; `wake` after adding rows."""

    def __init__(self, outbox: Outbox, transport: Transport, locker: str, *, window: int = DEFAULT_WINDOW) -> None:
        if window < 1:
            raise ValueError("the publish window must hold at least one message")
        self._outbox = outbox
        self._transport = transport
        self._locker = locker
        self._window = window
        self._cursor = 0  # id of the newest row handed to the transport by this process
        self._in_flight: set[int] = set()
        self._acked: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"edge-publisher-{locker}", daemon=True)
        self.sent = 0
        self.acknowledged = 0
        self.failures = 0

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Rows were added (any thread)."""
        self._wake.set()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def stop(self, drain_s: float = 2.0, timeout: float = 5.0) -> None:
        """Give a connected transport up to `drain_s` to take what is queued, then stop the thread.

        Whatever is left stays in the outbox for the next start."""
        deadline = time.monotonic() + drain_s
        while self._thread.is_alive() and self._transport.connected and time.monotonic() < deadline:
            if not self._in_flight and len(self._outbox) == 0:
                break
            time.sleep(0.02)
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    # --- the publisher's thread -----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._settle()
                self._send()
            except Exception:  # a database hiccup must not end publishing for good; the log shows it
                log.exception("publishing the outbox of %s failed", self._locker)
                self._stopping.wait(RECHECK_S)
            self._wake.wait(RECHECK_S)
            self._wake.clear()
        self._settle()

    def _settle(self) -> None:
        """Delete the rows the broker acknowledged since the last round."""
        done: list[int] = []
        while True:
            try:
                done.append(self._acked.get_nowait())
            except queue.Empty:
                break
        if done:
            self._outbox.delete(done)
            self._in_flight.difference_update(done)
            self.acknowledged += len(done)

    def _send(self) -> None:
        if not self._transport.connected:
            return
        room = self._window - len(self._in_flight)
        if room <= 0:
            return
        for row in self._outbox.after(self._cursor, room):
            message = Outbound(topic(self._locker, row.channel), row.payload, qos=1, retain=row.channel in RETAINED)
            try:
                self._transport.publish(message, on_acked=functools.partial(self._on_acked, row.id))
            except TransportError as exc:
                self.failures += 1
                log.warning("could not hand %s row %s to the MQTT session: %s", row.channel.value, row.id, exc)
                return  # the cursor stays: the row is tried again on the next round
            self._in_flight.add(row.id)
            self._cursor = row.id
            self.sent += 1

    # network thread: hand over only
    def _on_acked(self, row_id: int) -> None:
        self._acked.put(row_id)
        self._wake.set()
