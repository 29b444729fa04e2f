"""A whole local stack per test: the cloud and a simulated locker as real processes on the real broker."""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from dorpskluis.broker import RunningBroker, free_port
from dorpskluis.procs import ChildProcess
from dorpskluis.stack import CloudAdmin, CloudConfig, start_cloud, start_simulated_locker, write_edge_config
from lockers.layout import demo_layout

CLI = str(Path(sys.executable).with_name("dorpskluis"))


@dataclass
class Stack:
    """Handles on a running stack, and the vendor's view of it; parts can be killed and started again."""

    locker: str
    cloud: CloudConfig
    admin: CloudAdmin
    vendor: httpx.Client
    vendor_code: str
    cloud_process: ChildProcess
    edge_process: ChildProcess
    edge_toml: Path
    logs: Path
    speed: float = 1.0
    kiosk_url: str = ""

    def stop_cloud(self, *, kill: bool = False) -> None:
        """Stop the cloud: SIGTERM, or kill -9."""
        self.cloud_process.kill() if kill else self.cloud_process.stop()

    def start_cloud(self) -> None:
        """Start the cloud again on the same database and MQTT session."""
        self.cloud_process = start_cloud(self.cloud, self.logs)

    def restart_cloud(self, *, kill: bool = False) -> None:
        self.stop_cloud(kill=kill)
        self.start_cloud()

    def restart_edge(self, *, kill: bool = False) -> None:
        """Stop the simulated locker (SIGTERM, or kill -9) and start it again on the same state folder."""
        self.edge_process.kill() if kill else self.edge_process.stop()
        self.edge_process = start_simulated_locker(self.edge_toml, self.logs, self.locker, speed=self.speed)

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        """Run the real `dorpskluis` console script, as a person would."""
        return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=60)

    def order(self, order_id: str) -> dict:
        response = self.vendor.get(f"/api/v1/orders/{order_id}")
        assert response.status_code == 200, response.text
        return response.json()


def _start_stack(
    broker: RunningBroker,
    database_url: str,
    tmp_path: Path,
    speed: float = 1.0,
    telemetry_interval_s: float | None = 1.0,
    settings: dict[str, str] | None = None,
) -> Iterator[Stack]:
    locker = f"e2e-{secrets.token_hex(3)}"
    logs = tmp_path / "logs"
    cloud = CloudConfig(
        database_url=database_url,
        data_dir=tmp_path / "cloud",
        broker=broker,
        admin_key=secrets.token_urlsafe(24),
        http_port=free_port(),
        client_id=f"dk-cloud-{locker}",
        settings=tuple((settings or {}).items()),
    )
    cloud_process = start_cloud(cloud, logs)
    admin = CloudAdmin(cloud.url, cloud.admin_key)
    edge_process = None
    try:
        admin.register_locker(locker, "Kerkplein", "Zwartsluis", demo_layout())
        key = admin.create_vendor("boerderij-e2e", "Boerderij E2E", "farmer")["api_key"]
        vendor = httpx.Client(base_url=cloud.url, headers={"X-API-Key": key}, timeout=10.0)
        vendor_code = vendor.get("/api/v1/vendors/me").json()["code"]["token"]
        edge_toml = write_edge_config(
            tmp_path / "edge",
            locker=locker,
            broker=broker,
            keys=admin.public_keys(),
            layout=demo_layout(),
            telemetry_interval_s=telemetry_interval_s,
            kiosk_port=(kiosk_port := free_port()),
        )
        edge_process = start_simulated_locker(edge_toml, logs, locker, speed=speed)
        admin.wait_online(locker, process=edge_process)
        stack = Stack(
            locker, cloud, admin, vendor, vendor_code, cloud_process, edge_process, edge_toml, logs, speed,
            kiosk_url=f"http://127.0.0.1:{kiosk_port}/",
        )  # fmt: skip
        yield stack
        vendor.close()
        edge_process, cloud_process = stack.edge_process, stack.cloud_process
    finally:
        admin.close()
        if edge_process is not None:
            edge_process.stop()
        cloud_process.stop()


@pytest.fixture
def stack(broker, database_url, run_dir, tmp_path) -> Iterator[Stack]:
    """Cloud on SQLite and on PostgreSQL, each with its own simulated locker."""
    yield from _start_stack(broker, database_url, tmp_path)


FAST = 600.0  # simulated seconds per real second: 20 minutes of fridge life in 2 s


@pytest.fixture
def fast_stack(broker, database_url, run_dir, tmp_path) -> Iterator[Stack]:
    """A stack whose simulated locker runs 600x faster than real time, sampling every 30 simulated seconds."""
    yield from _start_stack(broker, database_url, tmp_path, speed=FAST, telemetry_interval_s=None)


# Fault tests do not wait the production delays before the cloud asks a locker to send missing events again.
QUICK_RESEND = {"DK_RESEND_AFTER_S": "2", "DK_RESEND_EVERY_S": "5"}


@pytest.fixture
def fragile_stack(own_broker, database_url, run_dir, tmp_path) -> Iterator[Stack]:
    """A stack on a broker of its own, which the test may kill -9 and restart."""
    yield from _start_stack(own_broker, database_url, tmp_path, settings=QUICK_RESEND)


DAY_IN_24_S = 3600.0  # simulated seconds per real second


@pytest.fixture
def outage_stack(broker, database_url, run_dir, tmp_path) -> Iterator[Stack]:
    """A stack whose locker lives an hour per second, sampling every 5 simulated minutes (a day = 288 batches)."""
    yield from _start_stack(
        broker, database_url, tmp_path, speed=DAY_IN_24_S, telemetry_interval_s=300.0, settings=QUICK_RESEND
    )
