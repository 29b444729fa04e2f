"""The updater's logic on real folders and links: install beside, switch, keep a healthy version, go back from an
unhealthy one; the health verdict; and the real control-socket probe against the real running agent.

pip, systemctl and the agent's answers are the seams to the operating system: the tests pass their own
(a folder filled as pip would, a restart counter, a scripted sequence of answers)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dorpskluis import __version__
from edge.control import ControlServer, socket_path
from firmware.updater import (
    Health,
    Releases,
    UpdateError,
    control_probe,
    judge,
    update,
    version_of,
    wait_healthy,
)
from tests.edge.codes_fixture import CodeBook
from tests.edge.harness import edge_config, new_locker_id, running_rig
from tests.firmware.wheels import tiny_wheel

WHEEL = "dorpskluis-{}-py3-none-any.whl"


class Restarts:
    def __init__(self) -> None:
        self.count = 0

    def restart(self) -> None:
        self.count += 1


class Agent:
    """The answers of the agent, version by version: what systemd started answers as `healthy` says."""

    def __init__(self, releases: Releases, healthy: dict[str, bool], connected: bool = True) -> None:
        self.releases, self.healthy, self.connected = releases, healthy, connected

    def __call__(self) -> tuple[dict | None, str | None]:
        running = self.releases.current()
        if running is None or not self.healthy.get(running, True):
            return None, "no control socket"
        return {"agent": running, "connected": self.connected}, None


def fill(wheel: Path, folder: Path) -> None:
    """What pip leaves behind: a virtualenv with the agent's command."""
    command = folder / "venv" / "bin" / "dorpskluis"
    command.parent.mkdir(parents=True)
    command.write_text(f"# {wheel.name}\n")


def no_wait(probe, version, was_connected, timeout_s):
    return wait_healthy(probe, version, was_connected, timeout_s, interval_s=0, clock=iter(range(100)).__next__)


@pytest.fixture
def releases(tmp_path) -> Releases:
    installed = Releases(tmp_path / "opt")
    installed.install("0.1.0", lambda folder: fill(Path(WHEEL.format("0.1.0")), folder))
    installed.switch("0.1.0")
    return installed


def run(releases: Releases, version: str, agent: Agent, restarts: Restarts, install=fill):
    wheel = releases.root / "wheelhouse" / WHEEL.format(version)
    return update(wheel, releases, install, restarts, agent, timeout_s=5, wait=no_wait)


def test_a_healthy_version_is_kept(releases):
    restarts = Restarts()
    result = run(releases, "0.2.0", Agent(releases, {}), restarts)
    assert (result.outcome, result.old, result.new) == ("updated", "0.1.0", "0.2.0")
    assert result.detail == "version 0.2.0 answers and reaches the broker"
    assert (releases.current(), releases.previous(), restarts.count) == ("0.2.0", "0.1.0", 1)
    assert os.readlink(releases.root / "current") == "releases/0.2.0"  # relative: the folder may be moved
    assert (releases.root / "current" / "venv" / "bin" / "dorpskluis").read_text() == f"# {WHEEL.format('0.2.0')}\n"


def test_an_unhealthy_version_is_rolled_back(releases):
    restarts = Restarts()
    result = run(releases, "0.2.0", Agent(releases, {"0.2.0": False}), restarts)
    assert (result.outcome, result.old, result.new) == ("rolled back", "0.1.0", "0.2.0")
    assert result.detail == ("0.2.0 was not healthy (the agent does not answer: no control socket); 0.1.0 runs again")
    assert releases.current() == "0.1.0" and restarts.count == 2
    assert (releases.releases / "0.2.0").is_dir()  # kept for a look at what went wrong


