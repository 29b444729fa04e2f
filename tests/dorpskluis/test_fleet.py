"""`dorpskluis sim fleet`, as the docker-compose profile `simulated` runs it: lockers provisioned and enrolled
against a running cloud, online on the project's secured mosquitto with their own accounts, and back after a
restart without enrolling again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

import pytest

from dorpskluis.fleet import FleetError, parse_broker, run_fleet
from dorpskluis.stack import StackError
from lockers.errors import ConfigError
from tests.support import wait_until

CLI = str(Path(sys.executable).with_name("dorpskluis"))


def start_fleet(config, broker, folder: Path, log: Path) -> subprocess.Popen:
    argv = [CLI, "sim", "fleet", "--count", "2", "--dir", str(folder), "--cloud", config.url]
    argv += ["--broker", f"{broker.host}:{broker.port}", "--speed", "60"]
    env = os.environ | {"DK_ADMIN_KEY": config.admin_key}
    with log.open("ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)


def stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(30)


def online(admin, locker: str) -> bool:
    """Whether the cloud shows `locker` online (False while the fleet has not registered it yet)."""
    try:
        return bool(admin.locker(locker).get("online"))
    except StackError:
        return False


def test_a_fleet_comes_online_with_its_own_accounts_and_returns_after_a_restart(
    secured_cloud, secured_broker, tmp_path, run_dir
):
    config, admin = secured_cloud
    folder, log = tmp_path / "fleet", tmp_path / "fleet.log"
    fleet = start_fleet(config, secured_broker, folder, log)
    try:
        for locker in ("sim-1", "sim-2"):
            wait_until(lambda locker=locker: online(admin, locker), timeout=60, what=f"{locker} online")
    finally:
        assert stop(fleet) == 0, log.read_text()
    assert "running sim-1, sim-2" in log.read_text()
    first, second = admin.locker("sim-1"), admin.locker("sim-2")
    assert (first["village"], second["village"]) == ("Zwartsluis", "Genemuiden")
    assert first["address"] and first["location"]  # the resident page can say where it stands
    edge = tomllib.loads((folder / "sim-1" / "edge.toml").read_text())
    assert edge["mqtt"]["host"] == secured_broker.host and edge["mqtt"]["port"] == secured_broker.port
    assert "ca_file" not in edge["mqtt"]  # plain MQTT inside the private network
    assert edge["mqtt"]["username"] == "sim-1"
    assert secured_broker.accounts().has("sim-1", edge["mqtt"]["password"])
    assert not (folder / "sim-1" / "enrollment.json").exists()  # the one-time token is used up
    wait_until(lambda: not online(admin, "sim-1"), timeout=30, what="sim-1 offline after the fleet stopped")

    again = start_fleet(config, secured_broker, folder, log)
    try:
        wait_until(lambda: online(admin, "sim-1"), timeout=60, what="sim-1 online after the restart")
    finally:
        assert stop(again) == 0, log.read_text()
    # Not enrolled a second time: the same account and password.
    assert tomllib.loads((folder / "sim-1" / "edge.toml").read_text())["mqtt"] == edge["mqtt"]


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("mosquitto:1883", ("mosquitto", 1883)),
        ("127.0.0.1:18830", ("127.0.0.1", 18830)),
        ("[::1]:1883", ("[::1]", 1883)),
    ],
)
def test_broker_addresses_are_host_and_port(text, address):
    assert parse_broker(text) == address


@pytest.mark.parametrize("text", ["mosquitto", ":1883", "mosquitto:", "mosquitto:0", "mosquitto:70000", "a:b"])
def test_a_broker_address_without_a_usable_port_is_refused(text):
    with pytest.raises(ConfigError, match="HOST:PORT"):
        parse_broker(text)


class Config:  # the one field run_fleet reads of an EdgeConfig
    def __init__(self, locker: str) -> None:
        self.locker = locker


@pytest.mark.allow_callback_errors  # the failing locker's traceback is logged, then raised in the main thread
def test_one_locker_failing_stops_the_whole_fleet_and_names_it():
    stopped: list[str] = []

    def run(config, _speed, stop: threading.Event) -> None:
        if config.locker == "sim-2":
            raise OSError("control socket in use")
        stop.wait(10)
        stopped.append(config.locker)

    with pytest.raises(FleetError, match="sim-2 stopped: control socket in use"):
        run_fleet([Config("sim-1"), Config("sim-2"), Config("sim-3")], 1.0, threading.Event(), run=run)
    assert sorted(stopped) == ["sim-1", "sim-3"]  # the others were stopped, not left running
