"""Simulated lockers for the ingest benchmark: publisher processes, one MqttSession (connection) per locker.

Each locker publishes one QoS 1 `Telemetry` batch per round with one reading per sensor of the demo cabinet,
as edge/telemetry.py does, stamped with the wall clock (strictly increasing per locker, so no reading is ever
a repeat). Rounds are paced at a fixed offered rate; a locker keeps at most `window` messages in flight, as
edge/publisher.py does.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import random
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lockers.layout import demo_layout
from lockers.mqtt import BrokerAddress, Delivery, MqttSession, Outbound
from lockers.protocol.topics import Channel, topic

NICE = 10
WINDOW = 200  # edge/publisher.py DEFAULT_WINDOW
NORMAL_C = {"ambient": 20.0, "chilled": 4.0, "frozen": -20.0}  # inside the limits: the rules run, no alarms
SENSORS = [(s.id, s.zone.value) for s in demo_layout().sensors]
READINGS_PER_MESSAGE = len(SENSORS)


@dataclass(frozen=True)
class LoadSpec:
    """What one publisher process does."""

    host: str
    port: int
    lockers: tuple[str, ...]
    rounds_per_s: float  # every locker publishes once per round
    duration_s: float  # rounds start until this long after round 0
    tcp_nodelay: bool


@dataclass(frozen=True)
class LoadResult:
    """What one process sent: messages per locker, and the publish time span."""

    sent: dict[str, int]
    unacked: int
    first_publish: float
    last_publish: float
    behind_s: float  # how far the slowest round started behind its schedule (publisher-bound if large)


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
    sessions = {
        locker: MqttSession(
            BrokerAddress(spec.host, spec.port), f"bench-{locker}", persistent=False, tcp_nodelay=spec.tcp_nodelay
        )
        for locker in spec.lockers
    }
    for session in sessions.values():
        session.start()
    for session in sessions.values():
        session.wait_connected(30)
    topics = {locker: topic(locker, Channel.TELEMETRY) for locker in spec.lockers}
    in_flight: dict[str, deque[Delivery]] = {locker: deque() for locker in spec.lockers}
    last_ts: dict[str, datetime] = {}
    sent = dict.fromkeys(spec.lockers, 0)
    ready.put(len(sessions))
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
            time.sleep(due - now)
        else:
            behind = max(behind, now - due)
        for locker, session in sessions.items():
            window = in_flight[locker]
            while window and window[0].acknowledged:
                window.popleft()
            if len(window) >= WINDOW:
                window.popleft().wait(60)
            ts = datetime.now(UTC)
            previous = last_ts.get(locker)
            if previous is not None and ts <= previous:
                ts = previous + timedelta(microseconds=1)
            last_ts[locker] = ts
            window.append(session.publish(Outbound(topics[locker], payload(ts, rng), qos=1)))
            sent[locker] += 1
    last = time.time()
    unacked = 0
    for window in in_flight.values():
        unacked += sum(not delivery.wait(60) for delivery in window)
    for session in sessions.values():
        session.stop()
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
