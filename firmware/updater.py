"""Agent updates with rollback on the Pi. A new version is installed beside the old one, switched to, restarted
and health-checked; when it does not come up healthy in time, the old one is switched back and restarted.

Layout under the root (default /opt/dorpskluis; the systemd unit starts `current/venv/bin/dorpskluis`):

    releases/<version>/venv/   one virtualenv per version, installed offline from a wheelhouse
    current -> releases/<v>    what systemd runs
    previous -> releases/<v>   what a rollback goes back to

Healthy means: the agent answers on its control socket, reports the new version, and reaches the broker if
the old one did (a locker that was offline before the update is not blamed on the new version). Switching a
link is atomic (a new link renamed over the old), so a power cut leaves one version or the other in place.
The seams to the operating system (pip and venv, systemctl, the control socket) are arguments: tests drive
the logic with their own, the command line (`dorpskluis edge update`) uses the real ones.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from lockers.errors import DorpskluisError

log = logging.getLogger(__name__)

DEFAULT_ROOT = Path("/opt/dorpskluis")
SERVICE = "dorpskluis-edge"
COMPLETE = ".complete"  # in releases/<version> once its virtualenv is whole (firmware/install.sh writes it too)
KEEP_RELEASES = 3  # installed versions kept (current and previous always among them)
_WHEEL = re.compile(r"^dorpskluis-(?P<version>[0-9][A-Za-z0-9.+!]*)-[^-]+-[^-]+-[^-]+\.whl$")

# (status answered by the agent, or None with why it did not answer)
Probe = Callable[[], tuple[dict | None, str | None]]
Installer = Callable[[Path, Path], None]  # (wheel, release folder to fill)


class UpdateError(DorpskluisError):
    """The update could not start or install; nothing was switched."""


class Service(Protocol):
    def restart(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool
    why: str


@dataclass(frozen=True, slots=True)
class UpdateResult:
    outcome: str  # "updated", "unchanged", "rolled back", "failed"
    old: str | None
    new: str
    detail: str


def version_of(wheel: Path) -> str:
    """The version in a wheel's file name (PEP 427), or UpdateError."""
    match = _WHEEL.match(wheel.name)
    if match is None:
        raise UpdateError(f"{wheel.name} is not a dorpskluis wheel (dorpskluis-<version>-py3-none-any.whl)")
    return match["version"]


def judge(status: dict | None, error: str | None, version: str, was_connected: bool) -> Health:
    """Whether the agent's answer shows `version` up and working (pure)."""
    if status is None:
        return Health(False, f"the agent does not answer: {error or 'no reply'}")
    running = status.get("agent")
    if running != version:
        return Health(False, f"the agent runs version {running or 'unknown'}, not {version}")
    if was_connected and not status.get("connected"):
        return Health(False, "the agent does not reach the broker, which the previous version did")
    return Health(True, f"version {version} answers" + (" and reaches the broker" if status.get("connected") else ""))


def wait_healthy(
    probe: Probe,
    version: str,
    was_connected: bool,
    timeout_s: float,
    *,
    interval_s: float = 2.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_try: Callable[[Health], None] | None = None,
) -> Health:
    """Ask until the agent is healthy or `timeout_s` has passed; the last verdict."""
    deadline = clock() + timeout_s
    while True:
        health = judge(*probe(), version, was_connected)
        if on_try is not None:
            on_try(health)
        if health.ok or clock() >= deadline:
            return health
        sleep(interval_s)


