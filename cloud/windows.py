"""When an order books its compartments (pure): the drop-off window and the pickup time a request asks for,
checked against the clock and the food's rules, with the defaults a request may leave out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cloud.errors import InvalidRequest

# A request may start its window a little in the past: the caller's clock and ours differ.
CLOCK_SLACK = timedelta(minutes=5)
HORIZON = timedelta(days=60)  # bookings further ahead than this are refused


@dataclass(frozen=True, slots=True)
class Times:
    """An order's time in the locker: the vendors bring from `start` until `end`; it is booked until `pickup_by`."""

    start: datetime
    end: datetime
    pickup_by: datetime

    def shifted(self, by: timedelta) -> Times:
        return Times(self.start + by, self.end + by, self.pickup_by + by)


def requested(
    start: datetime | None,
    end: datetime | None,
    pickup_by: datetime | None,
    *,
    now: datetime,
    window_hours: float,
    food_hours: Iterable[float],
) -> Times:
    """The booking a request asks for, defaults filled in; InvalidRequest says what is impossible.

    `window_hours`: the longest drop-off window; `food_hours`: how long each of the order's zones may wait
    (the shortest decides the latest pickup)."""
    longest_window = timedelta(hours=window_hours)
    start = start or now
    end = end or start + longest_window
    if start < now - CLOCK_SLACK:
        raise InvalidRequest(f"dropoff.start: {_utc(start)} is in the past (it is {_utc(now)} now)")
    if start > now + HORIZON:
        raise InvalidRequest(f"dropoff.start: {_utc(start)} is more than {HORIZON.days} days ahead")
    if end <= start:
        raise InvalidRequest(f"dropoff.end: {_utc(end)} must come after dropoff.start {_utc(start)}")
    if end - start > longest_window:
        raise InvalidRequest(f"dropoff: a drop-off window lasts at most {window_hours:g} hours")
    latest = end + timedelta(hours=min(food_hours))
    pickup_by = pickup_by or latest
    if pickup_by <= end:
        raise InvalidRequest(f"pickup_by: {_utc(pickup_by)} must come after the drop-off window ends ({_utc(end)})")
    if pickup_by > latest:
        raise InvalidRequest(
            f"pickup_by: {_utc(pickup_by)} is too late for the food: it may wait {min(food_hours):g} hours after "
            f"the drop-off window, until {_utc(latest)}"
        )
    return Times(start, end, pickup_by)


def _utc(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
