"""Whether a locker is online (pure rule): its state message says so and it was heard within the heartbeat
timeout; a restarted cloud counts silence from its own start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloud.presence import presence

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
TIMEOUT = timedelta(seconds=180)
LONG_AGO = NOW - timedelta(hours=2)  # the cloud has been running for two hours


@pytest.mark.parametrize(
    ("state_online", "last_seen_s_ago", "watching_since", "online", "age", "why"),
    [
        (True, 10, LONG_AGO, True, 10.0, None),
        (True, 180, LONG_AGO, True, 180.0, None),  # at the limit still online
        (True, 181, LONG_AGO, False, 181.0, "sent nothing since 2026-03-01 11:56:59 UTC"),
        (False, 1, LONG_AGO, False, 1.0, "is offline (its connection dropped or it shut down)"),
        (True, None, LONG_AGO, False, None, "sent nothing since the cloud started"),
        # the cloud itself was down: silence counts from its start
        (True, 3600, NOW - timedelta(seconds=60), True, 3600.0, None),
        (True, None, NOW - timedelta(seconds=60), True, None, None),
        (True, 3600, NOW - timedelta(seconds=200), False, 3600.0, "sent nothing since 2026-03-01 11:00:00 UTC"),
    ],
)
def test_presence(state_online, last_seen_s_ago, watching_since, online, age, why):
    last_seen = NOW - timedelta(seconds=last_seen_s_ago) if last_seen_s_ago is not None else None
    seen = presence(state_online, last_seen, NOW, TIMEOUT, watching_since)
    assert (seen.online, seen.heartbeat_age_s, seen.why_offline) == (online, age, why)
