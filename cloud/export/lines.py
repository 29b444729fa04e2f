"""Readings as InfluxDB line protocol, and which write failures are worth retrying (pure, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

from influxdb_client.rest import ApiException
from urllib3.exceptions import HTTPError

from lockers.protocol.messages import Quality, Reading

MEASUREMENT = "temperature"
# Statuses a later attempt can cure: timeouts, rate limiting and server trouble. Any other 4xx rejects a batch.
RETRYABLE_STATUSES = frozenset({408, 429})
# Line-protocol escapes of a tag value (the same as influxdb-client's Point).
_ESCAPE_TAG = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_line(locker: str, reading: Reading) -> str:
    """One reading as a line: tags locker, quality, sensor, zone; fields celsius (when usable) and ok=1/0.

    Formatted directly rather than through influxdb-client's Point, which costs ~30 µs a reading: too much for
    the ~15,000 readings/s a cloud node must take. Tests check the output equals Point's, byte for byte.
    """
    # Zone and quality are enum values and the sensor id matches 28-<hex>: only the locker id could need escapes.
    tags = (
        f"locker={locker.translate(_ESCAPE_TAG)},quality={reading.quality.value},"
        f"sensor={reading.sensor},zone={reading.zone.value}"
    )
    fields = f"celsius={_float(reading.celsius)},ok=1i" if reading.quality is Quality.OK else "ok=0i"
    return f"{MEASUREMENT},{tags} {fields} {epoch_ns(reading.ts)}"


def _float(value: float) -> str:
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def epoch_ns(ts: datetime) -> int:
    """An aware timestamp as integer nanoseconds since the epoch (exact, unlike float seconds)."""
    delta = ts - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def is_transient(error: BaseException) -> bool:
    """Whether writing again later may succeed: network failures, timeouts, 408/429 and 5xx answers."""
    if isinstance(error, ApiException):
        status = error.status or 0
        # Status 0: the client never got an HTTP answer.
        return status == 0 or status in RETRYABLE_STATUSES or status >= 500
    return isinstance(error, HTTPError | OSError)
