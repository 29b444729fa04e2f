"""Grafana provisioning: files parse, dashboards use the provisioned datasources, the temperature dashboard draws
the zone limits, and every SQL panel of the fleet-health and alerts dashboards runs, as Grafana's read-only role,
against a PostgreSQL holding a small fleet, and shows what that fleet implies."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from lockers.layout import Zone
from sensors.rules import DEFAULT_LIMITS
from tests.reporting_data import as_reader

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
    queries = [target.get("query") or target["rawSql"] for panel in board["panels"] for target in panel["targets"]]
    per_locker = [query for query in queries if "report_notifications" not in query]  # the outbox has no locker
    assert per_locker and all("${locker" in query for query in per_locker), "queries filter by the locker variable"


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


# --- the PostgreSQL dashboards (fleet health, alerts) -----------------------------------------------------


def sql_boards() -> list[dict]:
    boards = [json.loads(path.read_text()) for path in DASHBOARDS]
    return [b for b in boards if any(ref["uid"] == POSTGRES_UID for ref in _datasource_refs(b))]


POSTGRES_UID = "dorpskluis-postgres"


def expand(sql: str, lockers: list[str], start: datetime, end: datetime) -> str:
    """Grafana's macros and the locker variable as its PostgreSQL datasource expands them (a test stand-in for
    Grafana's own expansion, covering the macros our dashboards use; anything else is left and fails the test)."""
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}

    def group(match: re.Match) -> str:
        step = int(match[2]) * seconds[match[3]]
        return f'to_timestamp(floor(extract(epoch FROM {match[1]}) / {step}) * {step}) AS "time"'

    sql = re.sub(r"\$__timeGroupAlias\(([^,]+),\s*(\d+)([smhd])\)", group, sql)
    sql = re.sub(
        r"\$__timeFilter\(([^)]+)\)", lambda m: f"{m[1]} BETWEEN '{start.isoformat()}' AND '{end.isoformat()}'", sql
    )
    return sql.replace("${locker:sqlstring}", ", ".join(f"'{name}'" for name in lockers))


def panel_rows(db, reader: str, board: dict) -> dict[str, tuple[dict, list[dict]]]:
    """Title -> (target, rows) of every panel, each query run as the reader over the last 30 days."""
    (variable,) = [v for v in board["templating"]["list"] if v["name"] == "locker"]
    lockers = [row["locker"] for row in as_reader(db, reader, variable["query"])]
    end = datetime.now(UTC)
    results = {}
    for panel in board["panels"]:
        (target,) = panel["targets"]
        sql = expand(target["rawSql"], lockers, end - timedelta(days=30), end)
        assert "$" not in sql, f"{panel['title']}: a macro the test does not know: {sql}"
        results[panel["title"]] = (target, as_reader(db, reader, sql))
    return results


def test_the_postgres_datasource_reads_as_the_role_the_cloud_grants_the_views():
    (source,) = [s for s in datasources() if s["uid"] == POSTGRES_UID]
    assert source["type"] == "grafana-postgresql-datasource" and source["url"] == "postgres:5432"
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert source["jsonData"]["database"] == services["postgres"]["environment"]["POSTGRES_DB"]
    assert ENV_REFERENCE.fullmatch(source["user"]) and ENV_REFERENCE.fullmatch(source["secureJsonData"]["password"])
    grafana_env = services["grafana"]["environment"]
    reader = grafana_env["GRAFANA_DB_USER"]
    assert services["cloud"]["environment"]["DK_REPORTING_ROLE"] == reader
    assert services["postgres"]["environment"]["GRAFANA_DB_USER"] == reader
    assert (
        "./deploy/postgres/grafana-reader.sh:/docker-entrypoint-initdb.d/grafana-reader.sh:ro"
        in (services["postgres"]["volumes"])
    )
    referenced = ENV_REFERENCE.findall((PROVISIONING / "datasources" / "postgres.yaml").read_text())
    assert set(referenced) <= set(grafana_env), "every ${VAR} in the datasource is set on the grafana service"


def test_there_are_fleet_health_and_alerts_dashboards_on_postgres():
    assert {board["uid"] for board in sql_boards()} == {"dorpskluis-fleet", "dorpskluis-alerts"}


@pytest.mark.parametrize("uid", ["dorpskluis-fleet", "dorpskluis-alerts"])
def test_every_sql_panel_runs_as_the_reader_and_reads_only_reporting_views(reporting_db, uid):
    db, reader = reporting_db
    (board,) = [b for b in sql_boards() if b["uid"] == uid]
    for title, (target, rows) in panel_rows(db, reader, board).items():
        tables = set(re.findall(r"\bFROM\s+(\w+)", target["rawSql"]))
        assert tables and all(name.startswith("report_") for name in tables), f"{title} reads {tables}"
        assert rows, f"{title}: no rows from the seeded fleet"
        if target["format"] == "time_series":
            assert set(rows[0]) == {"time", "metric", "value"}, title


def test_the_fleet_dashboard_shows_the_fleet_as_it_is(reporting_db):
    db, reader = reporting_db
    (board,) = [b for b in sql_boards() if b["uid"] == "dorpskluis-fleet"]
    panels = panel_rows(db, reader, board)
    stats = {title: next(iter(rows[0].values())) for title, (target, rows) in panels.items() if len(rows) == 1}
    assert stats["Online"] == 1 and stats["Offline"] == 1 and stats["Never heard from"] == 1
    assert stats["Configuration pending"] == 2
    assert stats["Notifications failed"] == 1 and stats["Notifications waiting"] == 1
    lockers = panels["Lockers"][1]
    assert [row["locker"] for row in lockers] == ["molen", "nieuw", "kerk"]  # offline first, then never, online last
    readings = panels["Readings received per hour"][1]
    assert {(row["metric"], row["value"]) for row in readings} == {("kerk", 10), ("molen", 10)}


def test_the_alerts_dashboard_shows_open_alerts_and_how_fast_they_were_taken_on(reporting_db):
    db, reader = reporting_db
    (board,) = [b for b in sql_boards() if b["uid"] == "dorpskluis-alerts"]
    panels = panel_rows(db, reader, board)
    stats = {title: next(iter(rows[0].values())) for title, (target, rows) in panels.items() if len(rows) == 1}
    assert stats["Open critical"] == 1 and stats["Open warnings"] == 1 and stats["Not acknowledged"] == 1
    assert stats["Median time to acknowledge"] == pytest.approx(21)  # 12 and 30 minutes
    assert [row["kind"] for row in panels["Open alerts"][1]] == ["temperature", "offline"]  # critical first
    (broken,) = panels["Orders whose cold chain broke"][1]
    assert (broken["order"], broken["vendor"], broken["warmest"]) == ("ORD00001", "bakker", 11.5)
