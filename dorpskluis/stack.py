"""Building blocks of a local Dorpskluis stack (cloud, simulated lockers) used by the demo and e2e tests."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import tomli_w

from dorpskluis.broker import RunningBroker
from dorpskluis.procs import ChildProcess, spawn
from lockers.errors import DorpskluisError
from lockers.layout import LockerLayout


class StackError(DorpskluisError):
    """A part of the local stack did not come up."""


@dataclass(frozen=True)
class CloudConfig:
    """What the cloud process needs to know, passed as DK_* environment variables."""

    database_url: str
    data_dir: Path
    broker: RunningBroker
    admin_key: str
    http_port: int
    http_host: str = "127.0.0.1"
    client_id: str = "dk-cloud"
    settings: tuple[tuple[str, str], ...] = ()  # further DK_* settings, e.g. (("DK_RESEND_AFTER_S", "2"),)

    @property
    def url(self) -> str:
        return f"http://{self.http_host}:{self.http_port}"

    def env(self) -> dict[str, str]:
        """The cloud logs in to a secured broker with its own account and keeps the broker's password file."""
        broker = self.broker
        accounts = broker.accounts() if broker.access_controlled else None
        access = (
            {
                "DK_MQTT_USERNAME": broker.cloud_username or "",
                "DK_MQTT_PASSWORD": broker.cloud_password,
                "DK_BROKER_PASSWORD_FILE": str(accounts.path),
                "DK_BROKER_PID_FILE": str(accounts.pid_file),
            }
            if accounts
            else {}
        )
        if broker.tls and broker.tls_port:  # lockers are sent to the TLS listener, with its CA in their bundle
            access |= {
                "DK_MQTT_PUBLIC_HOST": broker.host,
                "DK_MQTT_PUBLIC_PORT": str(broker.tls_port),
                "DK_LOCKER_CA_FILE": str(broker.tls.ca),
            }
        return {
            **access,
            "DK_ENV": "development",
            "DK_DATABASE_URL": self.database_url,
            "DK_DATA_DIR": str(self.data_dir),
            "DK_MQTT_HOST": self.broker.host,
            "DK_MQTT_PORT": str(self.broker.port),
            "DK_MQTT_CLIENT_ID": self.client_id,
            "DK_ADMIN_KEY": self.admin_key,
            "DK_HTTP_HOST": self.http_host,
            "DK_HTTP_PORT": str(self.http_port),
            "DK_PUBLIC_URL": self.url,
            **dict(self.settings),
        }


def start_cloud(config: CloudConfig, log_dir: Path, timeout: float = 60.0) -> ChildProcess:
    """Run `python -m cloud` and wait until its health endpoint answers with MQTT connected."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    child = spawn("cloud", [sys.executable, "-m", "cloud"], log_dir, config.env())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive:
            raise StackError(f"the cloud service exited ({child.popen.returncode}):\n{child.log_tail()}")
        try:
            health = httpx.get(f"{config.url}/api/v1/health", timeout=1.0).json()
            if health.get("mqtt_connected"):
                return child
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.1)
    child.stop()
    raise StackError(f"the cloud service did not become healthy within {timeout:g}s:\n{child.log_tail()}")


class CloudAdmin:
    """The foundation's side of the API: register lockers and vendors."""

    def __init__(self, base_url: str, admin_key: str) -> None:
        self.http = httpx.Client(base_url=base_url, headers={"X-API-Key": admin_key}, timeout=10.0)

    def _ok(self, response: httpx.Response) -> dict:
        if response.is_error:
            raise StackError(
                f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text}"
            )
        return response.json()

    def register_locker(
        self,
        locker: str,
        name: str,
        village: str,
        layout: LockerLayout,
        address: str | None = None,
        location: tuple[float, float] | None = None,
    ) -> dict:
        body = {"id": locker, "name": name, "village": village, "layout": layout.model_dump(mode="json")}
        if address:
            body["address"] = address
        if location:
            body["location"] = {"lat": location[0], "lon": location[1]}
        return self._ok(self.http.post("/api/v1/lockers", json=body))

    def create_vendor(self, vendor: str, name: str, kind: str, api_key: str | None = None) -> dict:
        body = {"id": vendor, "name": name, "kind": kind}
        if api_key:
            body["api_key"] = api_key
        return self._ok(self.http.post("/api/v1/vendors", json=body))

    def public_keys(self) -> dict[str, str]:
        keys = self._ok(self.http.get("/api/v1/keys"))["keys"]
        return {str(k["kid"]): k["public_key"] for k in keys}

    def locker(self, locker: str) -> dict:
        return self._ok(self.http.get(f"/api/v1/lockers/{locker}"))

    def wait_online(self, locker: str, timeout: float = 30.0, process: ChildProcess | None = None) -> None:
        """Wait until the cloud shows `locker` online; a `process` of the locker that exits ends the wait."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process is not None and not process.alive:
                raise StackError(f"locker {locker} exited ({process.popen.returncode}):\n{process.log_tail()}")
            if self.locker(locker).get("online"):
                return
            time.sleep(0.1)
        raise StackError(f"locker {locker} did not come online within {timeout:g}s")

    def close(self) -> None:
        self.http.close()


def write_edge_config(
    folder: Path,
    *,
    locker: str,
    broker: RunningBroker,
    keys: dict[str, str],
    layout: LockerLayout,
    telemetry_interval_s: float | None = None,
    kiosk_port: int | None = None,
) -> Path:
    """Write a simulated locker's edge.toml, layout and folders; returns the edge.toml path. `kiosk_port`: serve
    the locker's touchscreen page there (127.0.0.1)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "layout.json").write_text(layout.model_dump_json(indent=2))
    (folder / "w1").mkdir(exist_ok=True)
    config: dict = {
        "locker": locker,
        "state_dir": "state",
        "mqtt": {"host": broker.host, "port": broker.port},
        "codes": {"keys": keys},
        "hardware": {"layout": "layout.json", "w1_base": "w1", "pin_factory": "mock"},
    }
    if telemetry_interval_s is not None:
        config["telemetry_interval_s"] = telemetry_interval_s
    if kiosk_port is not None:
        config["kiosk"] = {"host": "127.0.0.1", "port": kiosk_port}
    path = folder / "edge.toml"
    path.write_text(tomli_w.dumps(config))
    return path


def start_simulated_locker(config_path: Path, log_dir: Path, locker: str, speed: float = 1.0) -> ChildProcess:
    """Run the real edge agent with simulated pins and sensor files in its own process."""
    argv = [sys.executable, "-m", "dorpskluis.cli", "edge", "run", "--config", str(config_path), "--simulate"]
    argv += ["--speed", str(speed)]
    return spawn(f"edge-{locker}", argv, log_dir)
