"""A real VictoriaMetrics server (it accepts the InfluxDB v2 write API) for export tests, on a free port."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from dorpskluis.broker import free_port
from tests.support import service_missing, wait_until

BINARY_NAME = "victoria-metrics"


@dataclass
class VictoriaMetrics:
    """One VictoriaMetrics process on 127.0.0.1:`port`, storing under `data_dir`; start and stop at will."""

    binary: str
    port: int
    data_dir: Path
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert self.process is None, "already running"
        log = (self.data_dir.parent / "victoria-metrics.log").open("ab")
        self.process = subprocess.Popen(
            [
                self.binary,
                f"-storageDataPath={self.data_dir}",
                f"-httpListenAddr=127.0.0.1:{self.port}",
                "-retentionPeriod=100y",
                "-loggerLevel=ERROR",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_until(self._healthy, timeout=20, what=f"victoria-metrics on port {self.port}")

    def _healthy(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"victoria-metrics exited with {self.process.returncode}")
        try:
            return httpx.get(f"{self.url}/health", timeout=1).text.strip() == "OK"
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None

    def export(self, metric: str) -> list[dict]:
        """Every stored series of `metric`: {"metric": labels, "values": [...], "timestamps": [ms, ...]}."""
        # Make rows still buffered in memory searchable now, rather than within a few seconds.
        httpx.get(f"{self.url}/internal/force_flush", timeout=10).raise_for_status()
        answer = httpx.get(f"{self.url}/api/v1/export", params={"match[]": metric}, timeout=10)
        answer.raise_for_status()
        return [json.loads(line) for line in answer.text.splitlines() if line.strip()]

    def count(self, metric: str) -> int:
        """How many samples of `metric` are stored, over all series."""
        return sum(len(series["timestamps"]) for series in self.export(metric))


@pytest.fixture(scope="session")
def victoria_binary() -> str:
    binary = shutil.which(BINARY_NAME)
    if binary is None:
        service_missing("victoria-metrics not installed (apt-get install victoria-metrics)")
    return binary


@pytest.fixture
def victoria_later(victoria_binary, tmp_path) -> Iterator[VictoriaMetrics]:
    """A VictoriaMetrics server on a reserved free port, not started yet: the port refuses connections."""
    server = VictoriaMetrics(victoria_binary, free_port(), tmp_path / "victoria-metrics")
    yield server
    server.stop()


@pytest.fixture
def victoria(victoria_later) -> VictoriaMetrics:
    """A running VictoriaMetrics server."""
    victoria_later.start()
    return victoria_later
