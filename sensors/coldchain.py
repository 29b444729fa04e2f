"""The cold-chain record of goods that sat in a zone: min, max, mean, minutes above the limit, MKT. Pure."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

# Activation energy of food degradation used for mean kinetic temperature (USP <1079>: 83.144 kJ/mol).
ACTIVATION_ENERGY_KJ_MOL = 83.144
GAS_CONSTANT_J_MOL_K = 8.3144598


@dataclass(frozen=True, slots=True)
class ColdChainSummary:
    """Temperatures over one dwell window; None fields when no usable reading fell in the window."""

    start: datetime
    end: datetime
    samples: int  # usable readings inside the window
    faulty_samples: int
    min_c: float | None
    max_c: float | None
    mean_c: float | None  # time-weighted
    mkt_c: float | None
    minutes_above_limit: float
    limit_c: float | None


def mean_kinetic_temperature(
    temperatures_c: Sequence[float],
    weights: Sequence[float] | None = None,
    activation_kj_mol: float = ACTIVATION_ENERGY_KJ_MOL,
) -> float:
    """Haynes' mean kinetic temperature, °C: the constant temperature that degrades food as much as the series.

    MKT = (ΔH/R) / -ln(Σ wᵢ·exp(-ΔH/(R·Tᵢ)) / Σ wᵢ), with T in kelvin; equal weights unless given.
    """
    if not temperatures_c:
        raise ValueError("mean kinetic temperature of no temperatures")
    weights = [1.0] * len(temperatures_c) if weights is None else list(weights)
    if len(weights) != len(temperatures_c) or sum(weights) <= 0 or min(weights) < 0:
        raise ValueError("weights must be non-negative, one per temperature, and not all zero")
    ratio = activation_kj_mol * 1000 / GAS_CONSTANT_J_MOL_K
    mean = sum(w * math.exp(-ratio / (t + 273.15)) for t, w in zip(temperatures_c, weights, strict=True))
    return ratio / -math.log(mean / sum(weights)) - 273.15


def summarize(
    readings: Sequence[tuple[datetime, float | None]],
    start: datetime,
    end: datetime,
    limit_c: float | None,
    max_gap_s: float = 300.0,
) -> ColdChainSummary:
    """Summarise the readings (ts, °C or None for an unusable one, any order, may start before `start`) over
    [start, end]. Each usable reading stands for the time until the next reading, at most `max_gap_s`, clipped
    to the window; the last reading before `start` covers the window's beginning."""
    if end < start:
        raise ValueError("a dwell window cannot end before it starts")
    ordered = sorted(readings, key=lambda reading: reading[0])
    values: list[float] = []
    weights: list[float] = []
    samples = faulty = 0
    above_s = 0.0
    for index, (ts, celsius) in enumerate(ordered):
        if start <= ts <= end:
            samples += celsius is not None
            faulty += celsius is None
        following = ordered[index + 1][0] if index + 1 < len(ordered) else end
        covered_until = min(following, ts + timedelta(seconds=max_gap_s), end)
        seconds = (covered_until - max(ts, start)).total_seconds()
        if celsius is None or (seconds <= 0 and not start <= ts <= end):
            continue
        values.append(celsius)
        weights.append(max(seconds, 0.0))
        if limit_c is not None and celsius > limit_c:
            above_s += max(seconds, 0.0)
    if not values:
        return ColdChainSummary(start, end, samples, faulty, None, None, None, None, 0.0, limit_c)
    if sum(weights) > 0:
        mean = sum(v * w for v, w in zip(values, weights, strict=True)) / sum(weights)
        mkt = mean_kinetic_temperature(values, weights)
    else:  # only instantaneous samples (a zero-length window): weigh them equally
        mean = sum(values) / len(values)
        mkt = mean_kinetic_temperature(values)
    return ColdChainSummary(
        start=start,
        end=end,
        samples=samples,
        faulty_samples=faulty,
        min_c=min(values),
        max_c=max(values),
        mean_c=round(mean, 3),
        mkt_c=round(mkt, 3),
        minutes_above_limit=round(above_s / 60, 2),
        limit_c=limit_c,
    )
