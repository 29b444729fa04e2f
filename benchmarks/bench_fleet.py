"""5. Fleet: N simulated lockers connected to one real cloud process; its memory, and how fast it notices one go."""

from __future__ import annotations

import os
import secrets
import statistics
import time

import httpx

from benchmarks import fleet_cloud as cloudside
from benchmarks.context import BenchContext
from benchmarks.fleet_sim import Fleet
from benchmarks.results import Figure
from cloud.settings import Settings
from dorpskluis.broker import free_port
from dorpskluis.stack import CloudConfig, start_cloud
from lockers.layout import demo_layout

BENCH = "5. Fleet"
TARGET = 10_000
# The target itself: the cloud takes runs of queued `state` and `reported` in one transaction each (10,000 lockers
# send 20,000 at connect, then ~170 heartbeats/s), so the full run fits in ~3 minutes on the 2-core machine, most
# of it registering the lockers. DK_BENCH_FLEET_N sets another size.
FULL_N = 10_000
HEARTBEAT_S = 60.0  # the edge's default (edge/config.py)
ONLINE_WAIT_S = 120.0  # longest wait for all N to show online before the figures are taken as they are
CUT_WAIT_S = 20.0  # longest wait for one dropped locker to show offline


def run(ctx: BenchContext) -> list[Figure]:
    n = ctx.pick(int(os.environ.get("DK_BENCH_FLEET_N", FULL_N)), 20)
    cuts = ctx.pick(20, 3)  # lockers whose connection is dropped, one after the other
    # Before the broker starts: mosquitto is our child and inherits the limit (a socket per locker, both sides).
    fd_limit = cloudside.raise_fd_limit(2 * n + 4096)
    with ctx.database() as (db_url, db_name), ctx.broker() as broker:
        broker_fds = cloudside.fd_limit_of(broker.process.pid) if broker.process else 0
        if broker.kind == "mosquitto" and broker_fds < n + 100:
            raise RuntimeError(f"mosquitto may open only {broker_fds} files; {n} lockers need more")
        config = CloudConfig(
            database_url=db_url,
            data_dir=ctx.folder("cloud"),
            broker=broker,
            admin_key=secrets.token_urlsafe(24),
            http_port=free_port(),
            client_id="dk-cloud-fleet",
        )
        cloud = start_cloud(config, ctx.folder("logs"))
        fleet = None
        try:
            http = httpx.Client(base_url=config.url, headers={"X-API-Key": config.admin_key}, timeout=120)
            cloudside.online_count(http)  # warm: every route and its imports loaded before the baseline
            m = {"baseline_mb": cloudside.rss_mb(cloud.popen.pid)}
            lockers = [f"fleet-{i:05d}" for i in range(n)]
            layout = demo_layout()
            bar = ctx.task(f"fleet: register {n} lockers", n)
            started = time.monotonic()
            cloudside.register(config.url, config.admin_key, lockers, layout, done=bar.advance)
            m["register_s"] = time.monotonic() - started

            fleet = Fleet(broker.host, broker.port, heartbeat_s=HEARTBEAT_S, doors=[c.id for c in layout.compartments])
            m |= _bring_online(ctx, http, fleet, lockers)
            m["loaded_mb"] = cloudside.rss_mb(cloud.popen.pid)
            m["noticed"] = _cut_one_by_one(ctx, http, fleet, lockers, cuts)
            m["health"] = http.get("/api/v1/health").json()
            m["dropped"] = list(fleet.dropped)
        finally:
            cloud.stop()
            if fleet is not None:
                fleet.stop()
    return _figures(n, m, f"{db_name}, mosquitto (open-files limit {broker_fds:,}, ours {fd_limit:,})", cuts)


def _bring_online(ctx: BenchContext, http: httpx.Client, fleet: Fleet, lockers: list[str]) -> dict:
    """Connect the fleet, then wait (at most ONLINE_WAIT_S) until the cloud's locker list shows all online."""
    n = len(lockers)
    bar = ctx.task(f"fleet: connect {n} lockers", n)
    started = time.monotonic()
    before = cloudside.processed(http)
    fleet.connect(lockers, done=bar.advance)
    connect_s = time.monotonic() - started
    if fleet.failures:
        raise RuntimeError(f"{len(fleet.failures)} locker(s) failed to connect, e.g. {fleet.failures[:3]}")
    deadline = time.monotonic() + ONLINE_WAIT_S
    # Cheap gate first (the birth and first `reported` of each), then the cloud's own view: the locker list.
    bar = ctx.task("fleet: cloud ingests births and reports", 2 * n)
    ingested = cloudside.wait_until(
        lambda: _progress(bar, cloudside.processed(http) - before) >= 2 * n, deadline - time.monotonic(), 0.2
    )
    counts: list[int] = []
    list_s: list[float] = []

    def all_online() -> bool:
        online, took = cloudside.online_count(http)
        counts.append(online)
        list_s.append(took)
        return online == n

    online_at = cloudside.wait_until(all_online, max(deadline - time.monotonic(), 0), 0.5) if ingested else None
    if online_at is not None:  # the list latency at N, with everything settled
        list_s = [cloudside.online_count(http)[1] for _ in range(ctx.pick(3, 1))]
    return {
        "connect_s": connect_s,
        "online_s": online_at - started if online_at else None,
        "online": counts[-1] if counts else 0,
        "list_s": list_s,
    }


