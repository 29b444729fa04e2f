"""The benchmarks, in the order `make bench` runs them: name → module with `run(ctx) -> list[Figure]`."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from benchmarks.context import BenchContext
from benchmarks.results import Figure

BENCHMARKS: dict[str, str] = {
    "ingest": "benchmarks.bench_ingest",  # 1. telemetry through mosquitto into the cloud
    "unlock": "benchmarks.bench_unlock",  # 2. code typed → lock relay on, uplink cut
    "alert": "benchmarks.bench_alert",  # 3. rule delay expired → alert raised and webhook sent
    "api": "benchmarks.bench_api",  # 4. order create + assign latency and the knee
    "fleet": "benchmarks.bench_fleet",  # 5. many lockers on one cloud node
    "edge": "benchmarks.bench_edge",  # 6. agent memory and CPU
    "assignment": "benchmarks.bench_assignment",  # 7. orders booked in a week against the offline optimum
}


def load(name: str) -> Callable[[BenchContext], list[Figure]]:
    """The `run` function of one benchmark."""
    return importlib.import_module(BENCHMARKS[name]).run
