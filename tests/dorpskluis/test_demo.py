"""`dorpskluis demo` as a new user runs it: it starts, prints a working PIN and keys, and Ctrl-C stops it all."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

import httpx

from dorpskluis.broker import free_port
from lockers.mqtt import BrokerAddress, MqttSession
from tests.support import wait_until

CLI = str(Path(sys.executable).with_name("dorpskluis"))


def test_demo_runs_seeded_and_stops_cleanly_on_ctrl_c(tmp_path, run_dir):
    port = free_port()
    demo = subprocess.Popen(
        [CLI, "demo", "--port", str(port), "--vendor-key", "my-demo-vendor-key", "--data-dir", str(tmp_path / "demo")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(demo.stdout), daemon=True)
    reader.start()
    try:
        output = wait_until(
            lambda: (text := "".join(lines)) and "Create an order" in text and text, 90, "the demo's summary"
        )
        assert f"http://127.0.0.1:{port}/docs" in output
        assert f"http://127.0.0.1:{port}/dashboard" in output and f"http://127.0.0.1:{port}/vendor" in output
        kiosk = re.search(r"Kiosk\s+(http://\S+)", output).group(1)
        assert "Pincode" in httpx.get(kiosk).text
        assert "my-demo-vendor-key" in output
        admin_key = re.search(r"Admin key\s+(\S+)", output).group(1)
        pin = re.search(r"PIN (\d{6})", output).group(1)

        me = httpx.get(f"http://127.0.0.1:{port}/api/v1/vendors/me", headers={"X-API-Key": "my-demo-vendor-key"})
        assert me.status_code == 200 and me.json()["id"] == "boerderij-zwartewater"
        locker = httpx.get(f"http://127.0.0.1:{port}/api/v1/lockers/demo-1", headers={"X-API-Key": admin_key}).json()
        assert locker["online"] and len(locker["compartments"]) == 12

        # Its broker runs the project's config and demo-1 was provisioned like a real locker: its own account.
        broker = re.search(r"Broker\s+(\S+) on ([\d.]+):(\d+)", output)
        assert broker, output
        if broker.group(1) == "mosquitto":
            edge = tomllib.loads((tmp_path / "demo" / "demo-1" / "edge.toml").read_text())
            assert edge["mqtt"]["username"] == "demo-1" and len(edge["mqtt"]["password"]) >= 40
            assert edge["mqtt"]["ca_file"] == "ca.crt"  # over TLS, trusting the CA of its bundle
            assert not (tmp_path / "demo" / "demo-1" / "enrollment.json").exists(), "the used token stays behind"
            credentials = httpx.get(
                f"http://127.0.0.1:{port}/api/v1/lockers/demo-1/credentials", headers={"X-API-Key": admin_key}
            ).json()
            assert credentials["active"] and credentials["generation"] == 1
            anonymous = MqttSession(BrokerAddress(broker.group(2), int(broker.group(3))), "anonymous-probe")
            anonymous.start()
            try:
                wait_until(lambda: anonymous.last_refusal, what="the demo broker to refuse an anonymous client")
            finally:
                anonymous.stop()

        scan = subprocess.run([CLI, "sim", "scan", "demo-1", pin], capture_output=True, text=True, timeout=30)
        assert scan.returncode == 0, scan.stdout + scan.stderr
        assert "Opened" in scan.stdout
    finally:
        demo.send_signal(signal.SIGINT)
        demo.wait(60)
        reader.join(5)
    assert "All demo processes stopped." in "".join(lines)
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "the cloud service still listens"
    assert not any(run_dir.rglob("*.sock")), "the simulated locker still runs"
