"""Counters of the MQTT ingest path, safe to read from any thread."""

from __future__ import annotations

import threading
from collections import Counter

from cloud.services.ingest import Outcome


class IngestStats:
    """What arrived, what became of it, and what was dropped (by reason)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.received = 0
        self._outcomes: Counter[str] = Counter()
        self._dropped: Counter[str] = Counter()

    def count_received(self) -> None:
        with self._lock:
            self.received += 1

    def count(self, outcome: Outcome) -> None:
        with self._lock:
            self._outcomes[outcome.value] += 1

    def count_drop(self, reason: str) -> None:
        with self._lock:
            self._dropped[reason] += 1

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "received": self.received,
                # Inconsistent events were stored too: they count as processed as well.
                "processed": self._outcomes[Outcome.PROCESSED] + self._outcomes[Outcome.INCONSISTENT],
                "duplicates": self._outcomes[Outcome.DUPLICATE],
                "inconsistent": self._outcomes[Outcome.INCONSISTENT],
                "dropped": sum(self._dropped.values()),
                "dropped_by_reason": dict(self._dropped),
            }
