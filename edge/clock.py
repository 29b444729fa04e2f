"""Clocks of the agent: the wall clock for people and codes, and a simulated clock for a fast simulator's data.

A real locker has one clock. A simulated locker running N times faster stamps its measurements and events
with `SimClock` (so the cold-chain rules, which run on event time, see hours pass in minutes), while code
validity, door release windows and keypad lockouts stay on the wall clock: tokens are issued by the cloud in
wall time, and a person at the locker lives in it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class SimClock:
    """Simulated now = start + (monotonic seconds elapsed since construction) × speed; thread-safe."""

    def __init__(
        self,
        speed: float = 1.0,
        *,
        start: datetime | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"the simulated clock's speed must be positive, not {speed!r}")
        if start is not None and start.tzinfo is None:
            raise ValueError("the simulated clock needs an aware start time")
        self.speed = speed
        self.start = start if start is not None else utc_now()
        self._monotonic = monotonic
        self._t0 = monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=(self._monotonic() - self._t0) * self.speed)

    def __repr__(self) -> str:
        return f"SimClock(speed={self.speed:g}, start={self.start.isoformat()})"


def resume_start(now: datetime, last_seen: datetime | None) -> datetime:
    """Where a restarted simulated clock begins: never before what it stamped last time (time only runs forward)."""
    return now if last_seen is None or last_seen <= now else last_seen
