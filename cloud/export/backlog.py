"""A bounded backlog of readings waiting for export: filled from any thread, oldest dropped when full."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from itertools import islice

from lockers.protocol.messages import Reading

# (sequence number, locker id, reading); the sequence number lets the exporter release what it wrote even
# when older entries were dropped while its write was in flight.
Entry = tuple[int, str, Reading]


class Backlog:
    """FIFO of readings with a hard size limit; `put` never blocks beyond a short lock and never grows past it."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a backlog needs room for at least one reading")
        self._limit = limit
        self._entries: deque[Entry] = deque()
        self._changed = threading.Condition()
        self._last_seq = 0
        self._woken = False
        self.submitted = 0
        self.dropped = 0

    def put(self, locker: str, readings: Sequence[Reading]) -> None:
        """Append `readings`; when the backlog is full, drop (and count) the oldest entries to make room."""
        with self._changed:
            first = self._last_seq + 1
            self._last_seq += len(readings)
            self.submitted += len(readings)
            self._entries.extend(zip(range(first, self._last_seq + 1), [locker] * len(readings), readings, strict=True))
            overflow = len(self._entries) - self._limit
            for _ in range(overflow):
                self._entries.popleft()
            self.dropped += max(overflow, 0)
            self._changed.notify_all()

    def oldest(self, count: int) -> list[Entry]:
        """Up to `count` of the oldest entries, left in place until `release` confirms they were handled."""
        with self._changed:
            return list(islice(self._entries, count))

    def release(self, up_to_seq: int) -> int:
        """Remove every entry numbered `up_to_seq` or lower; return how many were still there."""
        removed = 0
        with self._changed:
            while self._entries and self._entries[0][0] <= up_to_seq:
                self._entries.popleft()
                removed += 1
        return removed

    def wait_for(self, count: int, timeout: float) -> None:
        """Block until `count` entries wait, `wake` is called, or `timeout` seconds pass."""
        with self._changed:
            self._changed.wait_for(lambda: self._woken or len(self._entries) >= count, timeout)

    def wake(self) -> None:
        """End every current and future `wait_for` at once (used when the exporter stops)."""
        with self._changed:
            self._woken = True
            self._changed.notify_all()

    def __len__(self) -> int:
        with self._changed:
            return len(self._entries)
