"""One run of the ingest pipeline: a private mosquitto, the real cloud process(es) on a fresh database, simulated
lockers publishing for a while; then every reading sent is looked for in the `readings` table."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from benchmarks.context import BenchContext
from benchmarks.ingest_load import READINGS_PER_MESSAGE, LoadSpec, Publishers, bench_password, payload
from dorpskluis.broker import free_port
from dorpskluis.procs import ChildProcess
from dorpskluis.stack import CloudAdmin, CloudConfig, start_cloud
from lockers.layout import demo_layout
from lockers.mqtt import BrokerAddress, MqttSession, Outbound
from lockers.protocol.topics import Channel, topic

ADMIN_KEY = "bench-ingest-admin-key-0123456789"
PROBE = "bench-probe"
PROBE_SENSOR = "28-00000000a001"
PROBE_EVERY_S = 0.25
PROBE_POLL_S = 0.02  # each look is a query: looking more often would take PostgreSQL from the ingest it measures


@dataclass(frozen=True)
class RunSpec:
    """One configuration of the pipeline."""

    tuned: bool  # TCP_NODELAY on the broker, the lockers and the cloud
    lockers: int
    publishers: int  # publisher processes
    offered_readings_per_s: float
    duration_s: float
    ingest_processes: int = 1  # > 1: telemetry shared over `$share/ingest/...` between cloud processes
    secured: bool = False  # the broker as deployed: every locker and the cloud log in, the ACL checks each message
    drain_timeout_s: float = 60.0


@dataclass
class RunResult:
    """What one run measured."""

    database: str
    sent_readings: int = 0
    stored_readings: int = 0
    extra_readings: int = 0  # rows no locker sent (never expected)
    delivered_twice: int = 0  # QoS 1 redeliveries the cloud received (stored once all the same)
    seconds: float = 0.0  # first publish → last reading stored
    publisher_behind_s: float = 0.0
    lag_ms: list[float] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return self.sent_readings - self.stored_readings

    @property
    def readings_per_s(self) -> float:
        return self.stored_readings / self.seconds if self.seconds else 0.0

    @property
    def messages_per_s(self) -> float:
        return self.readings_per_s / READINGS_PER_MESSAGE

    def lag(self, q: float) -> float:
        if not self.lag_ms:
            return 0.0
        if len(self.lag_ms) == 1:
            return self.lag_ms[0]
        return statistics.quantiles(self.lag_ms, n=100, method="inclusive")[round(q * 100) - 1]


def run_pipeline(ctx: BenchContext, spec: RunSpec, progress) -> RunResult:
    """Broker, database and cloud fresh for this run; returns what it measured."""
    with ctx.database() as (url, kind), ctx.broker(tcp_nodelay=spec.tuned, secured=spec.secured) as broker:
        folder = ctx.folder("ingest-cloud")
        clouds = _start_clouds(url, broker, folder, spec)
        try:
            return _measure(ctx, spec, url, kind, broker, clouds, progress)
        finally:
            for _config, child in reversed(clouds):
                child.stop()


def _start_clouds(url: str, broker, folder: Path, spec: RunSpec) -> list[tuple[CloudConfig, ChildProcess]]:
    clouds = []
    try:
        for index in range(spec.ingest_processes):
            settings = [("DK_MQTT_TCP_NODELAY", str(spec.tuned).lower())]
            if spec.ingest_processes > 1:
                settings.append(("DK_MQTT_SHARE_GROUP", "ingest"))
            if index > 0:  # extra ingest nodes take telemetry only; events etc. stay on the first
                settings.append(("DK_INGEST_TELEMETRY_ONLY", "true"))
            config = CloudConfig(
                database_url=url,
                data_dir=folder / f"data-{index}",
                broker=broker,
                admin_key=ADMIN_KEY,
                http_port=free_port(),
                client_id=f"dk-cloud-{index}",
                settings=tuple(settings),
            )
            clouds.append((config, start_cloud(config, folder / "logs")))
    except BaseException:
        for _config, child in reversed(clouds):
            child.stop()
        raise
    return clouds


def _measure(ctx, spec: RunSpec, url: str, kind: str, broker, clouds, progress) -> RunResult:
    main = clouds[0][0]
    lockers = [f"bench-{index:05d}" for index in range(spec.lockers)]
    admin = CloudAdmin(main.url, ADMIN_KEY)
    try:
        for locker in [*lockers, PROBE]:
            admin.register_locker(locker, locker, "Benchdorp", demo_layout())
    finally:
        admin.close()
    if spec.secured:  # one account per locker, written at once (one reload of the broker)
        broker.accounts().set_many({name: bench_password(name) for name in [*lockers, PROBE]})
    rounds_per_s = spec.offered_readings_per_s / READINGS_PER_MESSAGE / spec.lockers
    shares = [tuple(lockers[i :: spec.publishers]) for i in range(spec.publishers)]
    publishers = Publishers(
        [
            LoadSpec(broker.host, broker.port, share, rounds_per_s, spec.duration_s, spec.tuned, spec.secured)
            for share in shares
        ]
    )
    engine = create_engine(url)
    result = RunResult(kind)
    login = (PROBE, bench_password(PROBE)) if spec.secured else (None, None)
    probe = MqttSession(
        BrokerAddress(broker.host, broker.port, *login), PROBE, persistent=False, tcp_nodelay=spec.tuned
    )
    probe.start()
    try:
        probe.wait_connected(10)
        start = publishers.begin()
        time.sleep(max(0.0, start - time.time()))
        probes = _probe_lag(engine, probe, result, start + spec.duration_s, progress)
        loads = publishers.results(timeout=spec.duration_s + 120)
        sent = {locker: n for load in loads for locker, n in load.sent.items()} | {PROBE: probes}
        result.sent_readings = sum(sent.values()) * READINGS_PER_MESSAGE
        result.publisher_behind_s = max(load.behind_s for load in loads)
        first = min(load.first_publish for load in loads)
        done = _wait_stored(engine, result.sent_readings, spec.drain_timeout_s)
        result.seconds = done - first
        _verify(engine, sent, result)
        received = sum(_health(config)["ingest"]["received"] for config, _child in clouds)
        births = spec.lockers  # one retained `online` per locker, received besides its telemetry
        result.delivered_twice = max(0, received - sum(sent.values()) - births)
    finally:
        probe.stop()
        publishers.close()
        engine.dispose()
    return result


def _probe_lag(engine, probe: MqttSession, result: RunResult, until: float, progress) -> int:
    """Every PROBE_EVERY_S while the lockers publish, one probe message; each is timed from its publish until the
    probe's newest stored reading reaches its timestamp (looked for every PROBE_POLL_S, also after the load ends)."""
    waiting: list[tuple[datetime, float]] = []  # (reading ts, perf_counter at publish), oldest first
    sent, next_probe = 0, time.time()
    query = text("SELECT ts FROM latest_readings WHERE locker_id = :locker AND sensor = :sensor")
    deadline = until + 60
    with engine.connect() as connection:
        while (time.time() < until or waiting) and time.time() < deadline:
            if time.time() >= next_probe and time.time() < until:
                ts = datetime.now(UTC)
                probe.publish(Outbound(topic(PROBE, Channel.TELEMETRY), payload(ts, _rng), qos=1))
                waiting.append((ts, time.perf_counter()))
                sent += 1
                next_probe += PROBE_EVERY_S
            stored = connection.execute(query, {"locker": PROBE, "sensor": PROBE_SENSOR}).scalar()
            connection.rollback()  # a fresh snapshot for the next look
            now = time.perf_counter()
            while waiting and stored is not None and _aware(stored) >= waiting[0][0]:
                result.lag_ms.append((now - waiting.pop(0)[1]) * 1000)
            progress.update(completed=min(1.0, 1 - max(0.0, until - time.time()) / 60))
            time.sleep(PROBE_POLL_S)
    return sent


