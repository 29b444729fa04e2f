"""docker-compose.yml: valid against the Compose specification, and consistent with the repository."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SECRET_WORDS = ("PASSWORD", "TOKEN", "KEY", "SECRET")
# ${NAME}, ${NAME:-default}, ${NAME:?error} ...: the name and what follows it.
INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(:?[-?+][^}]*)?\}")


def load() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def env_example() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


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
    """Repository files must exist; ./secrets/ is the operator's, made by commands docs/operations.md names."""
    operations = (ROOT / "docs" / "operations.md").read_text()
    for name, service in load()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./secrets/"):
                assert "provision broker-certs" in operations and "--out secrets/mqtt" in operations, source
            elif source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
        if "build" in service:
            assert (ROOT / service["build"] / "Dockerfile").is_file()


def test_no_secret_has_a_usable_default():
    cloud_env = load()["services"]["cloud"]["environment"]
    for key in ("DK_ADMIN_KEY",):
        assert cloud_env[key].startswith("${") and ":?" in cloud_env[key], f"{key} must be required from .env"
    assert "${POSTGRES_PASSWORD:?" in cloud_env["DK_DATABASE_URL"]
    example = env_example()
    assert example["POSTGRES_PASSWORD"] == "" and example["DK_ADMIN_KEY"] == ""


def test_every_secret_in_the_stack_is_required_from_env_and_empty_in_the_example():
    text = COMPOSE.read_text()
    example = env_example()
    secret_refs = [m for m in INTERPOLATION.finditer(text) if any(w in m.group(1) for w in SECRET_WORDS)]
    assert {m.group(1) for m in secret_refs} >= {
        "INFLUXDB_ADMIN_TOKEN",
        "INFLUXDB_ADMIN_PASSWORD",
        "GRAFANA_ADMIN_PASSWORD",
    }
    for match in secret_refs:
        assert (match.group(2) or "").startswith(":?"), f"{match.group(0)} must fail when unset, not default"
        assert example.get(match.group(1)) == "", f".env.example must list {match.group(1)} empty"
    for name, value in example.items():
        if any(w in name for w in SECRET_WORDS):
            assert value == "", f".env.example gives {name} a value"


def test_every_variable_the_stack_requires_is_in_the_env_example():
    required = {m.group(1) for m in INTERPOLATION.finditer(COMPOSE.read_text()) if (m.group(2) or "").startswith(":?")}
    assert required - set(env_example()) == set()


def test_influxdb_and_grafana_join_the_stack():
    services = load()["services"]
    influxdb, grafana, cloud = services["influxdb"], services["grafana"], services["cloud"]
    assert influxdb["image"].startswith("influxdb:2.")
    assert influxdb["environment"]["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert influxdb["healthcheck"]["test"] == ["CMD", "influx", "ping"]
    assert any(v.split(":")[0] == "influxdb-data" for v in influxdb["volumes"]), "InfluxDB data on a named volume"
    assert grafana["image"].startswith("grafana/grafana-oss:")
    assert grafana["depends_on"]["influxdb"]["condition"] == "service_healthy"
    assert cloud["depends_on"]["influxdb"]["condition"] == "service_healthy"
    assert cloud["environment"]["DK_INFLUX_URL"] == "http://influxdb:8086"
    init = influxdb["environment"]
    for cloud_key, init_key in [
        ("DK_INFLUX_TOKEN", "DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"),
        ("DK_INFLUX_ORG", "DOCKER_INFLUXDB_INIT_ORG"),
        ("DK_INFLUX_BUCKET", "DOCKER_INFLUXDB_INIT_BUCKET"),
    ]:
        assert cloud["environment"][cloud_key] == init[init_key], f"cloud {cloud_key} must match InfluxDB's setup"


def test_every_service_says_when_it_is_healthy():
    """In the compose file, or in the Dockerfile of a service built from it (HEALTHCHECK)."""
    dockerfile_checks = "HEALTHCHECK" in (ROOT / "Dockerfile").read_text()
    for name, service in load()["services"].items():
        assert "healthcheck" in service or ("build" in service and dockerfile_checks), f"{name} has no health check"


def test_what_the_services_keep_lives_on_named_volumes():
    top = load()
    named = set(top["volumes"])
    keeps = {"mosquitto": "/mosquitto/data", "postgres": "/var/lib/postgresql/data", "influxdb": "/var/lib/influxdb2"}
    keeps |= {"grafana": "/var/lib/grafana", "cloud": "/var/lib/dorpskluis", "simulated-lockers": "/var/lib/dorpskluis"}
    for name, target in keeps.items():
        mounts = {v.split(":")[1]: v.split(":")[0] for v in top["services"][name]["volumes"]}
        assert mounts.get(target) in named, f"{name} keeps {target} on {mounts.get(target)!r}, not a named volume"
    for name, service in top["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):  # repository files and the operator's secrets: read-only
                assert volume.endswith(":ro"), f"{name} mounts {source} writable"


def test_the_simulated_lockers_only_come_with_their_profile_and_use_the_cloud_and_broker_of_the_stack():
    services = load()["services"]
    simulated = services["simulated-lockers"]
    assert simulated["profiles"] == ["simulated"]
    assert {name: service["profiles"] for name, service in services.items() if "profiles" in service} == {
        "cloud-ingest": ["scale"],
        "simulated-lockers": ["simulated"],
    }
    assert simulated["depends_on"]["cloud"]["condition"] == "service_healthy"
    assert simulated["environment"]["DK_CLOUD_URL"] == "http://cloud:8000"
    assert "--broker=mosquitto:1883" in simulated["command"]
    assert simulated["environment"]["DK_ADMIN_KEY"] == services["cloud"]["environment"]["DK_ADMIN_KEY"]


def test_the_scale_profile_adds_an_ingest_node_sharing_the_main_nodes_telemetry_group():
    services = load()["services"]
    main, ingest = services["cloud"], services["cloud-ingest"]
    assert main["environment"]["DK_MQTT_SHARE_GROUP"] == ingest["environment"]["DK_MQTT_SHARE_GROUP"] == "cloud"
    assert "DK_INGEST_TELEMETRY_ONLY" not in main["environment"]
    assert ingest["environment"]["DK_INGEST_TELEMETRY_ONLY"] == "true"
    client_ids = {main["environment"].get("DK_MQTT_CLIENT_ID", "dk-cloud"), ingest["environment"]["DK_MQTT_CLIENT_ID"]}
    assert len(client_ids) == 2, "each node needs its own client id (its own session on the broker)"
    assert ingest["depends_on"] == {"cloud": {"condition": "service_healthy"}}  # the main node migrates first
    assert ingest["ports"] == []
    shared = ("DK_DATABASE_URL", "DK_MQTT_PASSWORD", "DK_SIGNING_KEY_FILE", "DK_LINK_SECRET_FILE", "DK_ADMIN_KEY")
    assert all(ingest["environment"][key] == main["environment"][key] for key in shared)
    assert ingest["secrets"] == main["secrets"] and ingest["build"] == main["build"]