def _progress(bar, value: int) -> int:
    bar.update(completed=value)
    return value


def _cut_one_by_one(ctx: BenchContext, http: httpx.Client, fleet: Fleet, lockers: list[str], cuts: int) -> list:
    """Drop `cuts` connections spread over the fleet, one at a time; per cut the seconds until
    GET /api/v1/lockers/{id} says offline (None: not within CUT_WAIT_S)."""
    bar = ctx.task(f"fleet: drop {cuts} connections", cuts)
    noticed: list[float | None] = []
    for locker in lockers[:: max(len(lockers) // cuts, 1)][:cuts]:
        at = fleet.cut([locker])
        seen = cloudside.wait_until(
            lambda lk=locker: not http.get(f"/api/v1/lockers/{lk}").json()["online"], CUT_WAIT_S, interval=0.005
        )
        noticed.append(seen - at if seen is not None else None)
        bar.advance()
    return noticed


def _figures(n: int, m: dict, where: str, cuts: int) -> list[Figure]:
    health = m["health"]
    healthy = health["status"] == "ok" and health["mqtt_connected"] and health["ingest"]["dropped"] == 0
    noticed = [s for s in m["noticed"] if s is not None]
    works = len(noticed) == cuts
    all_online = m["online_s"] is not None
    stayed = not m["dropped"]  # a simulated locker whose heartbeat failed: the fleet figure has a hole
    met = n >= TARGET and all_online and healthy and works and stayed
    why = "" if met else f"; not met: {_why_not(n, all_online, healthy, works, m['dropped'])}"
    settings = Settings.model_fields
    offline_after = settings["offline_after_s"].default
    watchdog_s = settings["watchdog_interval_s"].default
    online_note = (
        f"first CONNECT → GET /api/v1/lockers shows all online; the fleet itself connected in {m['connect_s']:.1f} s"
        if all_online
        else f"not all online within {ONLINE_WAIT_S:g} s of connecting: {m['online']:,} of {n:,} (value: the wait)"
    )
    figures = [
        Figure(
            BENCH,
            "lockers online on one cloud node",
            m["online"],
            "lockers",
            goal="≥ 10,000",
            met=met,
            note=f"N={n:,}, {where}; each an amqtt client: Last Will, retained birth, `reported` every "
            f"{HEARTBEAT_S:g} s; registered through the admin API in {m['register_s']:.0f} s; health "
            f"{'ok' if healthy else 'NOT ok'}, {health['ingest']['dropped']} dropped{why}",
        ),
        Figure(
            BENCH,
            f"cloud RSS with {n:,} lockers connected",
            m["loaded_mb"],
            "MB",
            m["baseline_mb"],
            "0 lockers",
            note="VmRSS of the cloud process (/proc)",
        ),
        Figure(
            BENCH,
            f"time for all {n:,} to show online",
            m["online_s"] if all_online else m["connect_s"] + ONLINE_WAIT_S,
            "s",
            note=online_note,
        ),
    ]
    if m["list_s"]:
        figures.append(
            Figure(
                BENCH,
                f"GET /api/v1/lockers at {n:,} lockers",
                statistics.median(m["list_s"]) * 1000,
                "ms",
                note=f"median of {len(m['list_s'])}, admin caller, full status of every locker",
            )
        )
    figures += [
        Figure(
            BENCH,
            "offline noticed after a dropped connection (Last Will)",
            max(noticed) * 1000 if noticed else CUT_WAIT_S * 1000,
            "ms",
            note=f"worst of {cuts} cuts without DISCONNECT, one at a time, until GET /api/v1/lockers/{{id}} says "
            f"online=false; p50 {statistics.median(noticed) * 1000 if noticed else float('nan'):.0f} ms; "
            f"{cuts - len(noticed)} not noticed within {CUT_WAIT_S:g} s",
        ),
        Figure(
            BENCH,
            "offline noticed without a Last Will (heartbeat age), bound",
            offline_after,
            "s",
            note=f"from settings, not measured: DK_OFFLINE_AFTER_S after the last message, so "
            f"{offline_after - HEARTBEAT_S:g}–{offline_after:g} s after going silent with a {HEARTBEAT_S:g} s "
            f"heartbeat; the offline alert follows within DK_WATCHDOG_INTERVAL_S={watchdog_s:g} s. A half-open "
            "connection ends sooner: mosquitto drops it after 1.5× the 30 s keepalive (45 s) and sends the Last Will",
        ),
    ]
    return figures


def _why_not(n: int, all_online: bool, healthy: bool, works: bool, dropped: list[str]) -> str:
    reasons = []
    if dropped:
        reasons.append(f"{len(dropped)} simulated locker(s) lost their connection, e.g. {dropped[0]}")
    if n < TARGET:
        reasons.append(f"N={n:,} is below the {TARGET:,} target")
    if not all_online:
        reasons.append(f"not all online within {ONLINE_WAIT_S:g} s")
    if not healthy:
        reasons.append("health not ok")
    if not works:
        reasons.append("a dropped connection went unnoticed")
    return ", ".join(reasons)
