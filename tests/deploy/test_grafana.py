"""Grafana provisioning: files parse, the dashboard uses the provisioned datasource and draws the zone limits."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from lockers.layout import Zone
from sensors.rules import DEFAULT_LIMITS

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "grafana"
PROVISIONING = GRAFANA / "provisioning"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
ENV_REFERENCE = re.compile(r"\$\{?([A-Z_][A-Z0-9_]*)\}?")


def provisioned(kind: str) -> list[dict]:
    files = sorted((PROVISIONING / kind).glob("*.y*ml"))
    assert files, f"no {kind} provisioning files"
    return [yaml.safe_load(path.read_text()) for path in files]


def datasources() -> list[dict]:
    return [source for document in provisioned("datasources") for source in document["datasources"]]


def grafana_service() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["grafana"]


def mounts() -> dict[str, str]:
    """Container path -> repository path of each bind mount of the grafana service."""
    pairs = (volume.split(":")[:2] for volume in grafana_service()["volumes"])
    return {target: source for source, target in pairs if source.startswith(".")}


def dashboard(zone: Zone) -> dict:
    (board,) = [json.loads(path.read_text()) for path in DASHBOARDS if path.name == "temperatures.json"]
    (panel,) = [p for p in board["panels"] if f'r.zone == "{zone.value}"' in p["targets"][0]["query"]]
    return panel


def test_influxdb_datasource_uses_flux_and_takes_its_token_from_the_environment():
    (source,) = [s for s in datasources() if s["type"] == "influxdb"]
    assert source["uid"] and source["url"] == "http://influxdb:8086"
    assert source["jsonData"]["version"] == "Flux"
    assert ENV_REFERENCE.fullmatch(source["secureJsonData"]["token"]), "the token must come from the environment"
    environment = grafana_service()["environment"]
    referenced = ENV_REFERENCE.findall((PROVISIONING / "datasources").joinpath("influxdb.yaml").read_text())
    assert set(referenced) <= set(environment), "every ${VAR} in the datasource is set on the grafana service"


def test_dashboard_provider_loads_the_mounted_dashboards_folder():
    (provider,) = [p for document in provisioned("dashboards") for p in document["providers"]]
    path = provider["options"]["path"]
    assert mounts()[path] == "./grafana/dashboards"
    assert mounts()["/etc/grafana/provisioning"] == "./grafana/provisioning"
    assert DASHBOARDS, "no dashboard JSON to load"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboards_only_use_provisioned_datasources_and_filter_by_locker(path):
    board = json.loads(path.read_text())
    uids = {source["uid"] for source in datasources()}
    used = {board_ds["uid"] for board_ds in _datasource_refs(board)}
    assert used and used <= uids, f"{path.name} uses unknown datasource uids {used - uids}"
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert "locker" in variables
    queries = [target["query"] for panel in board["panels"] for target in panel["targets"]]
    assert queries and all("${locker" in query for query in queries), "every query filters by the locker variable"


def test_one_temperature_panel_per_zone():
    for zone in Zone:
        panel = dashboard(zone)
        assert panel["type"] == "timeseries"
        assert panel["fieldConfig"]["defaults"]["unit"] == "celsius"


@pytest.mark.parametrize("zone", [Zone.CHILLED, Zone.FROZEN])
def test_thresholds_are_the_zone_limits_of_the_rules(zone):
    defaults = dashboard(zone)["fieldConfig"]["defaults"]
    steps = [step["value"] for step in defaults["thresholds"]["steps"] if step["value"] is not None]
    limits = DEFAULT_LIMITS[zone]
    assert steps == sorted({limits.limit_c, limits.critical_c})
    assert defaults["custom"]["thresholdsStyle"]["mode"] != "off"


def _datasource_refs(node: object) -> list[dict]:
    """Every {"type", "uid"} datasource reference anywhere in a dashboard."""
    found: list[dict] = []
    if isinstance(node, dict):
        if isinstance(node.get("datasource"), dict):
            found.append(node["datasource"])
        for value in node.values():
            found += _datasource_refs(value)
    elif isinstance(node, list):
        for value in node:
            found += _datasource_refs(value)
    return found
