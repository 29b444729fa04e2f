"""docker-compose.yml: valid against the Compose specification, and consistent with the repository."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"


def load() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_file_is_valid_against_the_compose_spec():
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_stack_has_broker_database_and_cloud():
    services = load()["services"]
    assert {"mosquitto", "postgres", "cloud"} <= set(services)
    assert services["cloud"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert all("healthcheck" in services[name] for name in ("mosquitto", "postgres"))


def test_bind_mounts_and_build_context_exist():
    for name, service in load()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
        if "build" in service:
            assert (ROOT / service["build"] / "Dockerfile").is_file()


def test_no_secret_has_a_usable_default():
    cloud_env = load()["services"]["cloud"]["environment"]
    for key in ("DK_ADMIN_KEY",):
        assert cloud_env[key].startswith("${") and ":?" in cloud_env[key], f"{key} must be required from .env"
    assert "${POSTGRES_PASSWORD:?" in cloud_env["DK_DATABASE_URL"]
    example = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert example["POSTGRES_PASSWORD"] == "" and example["DK_ADMIN_KEY"] == ""
