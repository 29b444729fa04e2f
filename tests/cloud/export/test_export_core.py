"""The exporter's pure parts: line protocol, retry decisions, the bounded backlog, settings and selection."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from influxdb_client import Point, WritePrecision
from influxdb_client.rest import ApiException
from urllib3.exceptions import NewConnectionError, ProtocolError, ReadTimeoutError

from cloud.export import InfluxExporter, InfluxSettings, NullExporter, build_exporter
from cloud.export.backlog import Backlog
from cloud.export.lines import epoch_ns, is_transient, to_line
from lockers.errors import ConfigError
from lockers.layout import Zone
from lockers.protocol.messages import Quality, Reading

SENSOR = "28-0000000000c1"
TS = datetime(2025, 6, 1, 12, 0, 30, 250_000, tzinfo=UTC)
TS_NS = 1_748_779_230_250_000_000


def reading(celsius: float | None = 4.5, quality: Quality = Quality.OK, ts: datetime = TS) -> Reading:
    return Reading(sensor=SENSOR, zone=Zone.CHILLED, ts=ts, celsius=celsius, quality=quality)


@pytest.mark.parametrize(
    ("locker", "item", "line"),
    [
        (
            "zwartsluis-kerk",
            reading(4.5),
            f"temperature,locker=zwartsluis-kerk,quality=ok,sensor={SENSOR},zone=chilled celsius=4.5,ok=1i {TS_NS}",
        ),
        (
            "zwartsluis-kerk",
            reading(-19.0),
            f"temperature,locker=zwartsluis-kerk,quality=ok,sensor={SENSOR},zone=chilled celsius=-19,ok=1i {TS_NS}",
        ),
        (
            "demo-1",
            reading(None, Quality.DISCONNECTED),
            f"temperature,locker=demo-1,quality=disconnected,sensor={SENSOR},zone=chilled ok=0i {TS_NS}",
        ),
        (
            "demo-1",
            reading(None, Quality.CRC_ERROR),
            f"temperature,locker=demo-1,quality=crc_error,sensor={SENSOR},zone=chilled ok=0i {TS_NS}",
        ),
        (  # tag values with spaces, commas and equals signs are escaped, not split
            "kluis 2,a=b",
            reading(3.0),
            f"temperature,locker=kluis\\ 2\\,a\\=b,quality=ok,sensor={SENSOR},zone=chilled celsius=3,ok=1i {TS_NS}",
        ),
    ],
)
def test_reading_as_line_protocol(locker, item, line):
    assert to_line(locker, item) == line


@pytest.mark.parametrize("locker", ["demo-1", "kluis 2,a=b", "tab\there"])
@pytest.mark.parametrize(
    "item",
    [
        reading(4.5),
        reading(-18.0625),
        reading(0.0),
        reading(0.00001),
        reading(129.999),
        reading(-60.0),
        reading(None, Quality.POWER_ON_RESET, ts=TS.astimezone(timezone(timedelta(hours=-5)))),
        reading(None, Quality.CONVERSION_FAILED),
    ],
)
def test_lines_equal_what_influxdb_clients_point_writes(locker, item):
    point = (
        Point("temperature")
        .tag("locker", locker)
        .tag("zone", item.zone.value)
        .tag("sensor", item.sensor)
        .tag("quality", item.quality.value)
        .field("ok", int(item.quality is Quality.OK))
        .time(int(item.ts.timestamp()) * 10**9 + item.ts.microsecond * 1000, WritePrecision.NS)
    )
    if item.celsius is not None:
        point.field("celsius", item.celsius)
    assert to_line(locker, item) == point.to_line_protocol()


@pytest.mark.parametrize(
    ("ts", "ns"),
    [
        (TS, TS_NS),
        (TS.astimezone(timezone(timedelta(hours=2))), TS_NS),  # the same instant in another zone
        (datetime(1970, 1, 1, tzinfo=UTC), 0),
        (datetime(2038, 1, 19, 3, 14, 8, 999_999, tzinfo=UTC), 2_147_483_648_999_999_000),
    ],
)
def test_epoch_nanoseconds_are_exact(ts, ns):
    assert epoch_ns(ts) == ns


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (ApiException(status=0, reason="connection reset"), True),
        (ApiException(status=408, reason="Request Timeout"), True),
        (ApiException(status=429, reason="Too Many Requests"), True),
        (ApiException(status=500, reason="Internal Server Error"), True),
        (ApiException(status=503, reason="Service Unavailable"), True),
        (ApiException(status=400, reason="Bad Request"), False),
        (ApiException(status=401, reason="Unauthorized"), False),
        (ApiException(status=404, reason="bucket not found"), False),
        (ApiException(status=413, reason="Request Entity Too Large"), False),
        (NewConnectionError(None, "Connection refused"), True),
        (ReadTimeoutError(None, "/api/v2/write", "read timed out"), True),
        (ProtocolError("Connection aborted."), True),
        (ConnectionResetError(), True),
        (TypeError("a bug"), False),
        (KeyError("a bug"), False),
    ],
)
def test_which_write_failures_are_retried(error, transient):
    assert is_transient(error) is transient


def test_backlog_drops_oldest_first_and_counts_them():
    backlog = Backlog(limit=3)
    backlog.put("a", [reading(ts=TS + timedelta(seconds=i)) for i in range(2)])
    backlog.put("b", [reading(ts=TS + timedelta(seconds=i)) for i in range(2, 6)])

    assert (backlog.submitted, backlog.dropped, len(backlog)) == (6, 3, 3)
    assert [(seq, locker) for seq, locker, _ in backlog.oldest(10)] == [(4, "b"), (5, "b"), (6, "b")]


def test_backlog_release_counts_only_what_was_still_queued():
    backlog = Backlog(limit=4)
    backlog.put("a", [reading()] * 4)
    in_flight = backlog.oldest(3)  # seq 1..3 are being written ...
    backlog.put("a", [reading()] * 2)  # ... while seq 1 and 2 are pushed out

    assert backlog.release(in_flight[-1][0]) == 1
    assert [seq for seq, _, _ in backlog.oldest(10)] == [4, 5, 6]
    assert (backlog.submitted, backlog.dropped, len(backlog)) == (6, 2, 3)


def test_backlog_wait_ends_when_a_batch_is_full_or_on_wake():
    backlog = Backlog(limit=10)
    done = threading.Event()

    def waiter() -> None:
        backlog.wait_for(3, timeout=30)
        done.set()

    thread = threading.Thread(target=waiter)
    thread.start()
    backlog.put("a", [reading()] * 2)
    assert not done.wait(0.05)
    backlog.put("a", [reading()])
    assert done.wait(5)
    thread.join()

    backlog.wake()
    backlog.wait_for(100, timeout=30)  # returns at once: the backlog was woken for good


def test_backlog_needs_room():
    with pytest.raises(ValueError):
        Backlog(limit=0)


def test_settings_come_from_dk_influx_variables(monkeypatch):
    monkeypatch.setenv("DK_INFLUX_URL", "http://influxdb:8086")
    monkeypatch.setenv("DK_INFLUX_TOKEN", "s3cret-token")
    monkeypatch.setenv("DK_INFLUX_ORG", "dorpskluis")
    monkeypatch.setenv("DK_INFLUX_BUCKET", "telemetry")
    monkeypatch.setenv("DK_INFLUX_QUEUE_LIMIT", "1000")

    settings = InfluxSettings()

    assert (settings.url, settings.org, settings.bucket, settings.queue_limit) == (
        "http://influxdb:8086",
        "dorpskluis",
        "telemetry",
        1000,
    )
    assert settings.token.get_secret_value() == "s3cret-token"
    assert "s3cret-token" not in repr(settings)
    assert (settings.batch_size, settings.flush_interval_ms) == (5000, 1000)
    assert isinstance(build_exporter(settings), InfluxExporter)


def test_no_url_means_a_null_exporter(monkeypatch):
    monkeypatch.delenv("DK_INFLUX_URL", raising=False)
    exporter = build_exporter(InfluxSettings())

    assert isinstance(exporter, NullExporter)
    exporter.start()
    exporter.submit("demo-1", [reading()])
    exporter.stop(timeout=1)
    stats = exporter.stats()
    assert not stats.enabled and stats.submitted == 0


@pytest.mark.parametrize("missing", ["token", "org", "bucket"])
def test_a_url_without_token_org_or_bucket_is_refused(missing):
    values = {"url": "http://influxdb:8086", "token": "t", "org": "o", "bucket": "b", missing: None}
    with pytest.raises(ConfigError, match=f"DK_INFLUX_{missing.upper()}"):
        build_exporter(InfluxSettings(**values))


def test_url_must_be_http():
    with pytest.raises(ValueError, match="url"):
        InfluxSettings(url="influxdb:8086")