class Releases:
    """The versions installed under `root` and the links that pick one."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.releases = root / "releases"

    def _target(self, link: str) -> str | None:
        path = self.root / link
        return Path(os.readlink(path)).name if path.is_symlink() else None

    def current(self) -> str | None:
        return self._target("current")

    def previous(self) -> str | None:
        return self._target("previous")

    def install(self, version: str, fill: Callable[[Path], None]) -> Path:
        """Fill releases/<version>, marked complete once filled; a complete one is kept, a half-filled one (a
        power cut during pip) is filled again."""
        final = self.releases / version
        if (final / COMPLETE).is_file():
            return final
        # Filled in place, not in a scratch folder renamed afterwards: a virtualenv's commands name its own path
        # in their #! line, and would point at the scratch folder after a rename.
        shutil.rmtree(final, ignore_errors=True)
        final.mkdir(parents=True)
        try:
            fill(final)
        except BaseException:
            shutil.rmtree(final, ignore_errors=True)
            raise
        (final / COMPLETE).touch()
        return final

    def switch(self, version: str) -> None:
        """previous := current, current := version."""
        old = self.current()
        if old is not None and old != version:
            self._link("previous", old)
        self._link("current", version)

    def rollback(self) -> str:
        """current := previous; the version now current."""
        back = self.previous()
        if back is None:
            raise UpdateError("no previous version to go back to")
        self._link("current", back)
        return back

    def prune(self, keep: int = KEEP_RELEASES) -> list[str]:
        """Remove the oldest versions beyond `keep`, never current or previous; the ones removed."""
        pinned = {self.current(), self.previous()}
        installed = sorted(
            (p for p in self.releases.iterdir() if p.is_dir()),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        removed = []
        for path in installed[keep:]:
            if path.name not in pinned:
                shutil.rmtree(path)
                removed.append(path.name)
        return removed

    def _link(self, name: str, version: str) -> None:
        # A new link renamed over the old: the switch is one atomic step.
        temporary = self.root / f".{name}.new"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(Path("releases") / version)
        os.replace(temporary, self.root / name)


def update(
    wheel: Path,
    releases: Releases,
    install: Installer,
    service: Service,
    probe: Probe,
    *,
    timeout_s: float = 90.0,
    wait: Callable[..., Health] = wait_healthy,
    step: Callable[[str], None] = lambda _: None,
) -> UpdateResult:
    """Install `wheel` beside the running version, switch, restart, and keep it only if it comes up healthy."""
    new = version_of(wheel)
    old = releases.current()
    if old == new:
        return UpdateResult("unchanged", old, new, f"version {new} is already running")
    before, _ = probe()
    was_connected = bool(before and before.get("connected"))
    step(f"installing {new} beside {old or 'nothing'}")
    releases.install(new, lambda folder: install(wheel, folder))
    step(f"switching to {new} and restarting")
    releases.switch(new)
    service.restart()
    step(f"waiting for {new} to come up healthy")
    health = wait(probe, new, was_connected, timeout_s)
    if health.ok:
        removed = releases.prune()
        pruned = f"; removed {', '.join(removed)}" if removed else ""
        return UpdateResult("updated", old, new, f"{health.why}{pruned}")
    if old is None:
        return UpdateResult(
            "failed", old, new, f"{new} is not healthy ({health.why}) and there is nothing to go back to"
        )
    step(f"{new} is not healthy ({health.why}): going back to {old}")
    releases.rollback()
    service.restart()
    back = wait(probe, old, was_connected, timeout_s)
    if back.ok:
        return UpdateResult("rolled back", old, new, f"{new} was not healthy ({health.why}); {old} runs again")
    return UpdateResult(
        "rolled back", old, new, f"{new} was not healthy ({health.why}); {old} is not either: {back.why}"
    )


# --- the real seams -------------------------------------------------------------------------------------


def pip_install(wheel: Path, folder: Path) -> None:
    """A virtualenv in folder/venv with the wheel installed offline from its own folder (the wheelhouse)."""
    try:
        # System site packages: Debian's python3-lgpio, gpiozero's pin library on bookworm (firmware/install.sh).
        venv = ["python3", "-m", "venv", "--system-site-packages", str(folder / "venv")]
        subprocess.run(venv, check=True, capture_output=True, timeout=300)
        pip = [str(folder / "venv" / "bin" / "pip"), "install", "--no-index", "--find-links", str(wheel.parent)]
        subprocess.run([*pip, str(wheel)], check=True, capture_output=True, timeout=1800)
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or b"").decode(errors="replace").strip().splitlines()[-3:]
        raise UpdateError(f"installing {wheel.name} failed: {' / '.join(tail)}") from None


@dataclass(frozen=True, slots=True)
class Systemctl:
    unit: str = SERVICE

    def restart(self) -> None:
        subprocess.run(["systemctl", "restart", self.unit], check=False, capture_output=True, timeout=60)


def control_probe(locker: str, path: Path | None = None, timeout_s: float = 5.0) -> Probe:
    """Asks the agent's control socket for its status (edge.control)."""
    from edge.control import request  # noqa: PLC0415 - only the real probe needs the edge package

    def probe() -> tuple[dict | None, str | None]:
        try:
            return request(locker, {"cmd": "status"}, timeout_s, path=path), None
        except DorpskluisError as exc:
            return None, str(exc)

    return probe
