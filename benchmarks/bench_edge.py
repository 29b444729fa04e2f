"""6. Edge footprint: resident memory and CPU of the real edge agent process, at idle and under a burst.

`python -m dorpskluis.cli edge run --config … --simulate` (stack.write_edge_config/start_simulated_locker) on a
private mosquitto, read from /proc/PID/status (VmRSS, VmHWM) and /proc/PID/stat (utime+stime over a window).
The simulated locker runs the fridges' thermal model and the spring-loaded cabinet in the same process, so a
second agent is measured too: `edge run` without --simulate on mock pins (the Pi's code path, no simulator).
Burst: a kiosk asks over the control socket as fast as the agent answers: valid QR tokens (a relay pulse, a
SQLite commit and events each), on the simulator each followed by closing the door the spring pushed open.
"""

from __future__ import annotations

import base64
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from benchmarks.context import BenchContext
from benchmarks.results import Figure
from dorpskluis.procs import ChildProcess
from dorpskluis.stack import start_simulated_locker, write_edge_config
from edge.control import request
from lockers import codes
from lockers.layout import demo_layout

BENCH = "6. Edge"
GOAL_MB = 60.0
TICKS = os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process, in MB (10^6 bytes)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return tuple(int(fields[name].split()[0]) * 1024 / 1e6 for name in ("VmRSS", "VmHWM"))  # type: ignore[return-value]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / TICKS


class Window:
    """CPU % of one core used by a process between `__init__` and `percent()`."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.cpu0, self.wall0 = cpu_seconds(pid), time.monotonic()

    def percent(self) -> float:
        return 100 * (cpu_seconds(self.pid) - self.cpu0) / (time.monotonic() - self.wall0)


class EdgeUnderTest:
    """One agent process with a kiosk at its control socket."""

    def __init__(self, folder: Path, broker, *, simulate: bool) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.locker = f"bench-edge-{uuid.uuid4().hex[:6]}"
        self.layout = demo_layout()
        self.simulate = simulate
        keys = {"1": base64.b64encode(codes.public_raw(self.key.public_key())).decode()}
        config = write_edge_config(folder, locker=self.locker, broker=broker, keys=keys, layout=self.layout)
        if simulate:
            self.child = start_simulated_locker(config, folder, self.locker)
        else:  # the same command as on a Pi; the config names mock pins
            self.child = _spawn_plain(config, folder, self.locker)
        deadline = time.monotonic() + 30
        while not self._answers():
            if time.monotonic() > deadline or not self.child.alive:
                raise RuntimeError(f"the edge agent did not start:\n{self.child.log_tail()}")
            time.sleep(0.05)

    @property
    def pid(self) -> int:
        return self.child.popen.pid

    def _answers(self) -> bool:
        try:
            return bool(request(self.locker, {"cmd": "status"}, timeout=2).get("ok"))
        except Exception:  # not listening yet
            return False

    def burst(self, seconds: float) -> int:
        """Scans (and doors) as fast as the agent answers for `seconds`; returns how many codes it opened with."""
        done, i = 0, 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            compartment = self.layout.compartments[i % len(self.layout.compartments)].id
            i += 1
            answer = request(self.locker, {"cmd": "scan", "code": self._token(compartment)})
            done += bool(answer.get("ok"))
            if self.simulate:
                request(self.locker, {"cmd": "door", "compartment": compartment, "action": "close"})
        return done

    def _token(self, compartment: str) -> str:
        claims = codes.pickup_claims(
            key_id=1,
            locker=self.locker,
            order=f"o-{codes.new_code_id()}",
            compartments=[compartment],
            not_before=datetime.now(UTC) - timedelta(hours=1),
            valid_for=timedelta(days=1),
        )
        return codes.issue_token(claims, self.key)

    def stop(self) -> None:
        self.child.stop()


def _spawn_plain(config: Path, log_dir: Path, locker: str) -> ChildProcess:
    import sys

    from dorpskluis.procs import spawn

    argv = [sys.executable, "-m", "dorpskluis.cli", "edge", "run", "--config", str(config)]
    return spawn(f"edge-{locker}", argv, log_dir)


def measure(ctx: BenchContext, broker, *, simulate: bool) -> dict[str, float]:
    idle_s, burst_s = ctx.pick(10.0, 1.5), ctx.pick(10.0, 1.5)
    edge = EdgeUnderTest(ctx.folder("edge-sim" if simulate else "edge-plain"), broker, simulate=simulate)
    try:
        time.sleep(ctx.pick(3.0, 0.5))  # past start-up: connected, first sensor round, desired state
        window = Window(edge.pid)
        time.sleep(idle_s)
        idle_cpu = window.percent()
        idle_rss, _ = memory_mb(edge.pid)
        window = Window(edge.pid)
        opened = edge.burst(burst_s)
        burst_cpu = window.percent()
        burst_rss, peak = memory_mb(edge.pid)
        return {
            "idle_rss": idle_rss,
            "idle_cpu": idle_cpu,
            "burst_rss": burst_rss,
            "peak": peak,
            "burst_cpu": burst_cpu,
            "rate": opened / burst_s,
            "idle_s": idle_s,
            "burst_s": burst_s,
        }
    finally:
        edge.stop()


def run(ctx: BenchContext) -> list[Figure]:
    progress = ctx.task("6. edge: agent footprint", total=2)
    with ctx.broker() as broker:
        sim = measure(ctx, broker, simulate=True)
        progress.advance()
        plain = measure(ctx, broker, simulate=False)
        progress.advance()
    figures = []
    for label, m, what in (
        ("simulated locker", sim, "edge run --simulate: agent + thermal model + cabinet in one process"),
        ("agent only", plain, "edge run on mock pins, no simulator (a Pi's code path)"),
    ):
        burst = f"burst {m['rate']:.0f} unlocks/s over the control socket for {m['burst_s']:g} s"
        if m is sim:
            burst += ", each door closed after"
        goal = f"≤ {GOAL_MB:g} MB"
        figures += [
            Figure(
                BENCH,
                f"RSS at idle ({label})",
                m["idle_rss"],
                "MB",
                goal=goal,
                met=m["idle_rss"] <= GOAL_MB,
                note=f"{what}; VmRSS after {m['idle_s']:g} s idle",
            ),
            Figure(
                BENCH,
                f"peak RSS after burst ({label})",
                m["peak"],
                "MB",
                goal=goal,
                met=m["peak"] <= GOAL_MB,
                note=f"{what}; VmHWM; VmRSS after the burst {m['burst_rss']:.1f} MB; {burst}",
            ),
            Figure(BENCH, f"CPU at idle ({label})", m["idle_cpu"], "% of a core", note=f"{what}; utime+stime"),
            Figure(BENCH, f"CPU in burst ({label})", m["burst_cpu"], "% of a core", note=f"{what}; {burst}"),
        ]
    return figures
