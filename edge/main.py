"""Run the edge agent on a Raspberry Pi until SIGTERM or Ctrl-C, and the assembly the simulator shares."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager

from gpiozero.pins import Factory
from gpiozero.pins.mock import MockFactory

from edge.agent import Agent
from edge.clock import Clock, utc_now
from edge.config import EdgeConfig
from edge.control import ControlServer, DoorMover, FaultInjector
from edge.kiosk import KioskServer
from edge.link import TransportFactory, mqtt_transport
from edge.store import EdgeStore
from lockers.hardware import LockerHardware
from lockers.layout import Zone
from sensors.rules import ZoneLimits

log = logging.getLogger(__name__)


@contextmanager
def running_agent(
    config: EdgeConfig,
    hardware: LockerHardware,
    *,
    doors: DoorMover | None = None,
    faults: FaultInjector | None = None,
    uplink_switch: bool = False,
    transport_factory: TransportFactory | None = None,
    clock: Clock = utc_now,
    event_clock: Clock | None = None,
    time_scale: float = 1.0,
    limits: Mapping[Zone, ZoneLimits] | None = None,
) -> Iterator[Agent]:
    """Store, agent and control socket over `hardware`, started; stopped and closed in reverse on exit.

    `event_clock` and `time_scale` are for simulators running faster than real time (see edge.agent);
    `uplink_switch` lets the control socket cut and restore the broker connection (simulators only)."""
    with ExitStack() as stack:
        store = EdgeStore.open(config.state_dir)
        stack.callback(store.close)
        transport = transport_factory or mqtt_transport(config)
        agent = Agent(
            config, hardware, transport, store, clock, event_clock=event_clock, time_scale=time_scale, limits=limits
        )
        control = ControlServer(
            config.control_socket, agent, doors, faults, uplink=agent.set_uplink if uplink_switch else None
        )
        control.start()  # before the agent: refuses to start when this locker already runs here
        stack.callback(control.stop)
        agent.start()
        stack.callback(agent.stop)
        if config.kiosk is not None:
            kiosk = KioskServer(agent, config.locker, config.kiosk.host, config.kiosk.port)
            kiosk.start()
            stack.callback(kiosk.stop)
        if config.metrics is not None:
            from edge.metrics import MetricsServer  # noqa: PLC0415 - prometheus_client only where scraped

            metrics = MetricsServer(agent.status, config.metrics.host, config.metrics.port)
            metrics.start()
            stack.callback(metrics.stop)
        yield agent


def wait_for_signal(stop: threading.Event | None = None) -> None:
    """Block until SIGTERM/SIGINT (main thread) or until `stop` is set (embedded use)."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, lambda _s, _f: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    else:
        previous = {}
    try:
        while not stop.wait(1.0):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("stopping")


def pin_factory_for(config: EdgeConfig) -> Factory | None:
    """gpiozero's own choice on a Pi ("native"), or mock pins for a bench test without a cabinet."""
    return MockFactory() if config.hardware.pin_factory == "mock" else None


def run(config: EdgeConfig, stop: threading.Event | None = None) -> None:
    """Run the agent with the board's pins and the kernel's 1-wire files until a signal arrives."""
    with (
        LockerHardware.from_layout(config.layout, pin_factory_for(config)) as hardware,
        running_agent(config, hardware),
    ):
        wait_for_signal(stop)


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
