"""The per-order cold-chain summary: time-weighted statistics, minutes above the limit, MKT."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from sensors.coldchain import mean_kinetic_temperature, summarize

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_mkt_of_a_constant_is_that_constant():
    assert mean_kinetic_temperature([4.0] * 10) == pytest.approx(4.0)


def test_mkt_weighs_warm_spells_more_than_the_mean():
    series = [2.0] * 9 + [20.0]
    assert mean_kinetic_temperature(series) > sum(series) / len(series)
    # USP <1079> worked form: ΔH/R = 83.144 kJ/mol / R ≈ 10000 K
    expected = 10000.0 / -math.log(sum(math.exp(-10000.0 / (t + 273.15)) for t in series) / 10) - 273.15
    assert mean_kinetic_temperature(series) == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize("weights", [[], [1.0], [-1.0, 2.0], [0.0, 0.0]])
def test_mkt_refuses_bad_weights(weights):
    with pytest.raises(ValueError):
        mean_kinetic_temperature([1.0, 2.0], weights)


def test_a_clean_dwell():
    readings = [(at(m), 4.0 + (m % 2) * 0.5) for m in range(0, 61)]
    summary = summarize(readings, at(0), at(60), limit_c=7.0)
    assert summary.samples == 61 and summary.faulty_samples == 0
    assert (summary.min_c, summary.max_c) == (4.0, 4.5)
    assert summary.mean_c == pytest.approx(4.25, abs=0.01)
    assert 4.0 < summary.mkt_c < 4.5
    assert summary.minutes_above_limit == 0


def test_minutes_above_the_limit_are_time_weighted_and_clipped_to_the_window():
    readings = [(at(-10), 9.0), (at(5), 4.0), (at(20), 9.0), (at(30), 4.0), (at(100), 9.0)]
    summary = summarize(readings, at(0), at(40), limit_c=7.0, max_gap_s=3600)
    # 0–5 min covered by the reading before the window, 20–30 min by the one inside
    assert summary.minutes_above_limit == pytest.approx(15.0)
    assert summary.samples == 3 and summary.max_c == 9.0


def test_gaps_longer_than_max_gap_count_as_unknown():
    readings = [(at(0), 9.0), (at(60), 4.0)]
    summary = summarize(readings, at(0), at(60), limit_c=7.0, max_gap_s=300)
    assert summary.minutes_above_limit == pytest.approx(5.0)


def test_unusable_readings_are_counted_not_averaged():
    readings = [(at(0), 4.0), (at(1), None), (at(2), None), (at(3), 5.0)]
    summary = summarize(readings, at(0), at(4), limit_c=7.0)
    assert (summary.samples, summary.faulty_samples) == (2, 2)
    assert summary.max_c == 5.0


def test_no_readings_at_all():
    summary = summarize([], at(0), at(10), limit_c=7.0)
    assert summary.samples == 0 and summary.mean_c is None and summary.mkt_c is None
    assert summary.minutes_above_limit == 0


def test_ambient_has_no_limit():
    summary = summarize([(at(0), 30.0), (at(1), 31.0)], at(0), at(2), limit_c=None)
    assert summary.minutes_above_limit == 0 and summary.max_c == 31.0


def test_a_window_must_not_end_before_it_starts():
    with pytest.raises(ValueError):
        summarize([], at(10), at(0), limit_c=7.0)
