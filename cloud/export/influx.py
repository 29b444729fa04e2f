"""Export of readings to InfluxDB 2 (or any server speaking its v2 write API) that never blocks ingest.

Policy: `submit` only appends to a bounded in-memory backlog (`DK_INFLUX_QUEUE_LIMIT` readings) and returns.
One background thread writes the oldest `DK_INFLUX_BATCH_SIZE` readings at a time, at the latest every
`DK_INFLUX_FLUSH_INTERVAL_MS`, with synchronous requests. A batch leaves the backlog only once the server
accepted it (counted `written`) or rejected it for good with a 4xx answer (counted `failed`, logged).
Network errors, timeouts, 408/429 and 5xx answers are retried with exponential backoff and jitter, from
`DK_INFLUX_RETRY_INTERVAL_MS` up to `DK_INFLUX_MAX_RETRY_DELAY_MS` between attempts, for as long as the
outage lasts. Readings keep arriving meanwhile; when the backlog is full the oldest are dropped (counted
`dropped`), so memory stays bounded and what reaches InfluxDB after an outage is the most recent window.
`stop(timeout)` writes what is still queued, giving up after `timeout` seconds (the rest stays `queued`).
The cloud database remains the record of readings; this export feeds dashboards.

influxdb-client's own batching WriteApi is not used: while it retries a batch, later batches pile up in its
reactive pipeline without a bound, and it drops a batch after a fixed number of retries however fresh it is.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS, WriteApi
from influxdb_client.rest import ApiException
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from tenacity import Retrying, retry_if_exception, stop_when_event_set, wait_exponential_jitter

from cloud.export.backlog import Backlog
from cloud.export.lines import is_transient, to_line
from lockers.errors import ConfigError
from lockers.protocol.messages import Reading

log = logging.getLogger(__name__)

_LOGGED_ERROR_CHARS = 200


class InfluxSettings(BaseSettings):
    """Where and how to export readings, from `DK_INFLUX_*` variables; no URL means export is off."""

    model_config = SettingsConfigDict(env_prefix="DK_INFLUX_", extra="ignore")

    url: str | None = Field(None, pattern=r"^https?://", description="e.g. http://influxdb:8086; unset: disabled")
    token: SecretStr | None = None
    org: str | None = None
    bucket: str | None = None
    batch_size: int = Field(5000, ge=1, le=100_000)
    flush_interval_ms: int = Field(1000, ge=1)
    queue_limit: int = Field(200_000, ge=1)
    retry_interval_ms: int = Field(1000, ge=1, description="first delay after a failed write")
    max_retry_delay_ms: int = Field(30_000, ge=1, description="longest delay between attempts")
    timeout_ms: int = Field(10_000, ge=100, description="HTTP timeout of one write")


@dataclass(frozen=True)
class ExportStats:
    """Counters since start; `submitted == written + failed + dropped + queued`."""

    enabled: bool
    submitted: int = 0
    written: int = 0
    failed: int = 0  # rejected by the server for good
    dropped: int = 0  # pushed out of the full backlog, oldest first
    queued: int = 0
    write_errors: int = 0  # failed attempts that were (or will be) retried


class Exporter(Protocol):
    """What the cloud runtime and ingest need from an exporter, enabled or not."""

    def start(self) -> None: ...
    def stop(self, timeout: float = 10.0) -> None: ...
    def submit(self, locker: str, readings: Sequence[Reading]) -> None: ...
    def stats(self) -> ExportStats: ...


class InfluxExporter:
    """Queues readings from any thread and writes them to InfluxDB from its own thread (policy: see module)."""

    def __init__(self, settings: InfluxSettings) -> None:
        self._settings = settings
        self._backlog = Backlog(settings.queue_limit)
        self._stopping = threading.Event()
        self._abandon = threading.Event()  # stop's deadline passed: end retries and leave
        self._thread: threading.Thread | None = None
        self._client: InfluxDBClient | None = None
        self._write_api: WriteApi | None = None
        self._written = self._failed = self._write_errors = 0
        self._outage = False

    def start(self) -> None:
        """Open the client and start the writer thread."""
        if self._thread is not None:
            raise RuntimeError("an InfluxExporter starts only once")
        s = self._settings
        token = s.token.get_secret_value() if s.token else None
        self._client = InfluxDBClient(url=s.url, token=token, org=s.org, timeout=s.timeout_ms)
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)
        self._thread = threading.Thread(target=self._run, name="influx-export", daemon=True)
        self._thread.start()
        log.info("exporting readings to %s, bucket %s", s.url, s.bucket)

    def submit(self, locker: str, readings: Sequence[Reading]) -> None:
        """Queue `readings` of `locker` for export and return at once; a full backlog drops its oldest."""
        if readings:
            self._backlog.put(locker, readings)

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is still queued, for at most `timeout` seconds, then close the client."""
        thread = self._thread
        if thread is None:
            return
        self._stopping.set()
        self._backlog.wake()
        thread.join(timeout)
        if thread.is_alive():
            self._abandon.set()
            # A request in flight ends within its own HTTP timeout.
            thread.join(self._settings.timeout_ms / 1000 + 1)
        if self._client is not None:
            self._client.close()
        if left := len(self._backlog):
            log.warning("InfluxDB export stopped with %d reading(s) not written", left)

    @property
    def running(self) -> bool:
        """Whether the writer thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def stats(self) -> ExportStats:
        """A snapshot of the counters."""
        return ExportStats(
            enabled=True,
            submitted=self._backlog.submitted,
            written=self._written,
            failed=self._failed,
            dropped=self._backlog.dropped,
            queued=len(self._backlog),
            write_errors=self._write_errors,
        )

    # --- writer thread --------------------------------------------------------------------------------------

    def _run(self) -> None:
        s = self._settings
        while not self._abandon.is_set():
            if not self._stopping.is_set():
                self._backlog.wait_for(s.batch_size, s.flush_interval_ms / 1000)
            if not len(self._backlog):
                if self._stopping.is_set():
                    return
                continue
            try:
                self._deliver_oldest()
            except Exception:
                # A bug rather than an outage: drop the batch that triggered it so the export goes on.
                log.exception("InfluxDB export failed unexpectedly; dropping the oldest batch")
                batch = self._backlog.oldest(s.batch_size)
                if batch:
                    self._failed += self._backlog.release(batch[-1][0])

    def _deliver_oldest(self) -> None:
        """Write the oldest batch, retrying transient failures with backoff until written, rejected or abandoned."""
        s = self._settings
        first_delay = s.retry_interval_ms / 1000
        retrying = Retrying(
            retry=retry_if_exception(is_transient),
            wait=wait_exponential_jitter(multiplier=first_delay, max=s.max_retry_delay_ms / 1000, jitter=first_delay),
            stop=stop_when_event_set(self._abandon),
            sleep=self._abandon.wait,
            reraise=True,
        )
        try:
            retrying(self._write_oldest)
        except Exception as error:
            if not is_transient(error):
                raise
            # Only reached once stop() gave up: the batch stays queued and counted as such.

    def _write_oldest(self) -> None:
        """One attempt; the batch is taken afresh each time because a full backlog may have dropped some of it."""
        s = self._settings
        batch = self._backlog.oldest(s.batch_size)
        if not batch:
            return
        lines = [to_line(locker, reading) for _, locker, reading in batch]
        assert self._write_api is not None, "started"
        try:
            self._write_api.write(bucket=s.bucket, org=s.org, record=lines, write_precision=WritePrecision.NS)
        except ApiException as error:
            if is_transient(error):
                self._note_transient(error)
                raise
            self._failed += self._backlog.release(batch[-1][0])
            body = str(error.body or error.reason)[:_LOGGED_ERROR_CHARS]
            log.error("InfluxDB rejected %d reading(s): HTTP %s %s", len(batch), error.status, body)
            return
        except Exception as error:
            if is_transient(error):
                self._note_transient(error)
            raise
        self._written += self._backlog.release(batch[-1][0])
        if self._outage:
            self._outage = False
            log.info("InfluxDB export recovered; %d reading(s) still queued", len(self._backlog))

    def _note_transient(self, error: Exception) -> None:
        self._write_errors += 1
        if not self._outage:
            # Once per outage, not per attempt: a long outage must not flood the log.
            self._outage = True
            reason = str(error)[:_LOGGED_ERROR_CHARS]
            log.warning("InfluxDB write failed (%s); retrying with backoff, keeping the newest readings", reason)


class NullExporter:
    """The exporter when `DK_INFLUX_URL` is unset: accepts readings and forgets them."""

    def start(self) -> None:
        """Nothing to start."""

    def stop(self, timeout: float = 10.0) -> None:
        """Nothing to flush."""

    def submit(self, locker: str, readings: Sequence[Reading]) -> None:
        """Forget `readings`."""

    def stats(self) -> ExportStats:
        return ExportStats(enabled=False)


def build_exporter(settings: InfluxSettings) -> InfluxExporter | NullExporter:
    """The exporter the settings ask for; ConfigError when a URL is set but token, org or bucket is not."""
    if settings.url is None:
        return NullExporter()
    missing = [f"DK_INFLUX_{name.upper()}" for name in ("token", "org", "bucket") if not getattr(settings, name)]
    if missing:
        raise ConfigError(f"DK_INFLUX_URL is set, so {' and '.join(missing)} must be set too")
    return InfluxExporter(settings)
