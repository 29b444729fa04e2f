"""`python -m edge.sim` as a real process: its edge.toml, the process with its log, and its control socket."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import tomli_w

from dorpskluis.broker import RunningBroker
from edge.control import request
from lockers.errors import ControlError
from lockers.layout import demo_layout
from tests.edge.codes_fixture import CodeBook

CLI = str(Path(sys.executable).with_name("dorpskluis"))


def write_edge_toml(folder: Path, broker: RunningBroker, locker: str, book: CodeBook, **settings) -> Path:
    """A site folder with the demo layout and an edge.toml; `settings` add top-level keys."""
    folder.mkdir(parents=True)
    (folder / "layout.json").write_text(demo_layout().model_dump_json())
    config = {
        "locker": locker,
        "state_dir": "state",
        **settings,
        "mqtt": {"host": broker.host, "port": broker.port},
        "codes": {"keys": book.config_keys},
        "hardware": {"layout": "layout.json", "w1_base": "w1", "pin_factory": "mock"},
    }
    path = folder / "edge.toml"
    path.write_text(tomli_w.dumps(config))
    return path


class SimProcess:
    """The simulated locker in its own process, its output kept for failure reports."""

    def __init__(self, toml: Path, log: Path, speed: float = 5) -> None:
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "edge.sim", str(toml), "--speed", f"{speed:g}"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(os.environ),
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout: float = 15.0) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"edge.sim did not exit within {timeout}s:\n{self.output()}") from None

    def ensure_stopped(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def answering(locker: str):
    """Poll helper: the agent's status once it answers, else None (the socket opens before the agent starts)."""
    try:
        answer = request(locker, {"cmd": "status"}, timeout=2)
    except ControlError:
        return None
    return answer if answer.get("ok") else None


def cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    """Run the installed `dorpskluis` console script."""
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout)