def _aware(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _wait_stored(engine, expected: int, timeout: float) -> float:
    """time.time() when the readings table first held `expected` rows (or when it stopped growing)."""
    last, last_change = -1, time.monotonic()
    with engine.connect() as connection:
        while True:
            count = connection.execute(text("SELECT count(*) FROM readings")).scalar()
            connection.rollback()
            now = time.time()
            if count >= expected:
                return now
            if count != last:
                last, last_change = count, time.monotonic()
            elif time.monotonic() - last_change > timeout:
                return now - timeout
            time.sleep(0.05)


def _verify(engine, sent: dict[str, int], result: RunResult) -> None:
    """Every reading sent is stored once: per locker and sensor, one row per message sent."""
    query = text("SELECT locker_id, sensor, count(*) AS n FROM readings GROUP BY locker_id, sensor")
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    stored = 0
    for row in rows:
        expected = sent.get(row.locker_id, 0)
        stored += min(row.n, expected)
        result.extra_readings += max(0, row.n - expected)
    result.stored_readings = stored


def _health(config: CloudConfig) -> dict:
    return httpx.get(f"{config.url}/api/v1/health", timeout=10).json()


class _Rng:
    """Probe readings need no noise."""

    @staticmethod
    def uniform(_low: float, _high: float) -> float:
        return 0.0


_rng = _Rng()
