"""Onboarding as a technician does it, end to end: `dorpskluis provision locker` against a running cloud,
`dorpskluis edge enroll` on the bundle, the real edge agent logging in with its own account on a mosquitto with
the project's config; then `dorpskluis provision revoke` takes it off the broker."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

from cryptography import x509

from dorpskluis.stack import start_simulated_locker
from lockers.layout import demo_layout
from tests.support import wait_until

CLI = str(Path(sys.executable).with_name("dorpskluis"))


def cli(*args: str, admin_key: str | None = None) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "DK_ADMIN_KEY": admin_key} if admin_key else None
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=60, env=env)


def test_provision_enroll_run_and_revoke_a_locker(secured_cloud, secured_broker, tmp_path, run_dir):
    config, admin = secured_cloud
    layout = tmp_path / "layout.json"
    layout.write_text(demo_layout().model_dump_json())
    bundle = tmp_path / "bundle"
    provisioned = cli(
        "provision", "locker", "kerk-7", "--layout", str(layout), "--out", str(bundle),
        "--cloud", config.url, "--village", "Zwartsluis", "--simulated",
        "--address", "Kerkstraat 4, bij de bakker", "--location", "52.6391,6.0698", admin_key=config.admin_key,
    )  # fmt: skip
    assert provisioned.returncode == 0, provisioned.stdout + provisioned.stderr
    # Lockers go to the TLS listener, trusting the CA the bundle carries; no secret is in the bundle.
    assert f"{secured_broker.host}:{secured_broker.tls_port}" in provisioned.stdout
    edge = tomllib.loads((bundle / "edge.toml").read_text())
    assert edge["mqtt"] == {"host": secured_broker.host, "port": secured_broker.tls_port, "ca_file": "ca.crt"}
    assert (bundle / "ca.crt").read_text() == secured_broker.tls.ca.read_text()
    assert (bundle / "enrollment-qr.png").read_bytes().startswith(b"\x89PNG")
    sheet = (bundle / "enrollment.html").read_text()
    assert "kerk-7" in sheet and "<svg" in sheet and "Zwartsluis" in sheet
    token = json.loads((bundle / "enrollment.json").read_text())["token"]
    registered = admin.locker("kerk-7")
    assert registered["village"] == "Zwartsluis" and registered["address"] == "Kerkstraat 4, bij de bakker"
    assert registered["location"] == {"lat": 52.6391, "lon": 6.0698}
    assert "Kerkstraat 4, bij de bakker" in sheet  # the technician knows where it stands

    enrolled = cli("edge", "enroll", str(bundle))
    assert enrolled.returncode == 0, enrolled.stdout + enrolled.stderr
    edge = tomllib.loads((bundle / "edge.toml").read_text())
    assert edge["mqtt"]["username"] == "kerk-7" and len(edge["mqtt"]["password"]) >= 40
    assert edge["mqtt"]["ca_file"] == "ca.crt" and edge["mqtt"]["port"] == secured_broker.tls_port
    assert stat.S_IMODE((bundle / "edge.toml").stat().st_mode) == 0o600
    assert not any((bundle / name).exists() for name in ("enrollment.json", "enrollment-qr.png", "enrollment.html"))
    assert secured_broker.accounts().has("kerk-7", edge["mqtt"]["password"])

    # The token is dead: a second enrollment with it (e.g. from the printed QR) is refused and changes nothing.
    replay = cli("edge", "enroll", str(bundle), "--qr", f"DKENROLL1 {config.url} kerk-7 {token}")
    assert replay.returncode == 1 and "already used" in replay.stderr
    assert secured_broker.accounts().has("kerk-7", edge["mqtt"]["password"])

    agent = start_simulated_locker(bundle / "edge.toml", tmp_path / "logs", "kerk-7")
    try:
        admin.wait_online("kerk-7", process=agent)  # over TLS, with its own account
        assert "kerk-7 connected to" in (tmp_path / "logs" / "edge-kerk-7.log").read_text()
        revoked = cli("provision", "revoke", "kerk-7", "--cloud", config.url, admin_key=config.admin_key)
        assert revoked.returncode == 0, revoked.stdout + revoked.stderr
        # The broker drops it at once (without its Last Will), the cloud shows it offline, and it stays out.
        wait_until(lambda: not admin.locker("kerk-7")["online"], timeout=15, what="the revoked locker to go offline")
        assert not secured_broker.accounts().has("kerk-7")
        log = secured_broker.workdir / "mosquitto.log"
        wait_until(lambda: "not authorised" in log.read_text(), timeout=20, what="the locker's retry to be refused")
        assert not admin.locker("kerk-7")["online"]
    finally:
        agent.stop()


def test_provisioning_refuses_clearly(secured_cloud, tmp_path):
    config, _admin = secured_cloud
    layout = tmp_path / "layout.json"
    layout.write_text(demo_layout().model_dump_json())
    wrong_key = cli(
        "provision", "locker", "kerk-8", "--layout", str(layout), "--out", str(tmp_path / "b"),
        "--cloud", config.url, admin_key="not-the-admin-key",
    )  # fmt: skip
    assert wrong_key.returncode == 1 and "401" in wrong_key.stderr and "not known" in wrong_key.stderr
    for place, says in (("52.6", "is not LAT,LON"), ("95,6", "off the map")):
        off = cli(
            "provision", "locker", "kerk-8", "--layout", str(layout), "--out", str(tmp_path / "c"),
            "--cloud", config.url, "--location", place, admin_key=config.admin_key,
        )  # fmt: skip
        assert off.returncode == 2 and says in off.stderr, off.stderr
    assert not (tmp_path / "c").exists()  # refused before anything was registered or written
    no_bundle = cli("edge", "enroll", str(tmp_path / "nowhere"))
    assert no_bundle.returncode == 1 and "cannot read" in no_bundle.stderr
    bad_qr = cli("edge", "enroll", str(tmp_path / "nowhere"), "--qr", "hello")
    assert bad_qr.returncode == 1


def test_broker_certs_name_the_hosts_and_keep_the_key_private(tmp_path):
    made = cli(
        "provision",
        "broker-certs",
        "--host",
        "mqtt.dorpskluis.example.nl",
        "--host",
        "192.0.2.7",
        "--out",
        str(tmp_path / "mqtt"),
    )
    assert made.returncode == 0, made.stdout + made.stderr
    server = x509.load_pem_x509_certificate((tmp_path / "mqtt" / "server.crt").read_bytes())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["mqtt.dorpskluis.example.nl"]
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["192.0.2.7"]
    ca = x509.load_pem_x509_certificate((tmp_path / "mqtt" / "ca.crt").read_bytes())
    server.verify_directly_issued_by(ca)
    assert stat.S_IMODE((tmp_path / "mqtt" / "server.key").stat().st_mode) == 0o600