def test_a_version_that_loses_the_broker_is_rolled_back_but_an_offline_locker_is_not_blamed(releases):
    offline_after = Agent(releases, {})
    offline_after.connected = False

    def went_offline():  # the old version was connected; the new one answers but never reaches the broker
        status, error = offline_after()
        return (status, error) if releases.current() == "0.2.0" else ({"agent": "0.1.0", "connected": True}, None)

    result = run(releases, "0.2.0", went_offline, Restarts())
    assert result.outcome == "rolled back" and "does not reach the broker" in result.detail
    # a locker offline before the update: the new version answering is enough
    assert run(releases, "0.3.0", offline_after, Restarts()).outcome == "updated"


def test_when_the_old_version_does_not_come_back_either_it_says_so(releases):
    result = run(releases, "0.2.0", Agent(releases, {"0.2.0": False, "0.1.0": False}), Restarts())
    assert result.outcome == "rolled back" and result.detail.endswith(
        "0.1.0 is not either: the agent does not answer: no control socket"
    )


def test_a_failed_install_switches_nothing(releases):
    def broken(wheel: Path, folder: Path) -> None:
        raise UpdateError("installing failed: no matching distribution for paho-mqtt==9")

    restarts = Restarts()
    with pytest.raises(UpdateError, match="no matching distribution"):
        run(releases, "0.2.0", Agent(releases, {}), restarts, install=broken)
    assert releases.current() == "0.1.0" and restarts.count == 0
    assert sorted(p.name for p in releases.releases.iterdir()) == ["0.1.0"]  # no half-installed folder left


def test_the_running_version_again_changes_nothing_and_a_first_install_has_nothing_to_go_back_to(tmp_path):
    empty = Releases(tmp_path / "opt")
    failed = run(empty, "0.1.0", Agent(empty, {"0.1.0": False}), Restarts())
    assert failed.outcome == "failed" and failed.detail.endswith("there is nothing to go back to")
    assert run(empty, "0.1.0", Agent(empty, {}), Restarts()).outcome == "unchanged"


def test_old_versions_are_pruned_but_never_current_or_previous(releases):
    for version in ("0.2.0", "0.3.0", "0.4.0", "0.5.0"):
        assert run(releases, version, Agent(releases, {}), Restarts()).outcome == "updated"
    assert sorted(p.name for p in releases.releases.iterdir()) == ["0.3.0", "0.4.0", "0.5.0"]
    assert (releases.current(), releases.previous()) == ("0.5.0", "0.4.0")


@pytest.mark.parametrize(
    ("name", "version"),
    [("dorpskluis-0.2.0-py3-none-any.whl", "0.2.0"), ("dorpskluis-1.0.0rc1-py3-none-any.whl", "1.0.0rc1")],
)
def test_the_version_comes_from_the_wheels_name(name, version):
    assert version_of(Path(name)) == version


@pytest.mark.parametrize("name", ["paho_mqtt-2.2.0-py3-none-any.whl", "dorpskluis-0.2.0.tar.gz", "dorpskluis.whl"])
def test_other_files_are_refused(name):
    with pytest.raises(UpdateError, match="is not a dorpskluis wheel"):
        version_of(Path(name))


@pytest.mark.parametrize(
    ("status", "error", "was_connected", "verdict"),
    [
        (None, "no control socket", True, Health(False, "the agent does not answer: no control socket")),
        ({"agent": "0.1.0", "connected": True}, None, True, Health(False, "the agent runs version 0.1.0, not 0.2.0")),
        ({"connected": True}, None, False, Health(False, "the agent runs version unknown, not 0.2.0")),
        (
            {"agent": "0.2.0", "connected": False},
            None,
            True,
            Health(False, "the agent does not reach the broker, which the previous version did"),
        ),
        ({"agent": "0.2.0", "connected": False}, None, False, Health(True, "version 0.2.0 answers")),
        (
            {"agent": "0.2.0", "connected": True},
            None,
            True,
            Health(True, "version 0.2.0 answers and reaches the broker"),
        ),
    ],
)
def test_the_health_verdict(status, error, was_connected, verdict):
    assert judge(status, error, "0.2.0", was_connected) == verdict


