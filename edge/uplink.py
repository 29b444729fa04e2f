"""The agent's way out: every message is written to the outbox first, then sent by the publisher's thread.

The worker calls `emit` and `send` and never touches the network; a bounded outbox is thinned here (see
edge.outbox for the policy) and the thinning is reported as a `telemetry_thinned` event with the number of
batches dropped: at once the first time, then at most once per THIN_REPORT_S with the sum meanwhile (when events
alone fill the outbox, every new batch is thinned away: one event per batch would flood the outbox itself).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from uuid import uuid4

from edge.archive import DEFAULT_KEEP, Resent
from edge.clock import Clock
from edge.link import Transport
from edge.outbox import DEFAULT_MAX_ROWS, Outbox
from edge.publisher import DEFAULT_WINDOW, OutboxPublisher
from edge.store import EdgeStore
from lockers.protocol import codec
from lockers.protocol.messages import Event, EventKind, Message
from lockers.protocol.topics import Channel

log = logging.getLogger(__name__)

THIN_REPORT_S = 300.0


class Uplink:
    """Outbox plus publisher of one locker; `emit`/`send` from the worker, `status` from anywhere."""

    def __init__(
        self,
        locker: str,
        store: EdgeStore,
        transport: Transport,
        event_clock: Clock,
        *,
        max_rows: int = DEFAULT_MAX_ROWS,
        archive_rows: int = DEFAULT_KEEP,
        window: int = DEFAULT_WINDOW,
        thin_report_s: float = THIN_REPORT_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.outbox = Outbox(store, max_rows, archive_rows)
        self._locker = locker
        self._transport = transport
        self._publisher = OutboxPublisher(self.outbox, transport, locker, window=window)
        self._event_clock = event_clock
        self._thin_report_s = thin_report_s
        self._monotonic = monotonic
        self._unreported = 0  # batches thinned but not yet in a telemetry_thinned event
        self._next_report = float("-inf")

    def start(self) -> None:
        """Begin sending; what an earlier run left in the outbox goes first."""
        if len(self.outbox):
            log.info("%d message(s) left in the outbox by the last run will be sent first", len(self.outbox))
        self._publisher.start()

    def stop(self, drain_s: float = 2.0) -> None:
        """Report what was thinned, give the publisher `drain_s` to send the rest, stop (after the worker)."""
        self._report_thinning(force=True)
        self._publisher.stop(drain_s)

    def switch(self, up: bool) -> str:
        """Cut the connection as a network failure would (the broker announces our Last Will), or restore it.

        Any thread. While down, everything waits in the outbox; on restore it is sent in order."""
        if up == (not self._transport.suspended):
            return f"the uplink of {self._locker} is already {'up' if up else 'down'}"
        if up:
            self._transport.resume()
            return f"uplink of {self._locker} restored: reconnecting, then sending the outbox in order"
        self._transport.suspend()
        return f"uplink of {self._locker} cut: the locker works on, its messages wait in the outbox"

    def emit(self, kind: EventKind, **fields) -> int:
        """Number, stamp and queue an event; returns its sequence number."""
        event_id, ts = uuid4().hex, self._event_clock()
        seq = self.outbox.add_event(lambda seq: codec.encode(Event(id=event_id, seq=seq, ts=ts, kind=kind, **fields)))
        self._added()
        return seq

    def send(self, channel: Channel, message: Message) -> None:
        """Queue telemetry, `reported` (replacing an unsent one) or a command acknowledgement."""
        self.outbox.add(channel, codec.encode(message))
        self._added()

    def resend(self, first: int, last: int, then: Callable | None = None) -> Resent:
        """Queue the kept events numbered `first`..`last` again (edge.outbox.Outbox.requeue)."""
        resent = self.outbox.requeue(first, last, then)
        if resent.resent:
            self._added()
        return resent

    def status(self) -> dict:
        return {
            "depth": self.outbox.depth(),
            "rows": len(self.outbox),
            "bound": self.outbox.max_rows,
            "thinned": self.outbox.thinned,
            "in_flight": self._publisher.in_flight,
            "sent": self._publisher.sent,
            "acknowledged": self._publisher.acknowledged,
            "archived": self.outbox.archived(),
        }

    def _added(self) -> None:
        if self.outbox.over_bound:
            self._unreported += self.outbox.thin()
        self._report_thinning()
        self._publisher.wake()

    def _report_thinning(self, force: bool = False) -> None:
        if not self._unreported or (not force and self._monotonic() < self._next_report):
            return
        count, self._unreported = self._unreported, 0
        self._next_report = self._monotonic() + self._thin_report_s
        bound = self.outbox.max_rows
        log.warning("outbox over its bound of %d messages: dropped %d of the oldest telemetry batches", bound, count)
        self.emit(
            EventKind.TELEMETRY_THINNED,
            count=count,
            detail=f"outbox over its bound of {bound} messages: dropped {count} of the oldest telemetry batches "
            "(every other one first)",
        )
