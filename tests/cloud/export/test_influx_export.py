"""The InfluxDB exporter against a real server speaking the v2 write API (VictoriaMetrics).

VictoriaMetrics stores the line `temperature,<tags> celsius=..,ok=..i <ns>` as the series
`temperature_celsius{<tags>}` and `temperature_ok{<tags>}`, with millisecond timestamps.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from cloud.export import InfluxExporter, InfluxSettings, build_exporter
from cloud.export.lines import epoch_ns
from lockers.layout import Zone
from lockers.protocol.messages import Quality, Reading
from tests.support import wait_until

LOCKER = "zwartsluis-kerk"
CHILLED_SENSOR = "28-0000000000c1"
FROZEN_SENSOR = "28-0000000000f1"


def export_settings(url: str, **overrides) -> InfluxSettings:
    values = dict(
        url=url,
        token="test-token",
        org="dorpskluis",
        bucket="telemetry",
        batch_size=500,
        flush_interval_ms=50,
        retry_interval_ms=50,
        max_retry_delay_ms=200,
        timeout_ms=2000,
    )
    values.update(overrides)
    return InfluxSettings(**values)


@pytest.fixture
def exporters() -> Iterator[Callable[..., InfluxExporter]]:
    """Builds and starts exporters; stops whatever a test left running."""
    started: list[InfluxExporter] = []

    def start(url: str, **overrides) -> InfluxExporter:
        exporter = build_exporter(export_settings(url, **overrides))
        assert isinstance(exporter, InfluxExporter)
        exporter.start()
        started.append(exporter)
        return exporter

    yield start
    for exporter in started:
        exporter.stop(timeout=1)


def two_hours_ago() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def chilled_readings(start: datetime, count: int, step: timedelta = timedelta(seconds=30)) -> list[Reading]:
    return [
        Reading(sensor=CHILLED_SENSOR, zone=Zone.CHILLED, ts=start + i * step, celsius=round(3.5 + (i % 40) / 8, 3))
        for i in range(count)
    ]


def millis(ts: datetime) -> int:
    return epoch_ns(ts) // 1_000_000


def test_readings_become_series_with_their_tags_and_own_timestamps(victoria, exporters):
    start = two_hours_ago()
    chilled = chilled_readings(start, 6)
    frozen = [
        Reading(sensor=FROZEN_SENSOR, zone=Zone.FROZEN, ts=start + timedelta(seconds=30 * i + 7), celsius=-19.25 + i)
        for i in range(4)
    ]
    exporter = exporters(victoria.url)
    exporter.submit(LOCKER, chilled[:3] + frozen)
    exporter.submit(LOCKER, chilled[3:])

    wait_until(lambda: victoria.count("temperature_celsius") == 10, timeout=20, what="10 celsius samples")
    series = {s["metric"]["zone"]: s for s in victoria.export("temperature_celsius")}
    assert series["chilled"]["metric"] == {
        "__name__": "temperature_celsius",
        "locker": LOCKER,
        "zone": "chilled",
        "sensor": CHILLED_SENSOR,
        "quality": "ok",
    }
    assert series["frozen"]["metric"]["sensor"] == FROZEN_SENSOR
    for readings in (chilled, frozen):
        stored = series[readings[0].zone.value]
        assert stored["timestamps"] == [millis(r.ts) for r in readings]
        assert stored["values"] == [r.celsius for r in readings]
    ok_values = [v for s in victoria.export("temperature_ok") for v in s["values"]]
    assert ok_values == [1] * 10
    stats = exporter.stats()
    assert (stats.submitted, stats.written, stats.queued, stats.dropped, stats.failed) == (10, 10, 0, 0, 0)


def test_faulty_reading_carries_no_celsius_and_ok_zero(victoria, exporters):
    start = two_hours_ago()
    good = Reading(sensor=CHILLED_SENSOR, zone=Zone.CHILLED, ts=start, celsius=4.0)
    unplugged = Reading(sensor=CHILLED_SENSOR, zone=Zone.CHILLED, ts=start + timedelta(seconds=30), celsius=None,
                        quality=Quality.DISCONNECTED)  # fmt: skip
    reset = Reading(sensor=CHILLED_SENSOR, zone=Zone.CHILLED, ts=start + timedelta(seconds=60), celsius=None,
                    quality=Quality.POWER_ON_RESET)  # fmt: skip
    exporter = exporters(victoria.url)
    exporter.submit(LOCKER, [good, unplugged, reset])

    wait_until(lambda: victoria.count("temperature_ok") == 3, timeout=20, what="3 ok samples")
    ok = {s["metric"]["quality"]: (s["values"], s["timestamps"]) for s in victoria.export("temperature_ok")}
    assert ok == {
        "ok": ([1], [millis(good.ts)]),
        "disconnected": ([0], [millis(unplugged.ts)]),
        "power_on_reset": ([0], [millis(reset.ts)]),
    }
    celsius = victoria.export("temperature_celsius")
    assert [(s["metric"]["quality"], s["timestamps"]) for s in celsius] == [("ok", [millis(good.ts)])]


def test_while_the_server_is_down_the_backlog_stays_bounded_and_the_newest_arrive_later(victoria_later, exporters):
    limit, total = 5000, 100_000
    readings = chilled_readings(two_hours_ago(), total, step=timedelta(milliseconds=10))
    exporter = exporters(victoria_later.url, queue_limit=limit, batch_size=1000, flush_interval_ms=20)

    for first in range(0, total, 1000):  # telemetry arrives as messages of up to 1000 readings
        exporter.submit(LOCKER, readings[first : first + 1000])
        assert exporter.stats().queued <= limit
    stats = exporter.stats()
    assert (stats.submitted, stats.written, stats.queued, stats.dropped) == (total, 0, limit, total - limit)
    wait_until(lambda: exporter.stats().write_errors >= 2, timeout=10, what="retried writes while down")

    victoria_later.start()
    wait_until(lambda: exporter.stats().written == limit, timeout=30, what="the backlog written after recovery")
    stats = exporter.stats()
    assert (stats.queued, stats.dropped, stats.failed) == (0, total - limit, 0)
    wait_until(lambda: victoria_later.count("temperature_ok") == limit, timeout=20, what=f"{limit} stored samples")
    stored = sorted(ts for series in victoria_later.export("temperature_celsius") for ts in series["timestamps"])
    assert stored == [millis(r.ts) for r in readings[-limit:]], "the oldest readings are the ones dropped"


def test_submit_returns_while_the_writer_hangs_on_an_unresponsive_server(exporters, caplog):
    with socket.socket() as silent:  # accepts connections (kernel backlog) but never answers a request
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        exporter = exporters(f"http://127.0.0.1:{port}", queue_limit=2000, batch_size=100, timeout_ms=300)
        readings = chilled_readings(two_hours_ago(), 10_000, step=timedelta(seconds=1))
        for first in range(0, len(readings), 500):
            exporter.submit(LOCKER, readings[first : first + 500])
        stats = exporter.stats()
        assert (stats.submitted, stats.queued, stats.dropped, stats.written) == (10_000, 2000, 8000, 0)
        wait_until(lambda: exporter.stats().write_errors >= 1, timeout=10, what="a timed-out write")

        with caplog.at_level(logging.WARNING, logger="cloud.export"):
            exporter.stop(timeout=0.2)
        assert not exporter.running
        assert exporter.stats().queued == 2000
        assert "2000 reading(s) not written" in caplog.text


def test_stop_flushes_what_is_still_queued(victoria, exporters):
    # A batch far larger than the readings and a minute-long flush interval: only stop() can send them.
    exporter = exporters(victoria.url, batch_size=10_000, flush_interval_ms=60_000)
    readings = chilled_readings(two_hours_ago(), 20)
    exporter.submit(LOCKER, readings)

    exporter.stop(timeout=10)

    assert not exporter.running
    stats = exporter.stats()
    assert (stats.written, stats.queued) == (20, 0)
    wait_until(lambda: victoria.count("temperature_celsius") == 20, timeout=20, what="20 flushed samples")


def test_stop_gives_up_after_its_timeout_when_the_server_stays_down(victoria_later, exporters):
    exporter = exporters(victoria_later.url)
    exporter.submit(LOCKER, chilled_readings(two_hours_ago(), 50))

    exporter.stop(timeout=0.3)

    assert not exporter.running
    stats = exporter.stats()
    assert (stats.written, stats.queued, stats.failed) == (0, 50, 0)