def test_waiting_gives_a_slow_start_its_time_then_gives_up():
    answers = iter([(None, "starting"), (None, "starting"), ({"agent": "0.2.0", "connected": True}, None)])
    seen = []
    health = wait_healthy(
        lambda: next(answers), "0.2.0", True, 60, interval_s=0, clock=iter(range(100)).__next__, on_try=seen.append
    )
    assert health.ok and len(seen) == 3
    never = wait_healthy(lambda: (None, "gone"), "0.2.0", True, 3, interval_s=0, clock=iter(range(100)).__next__)
    assert never == Health(False, "the agent does not answer: gone")


def test_the_real_probe_asks_the_real_agent(broker, tmp_path, run_dir):
    locker = new_locker_id()
    config = edge_config(broker, CodeBook(locker=locker), locker, tmp_path / "state")
    probe = control_probe(locker, socket_path(locker))
    status, error = probe()
    assert status is None and "no locker" in error
    with running_rig(config) as rig:
        server = ControlServer(socket_path(locker), rig.agent)
        server.start()
        try:
            status, error = probe()
        finally:
            server.stop()
    assert error is None and status["agent"] == __version__ and status["locker"] == locker
    assert judge(status, error, __version__, was_connected=False).ok


def test_the_command_refuses_what_is_not_a_wheel_before_touching_anything(tmp_path):
    from typer.testing import CliRunner  # noqa: PLC0415 - only this test drives the command line

    from dorpskluis.cli import app  # noqa: PLC0415

    odd = tmp_path / "agent.tar.gz"
    odd.write_text("")
    result = CliRunner().invoke(app, ["edge", "update", str(odd), "--locker", "kerk-1", "--root", str(tmp_path / "o")])
    assert result.exit_code == 1 and "update failed: agent.tar.gz is not a dorpskluis wheel" in result.output
    assert not (tmp_path / "o").exists()


def test_the_real_installer_makes_a_virtualenv_from_the_wheelhouse_offline(tmp_path):
    import subprocess  # noqa: PLC0415

    from firmware.updater import pip_install  # noqa: PLC0415

    wheel = tiny_wheel(tmp_path / "wheelhouse", [])
    pip_install(wheel, tmp_path / "release")
    command = tmp_path / "release" / "venv" / "bin" / "dorpskluis"
    assert subprocess.run([str(command)], capture_output=True, text=True, timeout=60).stdout == "9.9.9 here\n"


def test_the_real_installer_says_what_is_missing_from_the_wheelhouse(tmp_path):
    from firmware.updater import pip_install  # noqa: PLC0415

    wheel = tiny_wheel(tmp_path / "wheelhouse", ["dk-no-such-dependency==1.0"])
    with pytest.raises(
        UpdateError, match="installing dorpskluis-9.9.9-py3-none-any.whl failed: .*dk-no-such-dependency"
    ):
        pip_install(wheel, tmp_path / "release")


def test_a_release_installed_by_the_real_installer_runs_from_where_it_ends_up(tmp_path):
    import subprocess  # noqa: PLC0415

    from firmware.updater import pip_install  # noqa: PLC0415

    wheel = tiny_wheel(tmp_path / "wheelhouse", [])
    releases = Releases(tmp_path / "opt")
    releases.install("9.9.9", lambda folder: pip_install(wheel, folder))
    releases.switch("9.9.9")
    # What systemd's ExecStart runs: through the link, with the #! line the virtualenv wrote.
    command = tmp_path / "opt" / "current" / "venv" / "bin" / "dorpskluis"
    assert subprocess.run([str(command)], capture_output=True, text=True, timeout=60).stdout == "9.9.9 here\n"


def test_a_half_filled_release_is_filled_again_and_a_complete_one_kept(tmp_path):
    releases = Releases(tmp_path / "opt")
    half = releases.releases / "0.2.0"
    (half / "venv").mkdir(parents=True)  # pip was cut off by a power cut
    releases.install("0.2.0", lambda folder: fill(Path(WHEEL.format("0.2.0")), folder))
    assert (half / "venv" / "bin" / "dorpskluis").is_file()
    calls = []
    releases.install("0.2.0", calls.append)
    assert calls == []
