"""Figures and the RESULTS.md table they are written to (plus results.json for machines)."""

from __future__ import annotations

import json
import platform
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Figure:
    """One figure measured in this run, beside its baseline (measured in the same run) and its goal."""

    benchmark: str  # e.g. "1. Ingest"
    metric: str  # what was measured, e.g. "sustained readings/s, 0 lost"
    value: float
    unit: str
    baseline: float | None = None  # the same measurement on the baseline set-up, in the same run
    baseline_label: str = ""  # what the baseline is, e.g. "default paho + mosquitto (no TCP_NODELAY)"
    goal: str = ""  # e.g. "≥ 15,000"
    met: bool | None = None  # None: no goal for this figure
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """value / baseline, when there is a non-zero baseline."""
        return self.value / self.baseline if self.baseline else None


def _number(value: float | None) -> str:
    if value is None:
        return ""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _verdict(figure: Figure) -> str:
    if figure.met is None:
        return ""
    return "met" if figure.met else "**not met**"


def render(figures: Sequence[Figure], *, started: datetime, seconds: float, smoke: bool) -> str:
    """RESULTS.md: one row per figure, in the order measured."""
    cpu = platform.processor() or platform.machine()
    lines = [
        "# Benchmark results",
        "",
        f"Measured by `make bench{' ARGS=--smoke' if smoke else ''}` on {started:%Y-%m-%d %H:%M} UTC in "
        f"{seconds:.0f} s; Python {platform.python_version()}, {platform.system()} {platform.release()}, {cpu}, "
        f"{_cores()} cores. Every figure and its baseline come from this one run.",
    ]
    if smoke:
        lines += ["", "**Smoke run**: tiny sizes that only show the benchmarks work; these are not measurements."]
    lines += [
        "",
        "| benchmark | metric | value | baseline | ratio | goal | verdict | notes |",
        "|---|---|---:|---|---:|---|---|---|",
    ]
    for f in figures:
        baseline = f"{_number(f.baseline)} ({f.baseline_label})" if f.baseline is not None else ""
        ratio = f"{f.ratio:.1f}×" if f.ratio is not None else ""
        cells = [f.benchmark, f.metric, f"{_number(f.value)} {f.unit}", baseline, ratio, f.goal, _verdict(f), f.note]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def write(folder: Path, figures: Sequence[Figure], *, started: datetime, seconds: float, smoke: bool) -> Path:
    """Write RESULTS.md and results.json into `folder`; returns the RESULTS.md path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "RESULTS.md"
    path.write_text(render(figures, started=started, seconds=seconds, smoke=smoke))
    data = {
        "started": started.isoformat(),
        "seconds": seconds,
        "smoke": smoke,
        "figures": [asdict(f) | {"ratio": f.ratio} for f in figures],
    }
    (folder / "results.json").write_text(json.dumps(data, indent=2) + "\n")
    return path
