"""firmware/install.sh, the Pi's installer: shellcheck finds nothing, and staged under --root (which changes
nothing of the machine running the test) it lays out what the unit, the updater and the boot expect, and a
second run changes nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from provisioning.client import PI_STATE_DIR
from tests.firmware.wheels import tiny_wheel
from tests.support import service_missing

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
SCRIPT = FIRMWARE / "install.sh"
SHELL_SCRIPTS = [SCRIPT, FIRMWARE.parent / "deploy" / "postgres" / "grafana-reader.sh"]


def install(*args: str) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"]}
    return subprocess.run(["sh", str(SCRIPT), *args], capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture
def bundle(tmp_path) -> Path:
    """A real locker's bundle as `dorpskluis provision locker` writes it (before enrollment)."""
    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / "edge.toml").write_text(f'locker = "kerk-7"\nstate_dir = "{PI_STATE_DIR}"\n\n[mqtt]\nhost = "mqtt"\n')
    (folder / "enrollment.json").write_text(json.dumps({"locker": "kerk-7", "token": "t"}))
    return folder


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.name)
def test_shellcheck_finds_nothing(script):
    if shutil.which("shellcheck") is None:
        service_missing("shellcheck (Debian package shellcheck) is not installed")
    result = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_a_staged_install_lays_out_agent_unit_watchdog_boot_config_and_bundle(tmp_path, bundle):
    wheelhouse, root = tmp_path / "wheelhouse", tmp_path / "root"
    tiny_wheel(wheelhouse, [])
    done = install("--wheelhouse", str(wheelhouse), "--bundle", str(bundle), "--root", str(root))
    assert done.returncode == 0, done.stderr
    assert "installed version 9.9.9" in done.stdout and "staged version 9.9.9" in done.stdout
    opt = root / "opt" / "dorpskluis"
    assert os.readlink(opt / "current") == "releases/9.9.9"  # relative, as the updater's links
    agent = opt / "current" / "venv" / "bin" / "dorpskluis"
    assert subprocess.run([str(agent)], capture_output=True, text=True, timeout=60).stdout == "9.9.9 here\n"
    unit = root / "etc" / "systemd" / "system" / "dorpskluis-edge.service"
    assert unit.read_text() == (FIRMWARE / "dorpskluis-edge.service").read_text()
    watchdog = root / "etc" / "systemd" / "system.conf.d" / "dorpskluis-watchdog.conf"
    assert watchdog.read_text() == (FIRMWARE / "watchdog.conf").read_text()
    boot = (root / "boot" / "firmware" / "config.txt").read_text().splitlines()
    assert "dtoverlay=w1-gpio,gpiopin=4" in boot and "dtparam=watchdog=on" in boot
    etc = root / "etc" / "dorpskluis"
    assert (etc / "edge.toml").read_text() == (bundle / "edge.toml").read_text()
    assert (etc / "enrollment.json").exists()
    assert (etc.stat().st_mode & 0o777) == 0o700  # the locker's password will be in there
    assert (root / PI_STATE_DIR.lstrip("/")).is_dir()


def test_running_it_again_changes_nothing_and_a_newer_wheel_becomes_current(tmp_path, bundle):
    wheelhouse, root = tmp_path / "wheelhouse", tmp_path / "root"
    tiny_wheel(wheelhouse, [])
    assert install("--wheelhouse", str(wheelhouse), "--bundle", str(bundle), "--root", str(root)).returncode == 0
    boot = root / "boot" / "firmware" / "config.txt"
    before = boot.read_text()
    again = install("--wheelhouse", str(wheelhouse), "--root", str(root))
    assert again.returncode == 0, again.stderr
    assert "version 9.9.9 is installed already" in again.stdout
    assert boot.read_text() == before  # the overlay and the watchdog once, not twice
    tiny_wheel(wheelhouse, [], version="9.10.0")  # newer by version order, older by string order
    newer = install("--wheelhouse", str(wheelhouse), "--root", str(root))
    assert newer.returncode == 0, newer.stderr
    opt = root / "opt" / "dorpskluis"
    assert os.readlink(opt / "current") == "releases/9.10.0"
    assert (opt / "releases" / "9.9.9" / "venv").is_dir()  # kept, as the updater keeps the previous one


def test_boot_config_lines_go_after_what_the_pi_has_already(tmp_path):
    wheelhouse, root = tmp_path / "wheelhouse", tmp_path / "root"
    tiny_wheel(wheelhouse, [])
    boot = root / "boot" / "firmware" / "config.txt"
    boot.parent.mkdir(parents=True)
    boot.write_text("[all]\ndtparam=audio=on\n")
    assert install("--wheelhouse", str(wheelhouse), "--root", str(root)).returncode == 0
    lines = boot.read_text().splitlines()
    assert lines[:2] == ["[all]", "dtparam=audio=on"]
    assert lines[2:] == [
        "# dorpskluis: begin",
        "dtoverlay=w1-gpio,gpiopin=4",
        "dtparam=watchdog=on",
        "# dorpskluis: end",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--wheelhouse is required"),
        (["--wheelhouse", "/nonexistent/wheelhouse"], "no wheelhouse folder at /nonexistent/wheelhouse"),
        (["--wheelhouse", "{empty}"], "no dorpskluis-<version>-py3-none-any.whl in"),
        (["--wheelhouse", "{wheels}", "--bundle", "{empty}"], "is not a locker bundle (no edge.toml in it)"),
        (["--wheelhouse", "{wheels}", "--frobnicate"], "unknown argument --frobnicate"),
    ],
)
def test_what_is_missing_is_named_before_anything_is_touched(tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    tiny_wheel(tmp_path / "wheels", [])
    root = tmp_path / "root"
    args = [a.format(empty=tmp_path / "empty", wheels=tmp_path / "wheels") for a in args]
    refused = install(*args, "--root", str(root))
    assert refused.returncode != 0
    assert message in refused.stderr
    assert not (root / "opt").exists()


def test_a_dependency_missing_from_the_wheelhouse_is_named(tmp_path):
    wheelhouse, root = tmp_path / "wheelhouse", tmp_path / "root"
    tiny_wheel(wheelhouse, ["dk-no-such-dependency==1.0"])
    refused = install("--wheelhouse", str(wheelhouse), "--root", str(root))
    assert refused.returncode != 0
    assert "dk-no-such-dependency" in refused.stderr and "is every dependency in" in refused.stderr
    assert not (root / "opt" / "dorpskluis" / "current").exists()
    assert not (root / "opt" / "dorpskluis" / "releases" / "9.9.9").exists()


def test_the_state_folder_of_a_pi_bundle_is_one_the_unit_lets_the_agent_write():
    unit = (FIRMWARE / "dorpskluis-edge.service").read_text().splitlines()
    assert f"ReadWritePaths={PI_STATE_DIR}" in unit and "ProtectSystem=strict" in unit
