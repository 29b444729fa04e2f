"""A simulated locker: the real agent with gpiozero mock pins, a simulated cabinet and simulated fridges.

python -m edge.sim path/to/edge.toml [--speed N]

With `--speed N` the fridges, the sensor sampling and the timestamps of everything the locker reports run N
times faster than real time (a `SimClock`), so the cold-chain rules raise in minutes what takes hours; codes,
door release windows and the keypad lockout stay on the wall clock. `dorpskluis sim uplink LOCKER down|up`
cuts and restores its broker connection while it keeps running.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
from contextlib import ExitStack
from pathlib import Path

from gpiozero.pins.mock import MockFactory

from edge.cabinet import SimulatedCabinet
from edge.clock import SimClock, resume_start, utc_now
from edge.config import DEFAULT_W1_BASE, EdgeConfig, load_edge_config
from edge.main import configure_logging, running_agent, wait_for_signal
from edge.store import EdgeStore
from lockers.errors import DorpskluisError
from lockers.hardware import LockerHardware
from sensors.simulator import CabinetSimulator

log = logging.getLogger("edge.sim")  # not __main__ under python -m

THERMAL_STEP_S = 10.0  # simulated seconds per step of the fridges, finer than the 30 s sampling interval


def thermal_period_s(speed: float) -> float:
    """Wall seconds between steps of the fridges: 1 s in real time, down to 50 ms when running fast."""
    return min(1.0, max(0.05, THERMAL_STEP_S / speed))


def simulated_clock(config: EdgeConfig, speed: float) -> SimClock:
    """A clock `speed` times faster than real time, from now, or from where this locker's data got to before."""
    store = EdgeStore.open(config.state_dir)
    try:
        last = store.last_observed()
    finally:
        store.close()
    return SimClock(speed, start=resume_start(utc_now(), last))


def run_simulated(config: EdgeConfig, speed: float = 1.0, stop: threading.Event | None = None) -> None:
    """Run the simulated locker until SIGTERM/SIGINT (or `stop`), then publish offline and clean up."""
    with ExitStack() as stack:
        if config.w1_base == DEFAULT_W1_BASE:  # never write simulated sensors into the kernel's sysfs
            config = config.with_w1_base(Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dk-w1-"))))
        config.w1_base.mkdir(parents=True, exist_ok=True)
        factory = MockFactory()
        hardware = stack.enter_context(LockerHardware.from_layout(config.layout, factory))
        thermal = CabinetSimulator(base=config.w1_base, sensors=config.layout.sensors)
        thermal.start(period_s=thermal_period_s(speed), speed=speed)
        stack.callback(thermal.stop)
        cabinet = SimulatedCabinet(config.layout, factory, thermal)
        cabinet.start()  # after the pins are claimed: claiming pulls the door inputs up (= open)
        stack.callback(cabinet.stop)
        clock = simulated_clock(config, speed)
        stack.enter_context(
            running_agent(
                config,
                hardware,
                doors=cabinet.move_door,
                faults=cabinet.inject_fault,
                uplink_switch=True,
                event_clock=clock,
                time_scale=speed,
            )
        )
        log.info("simulated locker %s running (%r, sensors in %s)", config.locker, clock, config.w1_base)
        wait_for_signal(stop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge.sim", description="Run a simulated Dorpskluis locker.")
    parser.add_argument("config", type=Path, help="the locker's edge.toml")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated time runs this many times faster")
    args = parser.parse_args(argv)
    if args.speed <= 0:
        parser.error("--speed must be positive")
    configure_logging()
    try:
        run_simulated(load_edge_config(args.config), speed=args.speed)
    except DorpskluisError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
