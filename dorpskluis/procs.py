"""Child processes of a local stack: started in their own session, logged to a file, stopped in order."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass
class ChildProcess:
    """A process we started and must stop; its output goes to `log_path`."""

    name: str
    popen: subprocess.Popen
    log_path: Path

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit status."""
        if self.alive:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode

    def kill(self) -> None:
        """kill -9, for fault-injection tests."""
        if self.alive:
            self.popen.kill()
            self.popen.wait()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def spawn(name: str, argv: list[str], log_dir: Path, env: dict[str, str] | None = None) -> ChildProcess:
    """Start `argv` in a new session (so a terminal's Ctrl-C reaches only the supervisor, which stops it)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with open(log_path, "ab") as log:
        popen = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    return ChildProcess(name, popen, log_path)


def wait_for_stop(check: Callable[[], str | None] | None = None, interval: float = 0.5) -> str:
    """Block until SIGINT/SIGTERM, or until `check` returns a reason to stop; returns why we stopped."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(interval):
            if check is not None and (reason := check()):
                return reason
        return "stopped by signal"
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
