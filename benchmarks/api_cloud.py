"""Shared by the alert and API benchmarks: a real cloud process (uvicorn, as in production) and percentiles."""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from benchmarks.context import BenchContext
from dorpskluis.broker import RunningBroker, free_port
from dorpskluis.stack import CloudAdmin, CloudConfig, start_cloud


@contextmanager
def running_cloud(
    ctx: BenchContext, database_url: str, broker: RunningBroker, settings: tuple[tuple[str, str], ...] = ()
) -> Iterator[tuple[CloudConfig, CloudAdmin]]:
    """`python -m cloud` on `database_url` and `broker`, healthy; stopped (SIGTERM) afterwards."""
    folder = ctx.folder("cloud")
    config = CloudConfig(
        database_url=database_url,
        data_dir=folder / "data",
        broker=broker,
        admin_key=secrets.token_urlsafe(32),
        http_port=free_port(),
        client_id=f"dk-cloud-bench-{secrets.token_hex(4)}",
        settings=settings,
    )
    child = start_cloud(config, folder / "logs")
    admin = CloudAdmin(config.url, config.admin_key)
    try:
        yield config, admin
    finally:
        admin.close()
        child.stop()


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) of raw samples, linearly interpolated between closest ranks."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
