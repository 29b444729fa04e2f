"""Simulated lockers for the ingest benchmark: publisher processes, one MQTT connection per locker.

Each locker announces itself (a retained `online` state, as an edge agent's birth), then publishes one QoS 1
`Telemetry` batch per round with one reading per sensor of the demo cabinet, as edge/telemetry.py does, stamped
with the wall clock (strictly increasing per locker, so no reading is ever a repeat). Rounds are paced at a fixed
offered rate; a locker keeps at most `WINDOW` messages in flight, as edge/publisher.py does. The packets are
written by benchmarks/mqtt_wire.py, not paho: the lockers stand in for devices far away and must leave this
machine's CPU to what is measured."""

from __future__ import annotations

import multiprocessing
import os
import queue
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from benchmarks import mqtt_wire as wire
from lockers.layout import demo_layout
from lockers.protocol.topics import Channel, topic

NICE = 10
WINDOW = 200  # edge/publisher.py DEFAULT_WINDOW
NORMAL_C = {"ambient": 20.0, "chilled": 4.0, "frozen": -20.0}  # inside the limits: the rules run, no alarms
SENSORS = [(s.id, s.zone.value) for s in demo_layout().sensors]
READINGS_PER_MESSAGE = len(SENSORS)
BIRTH = b'{"v":1,"state":"online","agent":"bench"}'


@dataclass(frozen=True)
class LoadSpec:
    """What one publisher process does."""

    host: str
    port: int
    lockers: tuple[str, ...]
    rounds_per_s: float  # every locker publishes once per round
    duration_s: float  # rounds start until this long after round 0
    tcp_nodelay: bool
    secured: bool = False  # each locker logs in with its own account (bench_password)


@dataclass(frozen=True)
class LoadResult:
    """What one process sent: messages per locker, and the publish time span."""

    sent: dict[str, int]
    unacked: int
    first_publish: float
    last_publish: float
    behind_s: float  # how far the slowest round started behind its schedule (publisher-bound if large)


def bench_password(locker: str) -> str:
    """The benchmark's account password of a simulated locker (real lockers get random ones at enrollment)."""
    return f"bench-password-of-{locker}"


def payload(ts: datetime, rng: random.Random) -> bytes:
    """One reading per sensor, in the wire format of codec.encode (checked by the smoke test through the cloud)."""
    stamp = ts.isoformat().replace("+00:00", "Z")
    parts = [
        f'{{"v":1,"sensor":"{sensor}","zone":"{zone}","ts":"{stamp}","celsius":'
        f'{NORMAL_C[zone] + rng.uniform(-0.5, 0.5):.2f},"quality":"ok"}}'
        for sensor, zone in SENSORS
    ]
    return ('{"v":1,"readings":[' + ",".join(parts) + "]}").encode()


def publish(spec: LoadSpec, ready, go, results) -> None:
    """Entry point of a publisher process; a failure is reported instead of a result."""
    try:
        _publish(spec, ready, go, results)
    except BaseException as exc:
        results.put(exc)
        raise


def _publish(spec: LoadSpec, ready, go, results) -> None:
    """Connect every locker, run the rounds, wait for the PUBACKs."""
    # The lockers stand in for devices far away: on this 2-core machine they must not take CPU from the cloud,
    # mosquitto and PostgreSQL under test (they get what is left; if that is too little, they fall behind).
    os.nice(NICE)
    rng = random.Random()
    lockers = [
        wire.connect(
            spec.host,
            spec.port,
            f"bench-{name}",
            topic(name, Channel.TELEMETRY),
            tcp_nodelay=spec.tcp_nodelay,
            birth=(topic(name, Channel.STATE), BIRTH),  # as an edge agent announces itself
            credentials=(name, bench_password(name)) if spec.secured else None,
        )
        for name in spec.lockers
    ]
    acks = wire.AckReader(lockers)
    last_ts: dict[str, datetime] = {}
    ready.put(len(lockers))
    start_at = go.get(timeout=120)  # time.time() of round 0, the same for every process
    time.sleep(max(0.0, start_at - time.time()))
    first = time.time()
    behind = 0.0
    round_no = 0
    while True:
        due = start_at + round_no / spec.rounds_per_s
        round_no += 1
        now = time.time()
        if now >= start_at + spec.duration_s:
            break
        if due > now:
            while now < due:  # read PUBACKs while waiting for the round
                acks.poll(due - now)
                now = time.time()
        else:
            behind = max(behind, now - due)
            acks.poll()
        for locker in lockers:
            if len(locker.in_flight) >= WINDOW:
                acks.wait_until(lambda locker=locker: len(locker.in_flight) < WINDOW, 60)
            ts = datetime.now(UTC)
            previous = last_ts.get(locker.client_id)
            if previous is not None and ts <= previous:
                ts = previous + timedelta(microseconds=1)
            last_ts[locker.client_id] = ts
            locker.publish(payload(ts, rng))
            locker.flush()
    last = time.time()
    acks.wait_until(lambda: not any(locker.in_flight for locker in lockers), 60)
    acks.close()
    unacked = sum(len(locker.in_flight) for locker in lockers)
    sent = {locker.client_id.removeprefix("bench-"): locker.sent for locker in lockers}
    for locker in lockers:
        wire.disconnect(locker)
    results.put(LoadResult(sent, unacked, first, last, behind))


class Publishers:
    """One process per spec (spawned: no paho state inherited); `begin` once all are connected, then `results`."""

    def __init__(self, specs: list[LoadSpec]) -> None:
        context = multiprocessing.get_context("spawn")
        self._ready, self._go, self._results = context.Queue(), context.Queue(), context.Queue()
        self._processes = [
            context.Process(target=publish, args=(spec, self._ready, self._go, self._results), daemon=True)
            for spec in specs
        ]
        for process in self._processes:
            process.start()

    def begin(self, lead_s: float = 0.2, timeout: float = 120) -> float:
        """Wait until every process connected its lockers, start them together; returns the start time."""
        deadline = time.monotonic() + timeout
        ready = 0
        while ready < len(self._processes):
            if any(p.exitcode not in (None, 0) for p in self._processes) or time.monotonic() > deadline:
                raise RuntimeError("a publisher process failed to connect its lockers")
            try:
                self._ready.get(timeout=0.5)
                ready += 1
            except queue.Empty:
                continue
        start_at = time.time() + lead_s
        for _ in self._processes:
            self._go.put(start_at)
        return start_at

    def results(self, timeout: float) -> list[LoadResult]:
        try:
            collected = [self._results.get(timeout=timeout) for _ in self._processes]
        finally:
            self.close()
        for item in collected:
            if isinstance(item, BaseException):
                raise RuntimeError(f"a publisher process failed: {item!r}") from item
        return collected

    def close(self) -> None:
        for process in self._processes:
            process.join(5)
            if process.is_alive():
                process.terminate()
