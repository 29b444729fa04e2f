"""Settings and start-up: production refuses unsafe configuration, development fills in what is missing."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx
import pytest
from pydantic import SecretStr

from cloud.app import create_app
from cloud.keys import create_signing_key_file
from cloud.settings import Settings, prepare_settings
from cloud.tokens import load_link_secret
from lockers.errors import ConfigError
from lockers.layout import demo_layout
from tests.cloud.conftest import ADMIN, TestClient, cloud_settings, forget_session, key, make_vendor, order_body
from tests.support import wait_until

GOOD_KEY = "k9Qz-7vL2pX8wR4tY6uN1mB3cV5"
GOOD_MQTT_PASSWORD = "Zr7-q2WmX9vB4nL8kT1yH6cJ3p"


def production(tmp_path, **overrides) -> Settings:
    values = dict(
        env="production",
        data_dir=tmp_path / "data",
        admin_key=GOOD_KEY,
        mqtt_username="dk-cloud",
        mqtt_password=GOOD_MQTT_PASSWORD,
    )
    values.update(overrides)
    return Settings(**values)


def with_key_files(settings: Settings) -> Settings:
    create_signing_key_file(settings.resolved_signing_key_file())
    load_link_secret(settings.resolved_link_secret_file(), create=True)
    return settings


@pytest.mark.parametrize(
    ("admin_key", "message"),
    [
        (None, "DK_ADMIN_KEY is required in production"),
        ("", "DK_ADMIN_KEY is required in production"),
        ("short-key-123", "DK_ADMIN_KEY is 13 characters long; production needs at least 24"),
        ("change-me-to-something-long-and-random", "DK_ADMIN_KEY looks like a placeholder"),
        ("a" * 40, "DK_ADMIN_KEY looks like a placeholder"),
    ],
)
def test_production_refuses_a_weak_admin_key(tmp_path, admin_key, message):
    settings = with_key_files(production(tmp_path, admin_key=SecretStr(admin_key) if admin_key is not None else None))
    with pytest.raises(ConfigError, match=message):
        create_app(settings)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"mqtt_password": None}, "DK_MQTT_USERNAME and DK_MQTT_PASSWORD are required in production"),
        ({"mqtt_username": None}, "DK_MQTT_USERNAME and DK_MQTT_PASSWORD are required in production"),
        ({"mqtt_password": "short"}, "DK_MQTT_PASSWORD looks like a placeholder or is shorter than 24"),
        ({"mqtt_password": "changeme-changeme-changeme"}, "DK_MQTT_PASSWORD looks like a placeholder"),
        ({"metrics_token": "metrics"}, "DK_METRICS_TOKEN looks like a placeholder or is shorter than 24"),
        ({"metrics_token": "changeme-changeme-changeme"}, "DK_METRICS_TOKEN looks like a placeholder"),
    ],
)
def test_production_refuses_missing_weak_or_default_secrets(tmp_path, overrides, message):
    settings = with_key_files(production(tmp_path, **overrides))
    with pytest.raises(ConfigError, match=message):
        create_app(settings)


@pytest.mark.parametrize(("missing", "what"), [("signing", "signing key"), ("link", "resident link secret")])
def test_production_never_generates_key_files(tmp_path, missing, what):
    settings = production(tmp_path)
    if missing != "signing":
        create_signing_key_file(settings.resolved_signing_key_file())
    if missing != "link":
        load_link_secret(settings.resolved_link_secret_file(), create=True)
    with pytest.raises(ConfigError, match=f"the {what} file .* does not exist.*python -m cloud init"):
        create_app(settings)


def test_production_starts_with_a_strong_key_and_key_files(tmp_path):
    settings = with_key_files(production(tmp_path))
    assert create_app(settings).title == "Dorpskluis cloud"


def test_settings_come_from_dk_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("DK_ENV", "production")
    monkeypatch.setenv("DK_ADMIN_KEY", GOOD_KEY)
    monkeypatch.setenv("DK_DATA_DIR", str(tmp_path / "site"))
    monkeypatch.setenv("DK_MQTT_PORT", "18830")
    monkeypatch.setenv("DK_EXPIRY_HOURS_AMBIENT", "36")
    settings = Settings()
    assert settings.production and settings.mqtt_port == 18830
    assert settings.admin_key_value() == GOOD_KEY
    assert settings.expiry_hours("ambient") == 36 and settings.expiry_hours("chilled") == 24
    assert settings.resolved_database_url() == f"sqlite:///{tmp_path / 'site' / 'dorpskluis.sqlite'}"
    assert settings.resolved_signing_key_file() == tmp_path / "site" / "signing-key.pem"


def test_development_generates_and_keeps_an_admin_key(tmp_path, caplog):
    settings = Settings(data_dir=tmp_path / "dev", admin_key=None)
    first = prepare_settings(settings).admin_key_value()
    assert len(first) >= 32
    assert first in caplog.text  # logged once so the operator can use it
    key_file = tmp_path / "dev" / "admin-key"
    assert key_file.stat().st_mode & 0o077 == 0
    caplog.clear()
    assert prepare_settings(settings).admin_key_value() == first
    assert first not in caplog.text


def test_python_m_cloud_explains_a_bad_production_config(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DK_ENV": "production", "DK_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run([sys.executable, "-m", "cloud"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "configuration error: DK_ADMIN_KEY is required in production" in result.stderr
    init = subprocess.run([sys.executable, "-m", "cloud", "init"], env=env, capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    assert (tmp_path / "data" / "signing-key.pem").is_file() and (tmp_path / "data" / "link-secret").is_file()


def test_a_restart_keeps_keys_orders_and_republishes_desired_states(database_url, broker, tmp_path):
    settings = cloud_settings(database_url, broker, tmp_path / "data")
    layout = {"id": "t-restart", "name": "Kerk", "layout": demo_layout().model_dump(mode="json")}
    with TestClient(create_app(settings)) as first:
        assert first.post("/api/v1/lockers", headers=ADMIN, json=layout).status_code == 201
        farmer = make_vendor(first, "boer-restart")
        order = first.post("/api/v1/orders", headers=key(farmer), json=order_body("t-restart", ("chilled", "S"))).json()
        keys_before = first.get("/api/v1/keys").json()
        version_before = first.get("/api/v1/lockers/t-restart", headers=ADMIN).json()["desired_version"]
    with TestClient(create_app(settings)) as second:
        assert second.get("/api/v1/keys").json() == keys_before
        assert second.get(f"/api/v1/orders/{order['id']}", headers=key(farmer)).json() == order
        assert second.get("/api/v1/lockers/t-restart", headers=ADMIN).json()["desired_version"] == version_before + 1
    forget_session(broker, settings.mqtt_client_id)


def test_python_m_cloud_serves_and_stops_cleanly(broker, tmp_path, unused_port):
    env = {
        "PATH": "/usr/bin:/bin",
        "DK_DATA_DIR": str(tmp_path / "data"),
        "DK_MQTT_HOST": broker.host,
        "DK_MQTT_PORT": str(broker.port),
        "DK_MQTT_CLIENT_ID": f"dk-cloud-serve-{unused_port}",
        "DK_HTTP_PORT": str(unused_port),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "cloud"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:

        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{unused_port}/api/v1/health", timeout=1).json()["mqtt_connected"]
            except httpx.HTTPError:
                assert process.poll() is None, "the service exited early"
                return False

        wait_until(healthy, 30, "the service to answer with MQTT connected")
        admin_key = (tmp_path / "data" / "admin-key").read_text().strip()  # generated for development
        listed = httpx.get(f"http://127.0.0.1:{unused_port}/api/v1/lockers", headers={"X-API-Key": admin_key})
        assert listed.status_code == 200 and listed.json() == []
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the parent sees how it ended
    assert process.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete." in output and "Traceback" not in output
    assert "generated development admin key" in output
    forget_session(broker, env["DK_MQTT_CLIENT_ID"])
