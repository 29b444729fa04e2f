"""The benchmark suite in its smoke size: every benchmark still runs and yields sane figures (not how fast)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from benchmarks import results, suite
from benchmarks.context import BenchContext
from benchmarks.results import Figure


@pytest.mark.parametrize("name", list(suite.BENCHMARKS))
def test_each_benchmark_runs_in_its_smoke_size(name, tmp_path, broker):
    figures = suite.load(name)(BenchContext(workdir=tmp_path, smoke=True))
    assert figures, f"{name} measured nothing"
    for figure in figures:
        assert math.isfinite(figure.value) and figure.value >= 0, figure
        assert figure.unit and figure.metric and figure.benchmark, figure
        if figure.baseline is not None:
            assert figure.baseline_label, figure
        if figure.goal:
            assert figure.met is not None, f"a figure with a goal says whether it met it: {figure}"


def test_results_table_shows_value_baseline_ratio_and_verdict(tmp_path):
    figures = [
        Figure(
            "1. Ingest",
            "sustained readings/s, 0 lost",
            16_250.4,
            "readings/s",
            101.0,
            "no TCP_NODELAY",
            "≥ 15,000",
            True,
        ),
        Figure("2. Unlock", "p99 code → relay", 23.456, "ms", goal="≤ 20 ms", met=False, note="PIN path"),
    ]
    path = results.write(tmp_path, figures, started=datetime(2026, 11, 27, 3, 0, tzinfo=UTC), seconds=12, smoke=False)
    table = path.read_text()
    assert "| 1. Ingest | sustained readings/s, 0 lost | 16,250 readings/s | 101 (no TCP_NODELAY) | 160.9× |" in table
    assert "| 2. Unlock | p99 code → relay | 23.5 ms |  |  | ≤ 20 ms | **not met** | PIN path |" in table
    assert (tmp_path / "results.json").read_text().count('"benchmark"') == 2
