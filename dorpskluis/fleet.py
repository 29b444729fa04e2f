"""A fleet of simulated lockers for a running cloud: each is provisioned and enrolled as a technician would a real
one (its own broker account), then runs the real edge agent with simulated pins, doors and fridges.

The folders survive a restart: a locker that has its credentials already is not enrolled again, so the
docker-compose profile `simulated` can restart it without piling up broker accounts.
"""

from __future__ import annotations

import logging
import threading
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import tomli_w

from edge.config import EdgeConfig
from edge.main import wait_for_signal
from edge.sim import run_simulated
from lockers.errors import ConfigError, DorpskluisError
from lockers.layout import demo_layout
from provisioning.client import EDGE_TOML, enroll_bundle, provision_locker, write_private

log = logging.getLogger(__name__)

# Where the simulated lockers stand: real villages by the Zwarte Water, so the resident page's map link shows a
# place a reader recognises. The fleet takes them in turn.
PLACES = (
    ("Zwartsluis", "Kerkplein 1, naast de kerkdeur", (52.6376, 6.0712)),
    ("Genemuiden", "Havenstraat 12, bij de bakker", (52.6238, 6.0403)),
    ("Hasselt", "Markt 3, onder de luifel", (52.5944, 6.0930)),
    ("Vollenhove", "Kerkstraat 8, tegenover de kerk", (52.6806, 5.9547)),
    ("Blokzijl", "Kerkstraat 2, bij de sluis", (52.7269, 5.9603)),
)


@dataclass(frozen=True)
class FleetOptions:
    cloud: str
    admin_key: str
    folder: Path
    count: int = 3
    prefix: str = "sim-"
    broker: tuple[str, int] | None = None  # reach the broker here, without TLS (inside a compose network)
    speed: float = 1.0


class FleetError(DorpskluisError):
    """A simulated locker could not be set up or stopped running."""


def locker_ids(options: FleetOptions) -> list[str]:
    return [f"{options.prefix}{number}" for number in range(1, options.count + 1)]


def parse_broker(text: str) -> tuple[str, int]:
    """HOST:PORT of --broker."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--broker must be HOST:PORT, e.g. mosquitto:1883, not {text!r}")
    return host, int(port)


def is_enrolled(folder: Path) -> bool:
    """Whether the folder holds a locker's edge.toml with its own broker password."""
    try:
        config = tomllib.loads((folder / EDGE_TOML).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return False
    return bool(config.get("mqtt", {}).get("password"))


def onboard(options: FleetOptions, locker: str, number: int) -> Path:
    """Provision and enroll `locker` in its own folder unless it was before; returns its edge.toml."""
    folder = options.folder / locker
    if not is_enrolled(folder):
        village, address, location = PLACES[(number - 1) % len(PLACES)]
        provision_locker(
            cloud=options.cloud,
            admin_key=options.admin_key,
            locker=locker,
            layout=demo_layout(),
            out=folder,
            name=f"Gesimuleerde kluis {number} ({village})",
            village=village,
            address=address,
            location=location,
            simulated=True,
            force=True,  # a bundle left by an enrollment that failed halfway is replaced
        )
        enroll_bundle(folder)
        log.info("%s provisioned and enrolled in %s", locker, folder)
    if options.broker is not None:
        _point_at(folder / EDGE_TOML, *options.broker)
    return folder / EDGE_TOML


def _point_at(edge_toml: Path, host: str, port: int) -> None:
    """Send the locker to `host:port` over plain MQTT (same account); the compose network is private."""
    config = tomllib.loads(edge_toml.read_text(encoding="utf-8"))
    mqtt = {key: value for key, value in config["mqtt"].items() if key != "ca_file"}
    config["mqtt"] = mqtt | {"host": host, "port": port}
    write_private(edge_toml, tomli_w.dumps(config))


def run_fleet(
    configs: list[EdgeConfig],
    speed: float,
    stop: threading.Event,
    run: Callable[[EdgeConfig, float, threading.Event], None] = run_simulated,
) -> None:
    """Run every locker in its own thread until SIGTERM/SIGINT or `stop`; when one fails, stop all and raise."""
    failures: list[tuple[str, BaseException]] = []

    def locker_thread(config: EdgeConfig) -> None:
        try:
            run(config, speed, stop)
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread, which stops the fleet
            log.exception("simulated locker %s stopped", config.locker)
            failures.append((config.locker, exc))
            stop.set()

    threads = [
        threading.Thread(target=locker_thread, args=(config,), name=f"sim-{config.locker}", daemon=True)
        for config in configs
    ]
    for thread in threads:
        thread.start()
    try:
        wait_for_signal(stop)  # SIGTERM/SIGINT, or a locker that failed
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    if failures:
        locker, exc = failures[0]
        raise FleetError(f"simulated locker {locker} stopped: {exc}") from exc
