"""Whether a locker is online (pure): its retained state message says `online` AND the cloud heard from it
within the heartbeat timeout (wall clock). Any live message counts; the edge re-publishes `reported` about
every 60 s as its heartbeat. Retained copies the broker replays on subscribing are no sign of life."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cloud.db import utcnow


@dataclass(frozen=True, slots=True)
class Presence:
    online: bool
    heartbeat_age_s: float | None  # since the last live message; None if never heard
    why_offline: str | None = None  # ends a sentence starting with "locker X "


def presence(
    state_online: bool, last_seen: datetime | None, now: datetime, timeout: timedelta, watching_since: datetime
) -> Presence:
    """The rule. `watching_since`: when this cloud started listening; a cloud that was down heard nothing from
    anyone, so silence counts from then at the earliest."""
    age = max((now - last_seen).total_seconds(), 0.0) if last_seen else None
    if not state_online:
        return Presence(False, age, "is offline (its connection dropped or it shut down)")
    heard = max(last_seen, watching_since) if last_seen else watching_since
    if now - heard > timeout:
        since = f"since {last_seen:%Y-%m-%d %H:%M:%S} UTC" if last_seen else "since the cloud started"
        return Presence(False, age, f"sent nothing {since}")
    return Presence(True, age)


class PresenceRule:
    """The rule with this cloud's heartbeat timeout and start time, shared by the locker view and the watchdog."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout = timedelta(seconds=timeout_s)
        self.watching_since = utcnow()

    def restart_clock(self) -> None:
        """Called when the cloud starts listening."""
        self.watching_since = utcnow()

    def of(self, state_online: bool, last_seen: datetime | None, now: datetime) -> Presence:
        return presence(state_online, last_seen, now, self.timeout, self.watching_since)
