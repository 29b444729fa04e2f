"""The simulated clock, pure: an injected monotonic source stands in for the passing of real time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from edge.clock import SimClock, resume_start, utc_now
from edge.sim import thermal_period_s

START = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


class Seconds:
    """A monotonic source the test winds forward."""

    def __init__(self, at: float = 1000.0) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


@pytest.mark.parametrize(
    "speed, elapsed_s, expected",
    [
        (1, 0, timedelta(0)),
        (1, 90, timedelta(seconds=90)),
        (600, 1, timedelta(minutes=10)),
        (600, 60, timedelta(hours=10)),
        (0.5, 10, timedelta(seconds=5)),
        (1000, 0.05, timedelta(seconds=50)),
    ],
)
def test_simulated_time_runs_speed_times_faster(speed, elapsed_s, expected):
    seconds = Seconds()
    clock = SimClock(speed, start=START, monotonic=seconds)
    seconds.at += elapsed_s
    assert clock() == START + expected


def test_each_reading_of_the_clock_follows_the_source():
    seconds = Seconds()
    clock = SimClock(600, start=START, monotonic=seconds)
    readings = []
    for step in (0.0, 0.5, 0.5, 2.0):
        seconds.at += step
        readings.append(clock())
    assert readings == [
        START,
        START + timedelta(minutes=5),
        START + timedelta(minutes=10),
        START + timedelta(minutes=30),
    ]


def test_it_starts_at_the_real_current_time_by_default():
    before = utc_now()
    clock = SimClock(600, monotonic=Seconds())
    after = utc_now()
    assert before <= clock.start <= after
    assert clock() == clock.start and clock().tzinfo is not None
    assert clock.speed == 600


def test_with_the_real_monotonic_clock_it_moves_forward():
    clock = SimClock(1000)
    first = clock()
    second = clock()
    assert second >= first


@pytest.mark.parametrize("speed", [0, -1, float("nan")])
def test_speed_must_be_positive(speed):
    with pytest.raises(ValueError, match="speed must be positive"):
        SimClock(speed)


def test_start_must_be_aware():
    with pytest.raises(ValueError, match="aware"):
        SimClock(2, start=datetime(2026, 1, 1))


@pytest.mark.parametrize(
    "last_seen, expected",
    [
        (None, START),
        (START - timedelta(hours=1), START),
        (START, START),
        (START + timedelta(hours=30), START + timedelta(hours=30)),  # a fast simulator got ahead of real time
    ],
    ids=["fresh", "behind", "same", "ahead"],
)
def test_a_restarted_simulated_clock_never_goes_back(last_seen, expected):
    assert resume_start(START, last_seen) == expected


@pytest.mark.parametrize(
    "speed, period",
    [(1, 1.0), (5, 1.0), (10, 1.0), (100, 0.1), (600, 0.05), (1000, 0.05)],
)
def test_the_fridges_step_finer_when_running_fast(speed, period):
    assert thermal_period_s(speed) == pytest.approx(period)
