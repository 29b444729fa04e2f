"""firmware/install.sh, the Pi's installer: shellcheck finds nothing, and staged under --root (which changes
nothing of the machine running the test) it lays out what the unit, the updater and the boot expect, and a
second run changes nothing."""

from __future__ import annotations

import hashlib
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
    boot.write_text("dtparam=audio=on\n[cm4]\notg_mode=1\n")  # ends inside a section for the CM4 only
    assert install("--wheelhouse", str(wheelhouse), "--root", str(root)).returncode == 0
    lines = boot.read_text().splitlines()
    assert lines[:3] == ["dtparam=audio=on", "[cm4]", "otg_mode=1"]
    assert lines[3:] == [  # under [all]: on every Pi, not the CM4 only
        "# dorpskluis: begin",
        "[all]",
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


def test_a_bundle_enrolled_before_does_not_overwrite_its_credentials_and_a_new_one_does(tmp_path, bundle):
    wheelhouse, root = tmp_path / "wheelhouse", tmp_path / "root"
    tiny_wheel(wheelhouse, [])
    assert install("--wheelhouse", str(wheelhouse), "--bundle", str(bundle), "--root", str(root)).returncode == 0
    etc = root / "etc" / "dorpskluis"
    # What enrollment on the Pi leaves (the script's step 6): credentials in, token gone, the token's mark.
    enrolled = '[mqtt]\nusername = "kerk-7"\npassword = "the locker\'s own"\n'
    (etc / "edge.toml").write_text(enrolled)
    (etc / "enrollment.json").unlink()
    (etc / ".enrolled").write_text(hashlib.sha256((bundle / "enrollment.json").read_bytes()).hexdigest() + "\n")
    again = install("--wheelhouse", str(wheelhouse), "--bundle", str(bundle), "--root", str(root))
    assert again.returncode == 0, again.stderr
    assert "the bundle was enrolled already" in again.stdout
    assert (etc / "edge.toml").read_text() == enrolled and not (etc / "enrollment.json").exists()
    (bundle / "enrollment.json").write_text(json.dumps({"locker": "kerk-7", "token": "a new one"}))  # a rotation
    rotated = install("--wheelhouse", str(wheelhouse), "--bundle", str(bundle), "--root", str(root))
    assert rotated.returncode == 0, rotated.stderr
    assert "copied the bundle of kerk-7" in rotated.stdout
    assert (etc / "enrollment.json").exists() and not (etc / ".enrolled").exists()
