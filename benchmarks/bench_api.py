"""4. API: order create + assign (POST /api/v1/orders with a vendor key) under an open-loop load.

A real cloud process (uvicorn, as `python -m cloud` serves it) on the bench database and a private mosquitto
(each order publishes the locker's desired state). Requests leave on a fixed schedule and latency counts from
the scheduled send time, so a slow answer is never hidden by a late send. Enough lockers are registered that
assignment never runs out of compartments: every order takes a (locker, zone) place nobody ordered before.
Baseline: GET /api/v1/health (no database) at the same fixed rate, the floor of this HTTP stack.
"""

from __future__ import annotations

import secrets
import time

import httpx

from benchmarks.api_cloud import percentile, running_cloud
from benchmarks.api_load import RunResult, open_loop
from benchmarks.context import BenchContext
from benchmarks.results import Figure
from dorpskluis.stack import CloudAdmin, CloudConfig
from lockers.layout import demo_layout

BENCH = "4. API"
LIMIT_MS = 100.0
RESIDENT = {"name": "Mevrouw J. de Vries", "email": "j.devries@example.nl"}


class Places:
    """(locker, zone) places never ordered into; more lockers are registered when they run short."""

    def __init__(self, admin: CloudAdmin) -> None:
        self._admin = admin
        self._layout = demo_layout()
        self._free: list[tuple[str, str]] = []
        self.lockers = 0

    def take(self, count: int) -> list[tuple[str, str]]:
        """`count` places, spread over lockers (consecutive orders rarely wait for the same locker's lock)."""
        per_locker = len(self._layout.compartments)
        if len(self._free) < count:
            new = [f"bench-api-{n}" for n in range(self.lockers, self.lockers + -(-count // per_locker))]
            for locker in new:
                self._admin.register_locker(locker, locker, "Benchdorp", self._layout)
            self.lockers += len(new)
            zones = [c.zone.value for c in self._layout.compartments]
            self._free += [(locker, zone) for zone in zones for locker in new]
        taken, self._free = self._free[:count], self._free[count:]
        return taken


def _settle(config: CloudConfig, timeout: float = 60.0) -> None:
    """Wait until the cloud answers /health within 50 ms again: what an overloaded step left queued is done."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=config.url, timeout=timeout) as http:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            http.get("/api/v1/health")
            if time.perf_counter() - started < 0.05:
                return
            time.sleep(0.2)


def _orders(config: CloudConfig, key: str, places: Places, rate: float, count: int) -> RunResult:
    chosen = places.take(count)  # registering lockers is not measured: let the cloud settle before the load
    _settle(config)

    def request(n: int) -> tuple[str, str, dict]:
        locker, zone = chosen[n]
        body = {"locker": locker, "resident": RESIDENT, "parts": [{"zone": zone, "size": "S"}]}
        return "POST", "/api/v1/orders", body

    return open_loop(config.url, {"X-API-Key": key}, rate, count, request)


def _health(config: CloudConfig, rate: float, count: int) -> RunResult:
    return open_loop(config.url, {}, rate, count, lambda _n: ("GET", "/api/v1/health", None))


def _failures(result: RunResult) -> str:
    """e.g. "2× HTTP 500, 1 unanswered"."""
    parts = [f"{count}× HTTP {status}" for status, count in sorted(result.statuses.items()) if status >= 300]
    kinds = ", ".join(f"{count}× {name}" for name, count in sorted(result.error_kinds.items()))
    return ", ".join(parts + ([f"{result.errors} unanswered ({kinds})"] if result.errors else [])) or "none"


def _p99(result: RunResult) -> float:
    """p99 in ms; requests that got no answer or an error count as over the limit."""
    return percentile(result.latencies_ms, 99) if not result.failed else max(LIMIT_MS * 10, *result.latencies_ms)


def run(ctx: BenchContext) -> list[Figure]:
    fixed_rate = 20.0
    fixed_s = ctx.pick(15, 1)
    step_s = ctx.pick(5, 1)
    rates = ctx.pick([20, 40, 60, 80, 100, 130, 160, 200, 250, 300], [20, 40])
    with ctx.database() as (url, database), ctx.broker() as broker, running_cloud(ctx, url, broker) as (config, admin):
        admin.http.timeout = httpx.Timeout(60.0)  # registering between steps may wait out a backlog
        key = admin.create_vendor("bench-shop", "Bench shop", "farmer", secrets.token_urlsafe(24))["api_key"]
        places = Places(admin)
        task = ctx.task("api: orders, open loop", 3 + len(rates))
        _orders(config, key, places, 10, ctx.pick(40, 5))  # warm-up: connections, caches; not counted
        task.advance()
        floor = _health(config, fixed_rate, int(fixed_rate * fixed_s))
        task.advance()
        fixed = _orders(config, key, places, fixed_rate, int(fixed_rate * fixed_s))
        task.advance()
        under, over, steps = 0.0, None, []
        for rate in rates:
            result = _orders(config, key, places, rate, int(rate * step_s))
            steps.append(f"{rate}/s: {_p99(result):.0f}")
            task.advance()
            if _p99(result) > LIMIT_MS:
                over = rate
                break
            under = rate
        lockers = places.lockers
    failed = fixed.failed + floor.failed
    note = (
        f"{database}; uvicorn as in production; one-part orders over {lockers} demo lockers (never full); "
        f"open loop, latency from the scheduled send; {int(fixed_rate * fixed_s)} requests at {fixed_rate:g}/s"
        + (f"; failed: {_failures(fixed)} (orders), {_failures(floor)} (health)" if failed else "")
    )
    knee = f"first rate over 100 ms: {over}/s" if over else f"p99 stayed under 100 ms up to {rates[-1]}/s"
    label = f"GET /health at {fixed_rate:g}/s"
    return [
        Figure(
            BENCH,
            f"p50 order create + assign at {fixed_rate:g} req/s",
            percentile(fixed.latencies_ms, 50),
            "ms",
            percentile(floor.latencies_ms, 50),
            label,
            note=note,
        ),
        Figure(
            BENCH,
            f"p99 order create + assign at {fixed_rate:g} req/s",
            _p99(fixed),
            "ms",
            _p99(floor),
            label,
        ),
        Figure(
            BENCH,
            "highest rate with p99 ≤ 100 ms",
            under,
            "req/s",
            note=f"{knee}; steps of {step_s} s, p99 ms per rate: " + ", ".join(steps),
        ),
    ]
