"""3. Alert latency: the reading that completes a rule's delay is published → alert raised (API) and webhook sent.

A real cloud process (uvicorn) on the bench database and a private mosquitto; a test-side MQTT client per
locker publishes telemetry as the locker would. Rules run on event time (the readings' own timestamps), so
each repetition stamps a first reading above 7 °C exactly `delay` before now and then, at t0, publishes the
reading stamped now that completes the delay. Each repetition uses a new sensor, so every alert is fresh.
Baseline: the same path for an ordinary reading (no alert): t0 → visible as the zone's latest reading.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx

from benchmarks.alert_webhooks import WebhookArrivals, webhook_receiver
from benchmarks.api_cloud import percentile, running_cloud
from benchmarks.context import BenchContext
from benchmarks.results import Figure
from lockers.layout import Zone, demo_layout
from lockers.mqtt import BrokerAddress, MqttSession, Outbound
from lockers.protocol.codec import encode
from lockers.protocol.messages import Message, Reading, StateMessage, Telemetry
from lockers.protocol.topics import Channel, topic
from sensors.rules import DEFAULT_LIMITS

BENCH = "3. Alert"
GOAL_MS = 2000.0
DELAY = timedelta(seconds=DEFAULT_LIMITS[Zone.CHILLED].delay_s)  # 15 min of event time
LEAD_S = 0.1  # the first (warm) reading goes out this long before t0
POLL_S = 0.01  # API poll interval after t0: the resolution of the "raised via API" figure
TIMEOUT_S = 15.0


class Locker:
    """A test-side MQTT client publishing as one locker."""

    def __init__(self, broker, locker_id: str) -> None:
        self.id = locker_id
        self.session = MqttSession(BrokerAddress(broker.host, broker.port), f"bench-{locker_id}", persistent=False)

    def send(self, channel: Channel, message: Message) -> None:
        assert self.session.publish(Outbound(topic(self.id, channel), encode(message), qos=1)).wait(10)

    def reading(self, sensor: str, ts: datetime, celsius: float) -> None:
        reading = Reading(sensor=sensor, zone=Zone.CHILLED, ts=ts, celsius=celsius)
        self.send(Channel.TELEMETRY, Telemetry(readings=[reading]))


def _wait_until(check, timeout: float) -> float | None:
    """perf_counter() when `check()` first held (polled every POLL_S), None on timeout."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if check():
            return time.perf_counter()
        time.sleep(POLL_S)
    return None


def _one_alert(http: httpx.Client, hooks: WebhookArrivals, locker: Locker, sensor: str) -> tuple[float, float]:
    """(ms t0 → raised via API, ms t0 → webhook received) for one fresh excursion of `sensor`."""
    planned = datetime.now(UTC) + timedelta(seconds=LEAD_S)
    locker.reading(sensor, planned - DELAY, 9.0)  # the excursion starts exactly one delay before t0
    time.sleep(max(0.0, (planned - datetime.now(UTC)).total_seconds()))
    t0 = time.perf_counter()
    locker.reading(sensor, datetime.now(UTC), 9.2)  # completes the delay: the alert is due now
    params = {"locker": locker.id, "state": "raised", "kind": "temperature", "limit": 5}

    def raised() -> bool:
        return any(a["sensor"] == sensor for a in http.get("/api/v1/alerts", params=params).json())

    seen = _wait_until(raised, TIMEOUT_S)
    hooked = hooks.wait("alert.raised", sensor, TIMEOUT_S)
    if seen is None or hooked is None:
        raise RuntimeError(f"alert of {locker.id}/{sensor} not seen (api={seen}, webhook={hooked})")
    return (seen - t0) * 1000, (hooked - t0) * 1000


def _one_reading(http: httpx.Client, locker: Locker, sensor: str) -> float:
    """ms t0 → an ordinary reading (no alert) shows as the zone's latest reading via the API."""
    ts = datetime.now(UTC)
    t0 = time.perf_counter()
    locker.reading(sensor, ts, 4.0)

    def visible() -> bool:
        zones = http.get(f"/api/v1/lockers/{locker.id}").json()["zones"]
        return any(z["zone"] == "chilled" and z["ts"] and datetime.fromisoformat(z["ts"]) >= ts for z in zones)

    seen = _wait_until(visible, TIMEOUT_S)
    if seen is None:
        raise RuntimeError(f"reading of {locker.id}/{sensor} at {ts} never showed")
    return (seen - t0) * 1000


def run(ctx: BenchContext) -> list[Figure]:
    reps = ctx.pick(150, 4)
    baseline_reps = ctx.pick(50, 3)
    layout = demo_layout()
    with (
        ctx.database() as (url, database),
        ctx.broker() as broker,
        webhook_receiver() as (hooks, hook_url),
        running_cloud(ctx, url, broker) as (config, admin),
    ):
        ids = [f"bench-alert-{n}" for n in range(ctx.pick(5, 2))]
        for locker_id in ids:
            admin.register_locker(locker_id, locker_id, "Benchdorp", layout)
        response = admin.http.post("/api/v1/contacts", json={"level": 0, "name": "Bench", "webhook_url": hook_url})
        response.raise_for_status()
        lockers = [Locker(broker, locker_id) for locker_id in ids]
        http = httpx.Client(base_url=config.url, headers={"X-API-Key": config.admin_key}, timeout=10)
        try:
            for locker in lockers:
                locker.session.start()
                locker.session.wait_connected(10)
                locker.send(Channel.STATE, StateMessage(state="online", agent="bench"))
            api_ms, hook_ms = [], []
            task = ctx.task("alert: delay expired → raised, webhook", reps + baseline_reps)
            for n in range(reps):
                api, hook = _one_alert(http, hooks, lockers[n % len(lockers)], f"28-a1e7{n:08x}")
                api_ms.append(api)
                hook_ms.append(hook)
                task.advance()
            plain_ms = []
            for _ in range(baseline_reps):
                plain_ms.append(_one_reading(http, lockers[0], "28-00000000b001"))
                task.advance()
        finally:
            http.close()
            for locker in lockers:
                locker.session.stop()
    note = (
        f"{database}; {reps} fresh alerts over {len(ids)} lockers, one at a time; t0 = publish of the reading that "
        f"completes the 15-min delay (event time); API polled every {POLL_S * 1000:.0f} ms; baseline: an ordinary "
        f"reading t0 → visible via the API ({baseline_reps} runs)"
    )
    base = percentile(plain_ms, 99)
    label = "ordinary reading → API, p99"
    return [
        Figure(BENCH, "p50 delay expired → alert raised (API)", percentile(api_ms, 50), "ms", note=note),
        Figure(
            BENCH,
            "p99 delay expired → alert raised (API)",
            percentile(api_ms, 99),
            "ms",
            base,
            label,
            "≤ 2,000 ms",
            percentile(api_ms, 99) <= GOAL_MS,
        ),
        Figure(BENCH, "p50 delay expired → webhook received", percentile(hook_ms, 50), "ms"),
        Figure(
            BENCH,
            "p99 delay expired → webhook received",
            percentile(hook_ms, 99),
            "ms",
            base,
            label,
            "≤ 2,000 ms",
            percentile(hook_ms, 99) <= GOAL_MS,
        ),
    ]
