"""The systemd unit starts the agent with a command line our CLI really accepts, watches it through sd_notify,
and parses cleanly in systemd's own verifier; systemd feeds the hardware watchdog."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
import sys

from typer.testing import CliRunner

from dorpskluis.cli import app
from firmware import EDGE_UNIT, HARDWARE_WATCHDOG
from tests.support import service_missing


def test_unit_runs_the_edge_agent_and_restarts_it():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(EDGE_UNIT)
    service = unit["Service"]
    assert service["Restart"] == "always"
    argv = shlex.split(service["ExecStart"])
    assert argv[0] == "/opt/dorpskluis/current/venv/bin/dorpskluis" and argv[1:4] == ["edge", "run", "--config"]
    # where `dorpskluis edge update` finds the control socket by default
    assert (service["RuntimeDirectory"], service["Environment"]) == ("dorpskluis", "DK_RUN_DIR=/run/dorpskluis")
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    # the agent says READY and pings from its worker loop (edge/systemd.py): a stuck worker is restarted too
    assert (service["Type"], service["NotifyAccess"], service["WatchdogSec"]) == ("notify", "main", "30")


def test_systemd_itself_accepts_the_unit(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        service_missing("systemd-analyze (Debian package systemd) is not installed")
    # The verifier checks that ExecStart exists: point it at an executable this machine has, nothing else changes.
    text = EDGE_UNIT.read_text().replace("/opt/dorpskluis/current/venv/bin/dorpskluis", sys.executable)
    unit = tmp_path / EDGE_UNIT.name
    unit.write_text(text)
    checked = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert (checked.returncode, checked.stderr.strip()) == (0, "")


def test_systemd_feeds_the_hardware_watchdog():
    conf = configparser.ConfigParser(interpolation=None)
    conf.optionxform = str
    conf.read(HARDWARE_WATCHDOG)
    assert conf["Manager"]["RuntimeWatchdogSec"] == "15s" and conf["Manager"]["RebootWatchdogSec"] == "2min"


def test_the_cli_accepts_the_units_command_line():
    result = CliRunner().invoke(app, ["edge", "run", "--help"])
    assert result.exit_code == 0
    assert "--config" in result.output and "--simulate" in result.output
