"""The systemd unit starts the agent with a command line our CLI really accepts."""

from __future__ import annotations

import configparser
import shlex

from typer.testing import CliRunner

from dorpskluis.cli import app
from firmware import EDGE_UNIT


def test_unit_runs_the_edge_agent_and_restarts_it():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(EDGE_UNIT)
    service = unit["Service"]
    assert service["Restart"] == "always"
    argv = shlex.split(service["ExecStart"])
    assert argv[0].endswith("/dorpskluis") and argv[1:4] == ["edge", "run", "--config"]
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_the_cli_accepts_the_units_command_line():
    result = CliRunner().invoke(app, ["edge", "run", "--help"])
    assert result.exit_code == 0
    assert "--config" in result.output and "--simulate" in result.output
