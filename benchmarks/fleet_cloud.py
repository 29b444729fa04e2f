"""The cloud side of the fleet benchmark: file-descriptor limits, process memory, bulk registration and waits."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from lockers.layout import LockerLayout


def raise_fd_limit(wanted: int) -> int:
    """Raise this process's RLIMIT_NOFILE to `wanted` (children started afterwards inherit it, mosquitto too);
    the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return soft
    try:  # root may raise the hard limit as well
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, max(hard, wanted)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def fd_limit_of(pid: int) -> int:
    """The soft 'Max open files' of a running process, from /proc."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise RuntimeError(f"no open-files limit in /proc/{pid}/limits")


def rss_mb(pid: int) -> float:
    """Resident memory (VmRSS) of a process in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


def register(
    url: str, admin_key: str, lockers: list[str], layout: LockerLayout, *, threads: int = 6, done: Callable = None
) -> None:
    """Register `lockers` through the admin API (POST /api/v1/lockers; there is no bulk endpoint), a few
    requests in flight so both cores work; `done()` after each."""
    body = {"village": "Benchdorp", "layout": layout.model_dump(mode="json")}

    def work(chunk: list[str]) -> None:
        with httpx.Client(base_url=url, headers={"X-API-Key": admin_key}, timeout=60) as http:
            for locker in chunk:
                response = http.post("/api/v1/lockers", json={**body, "id": locker, "name": f"Fleet {locker}"})
                if response.status_code != 201:
                    raise RuntimeError(f"registering {locker}: {response.status_code} {response.text[:200]}")
                if done is not None:
                    done()

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, [lockers[i::threads] for i in range(threads)]))


def processed(http: httpx.Client) -> int:
    """Messages the cloud's ingest has processed so far (GET /api/v1/health)."""
    health = http.get("/api/v1/health").json()
    return health["ingest"]["processed"]


def online_count(http: httpx.Client) -> tuple[int, float]:
    """(lockers online in the cloud's view, seconds the GET /api/v1/lockers took)."""
    started = time.perf_counter()
    response = http.get("/api/v1/lockers")
    response.raise_for_status()
    took = time.perf_counter() - started
    return sum(1 for locker in response.json() if locker["online"]), took


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.05) -> float | None:
    """Poll `check` until true; time.monotonic() when it was first seen true, or None after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return time.monotonic()
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)
