"""A simulated locker site for cold-chain tests: the thermal simulator in SIMULATED time writes w1 files, the real
DS18B20 driver reads them, and the readings go over the real broker as `Telemetry`, with the site's own
timestamps, exactly as an edge agent would send them. Plus small helpers to run and restart the cloud."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cloud.app import create_app
from cloud.settings import Settings
from lockers.layout import Zone, demo_layout
from lockers.protocol.messages import EventKind, Quality, Reading, StateMessage, Telemetry
from lockers.protocol.topics import Channel
from sensors.ds18b20 import DS18B20
from sensors.simulator import CabinetSimulator
from tests.cloud.conftest import ADMIN, EdgeProbe, TestClient
from tests.support import wait_until

STEP_S = 30.0
CHILLED_SENSOR = "28-00000000b001"


class SimulatedSite:
    """The demo cabinet of one locker, stepped by hand; `now` is the site's clock."""

    def __init__(self, edge: EdgeProbe, w1_base: Path, *, start: datetime | None = None, seed: int = 7) -> None:
        layout = demo_layout()
        self.edge = edge
        self.cabinet = CabinetSimulator(w1_base, layout.sensors, seed=seed)
        self.drivers = [(spec, DS18B20(spec.id, w1_base, retries=0)) for spec in layout.sensors]
        self.zones = {c.id: c.zone for c in layout.compartments}
        self.now = start or datetime.now(UTC)
        self.cabinet.write()

    def online(self) -> None:
        self.edge.send(Channel.STATE, StateMessage(state="online", agent="test-site"))

    def sample(self) -> Telemetry:
        """One round of every sensor through the real driver, stamped with the site's clock."""
        readings = []
        for spec, driver in self.drivers:
            sample = driver.read()
            readings.append(
                Reading(sensor=spec.id, zone=spec.zone, ts=self.now, celsius=sample.celsius, quality=sample.quality)
            )
        return Telemetry(readings=readings)

    def advance(self, seconds: float, step_s: float = STEP_S) -> None:
        """Let `seconds` of site time pass, publishing one telemetry batch per step."""
        for _ in range(round(seconds / step_s)):
            self.cabinet.step(step_s)
            self.now += timedelta(seconds=step_s)
            self.cabinet.write()
            self.edge.send(Channel.TELEMETRY, self.sample())

    def door(self, compartment: str, is_open: bool) -> None:
        """A door opens or closes now: warm air in the model, and the event the edge would send."""
        self.cabinet.door_changed(self.zones[compartment], compartment, is_open)
        kind = EventKind.DOOR_OPENED if is_open else EventKind.DOOR_CLOSED
        self.edge.event(kind, ts=self.now, compartment=compartment)

    def crafted(self, *celsius: float, zone: Zone = Zone.CHILLED, sensor: str = CHILLED_SENSOR) -> None:
        """Publish hand-made readings of one sensor, one step apart (no thermal model involved)."""
        for value in celsius:
            self.now += timedelta(seconds=STEP_S)
            reading = Reading(sensor=sensor, zone=zone, ts=self.now, celsius=value, quality=Quality.OK)
            self.edge.send(Channel.TELEMETRY, Telemetry(readings=[reading]))

    def sync(self, client) -> None:
        """Wait until the cloud has processed everything this site published so far."""
        wait_until(lambda: newest_reading(client, self.edge.locker) >= self.now, 15, f"readings up to {self.now}")
        assert client.app.state.runtime.bridge.wait_idle(15)


def newest_reading(client, locker: str) -> datetime:
    zones = client.get(f"/api/v1/lockers/{locker}", headers=ADMIN).json()["zones"]
    stamps = [datetime.fromisoformat(z["ts"]) for z in zones if z["ts"]]
    return max(stamps, default=datetime.min.replace(tzinfo=UTC))


def alerts(client, locker: str, **filters) -> list[dict]:
    response = client.get("/api/v1/alerts", headers=ADMIN, params={"locker": locker, **filters})
    assert response.status_code == 200, response.text
    return response.json()


@contextmanager
def running_cloud(settings: Settings) -> Iterator[TestClient]:
    """The real app with its lifespan; leaving the block stops it (a restart is two blocks on one settings)."""
    with TestClient(create_app(settings)) as client:
        client.app.state.runtime.bridge.wait_connected(10)
        yield client
