"""Fridge/freezer thermal simulator that writes the kernel's w1 files, so the real DS18B20 driver reads it."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from lockers.errors import LayoutError
from lockers.layout import SensorSpec, Zone
from sensors import w1

log = logging.getLogger(__name__)

ROOM_C = 20.0
MAX_SUBSTEP_S = 1.0  # thermostat decisions and Euler steps at 1 s keep the model stable and deterministic


@dataclass
class ThermalZone:
    """One cooled (or ambient) space: Newton heat exchange with the room, plus a thermostat-run compressor.

    dT/dt = (leak + door_leak * open doors) * (room - T) - cooling while the compressor runs.
    """

    zone: Zone
    temperature_c: float
    setpoint_c: float | None  # None: no compressor, the space just follows the room (ambient shelf)
    band_c: float = 1.0  # thermostat switches on above setpoint + band, off below setpoint - band
    room_c: float = ROOM_C
    leak_per_s: float = 2.2e-4  # closed: ~1 °C per 5 min at 4 °C in a 20 °C room with the compressor off
    door_leak_per_s: float = 1.5e-3  # each open door: warm air floods in, several °C per minute
    cooling_c_per_s: float = 0.01  # compressor pull-down, ~0.6 °C per minute
    restart_delay_s: float = 180.0  # anti-short-cycle relay: a compressor waits after power returns
    doors_open: int = 0
    cooling_called: bool = False  # the thermostat asks for cooling
    compressor_failed: bool = False
    powered: bool = True
    restart_wait_s: float = 0.0

    @classmethod
    def for_zone(cls, zone: Zone, room_c: float = ROOM_C) -> ThermalZone:
        """A zone with the locker's default setpoint, starting at that setpoint (ambient: at room temperature)."""
        if zone is Zone.CHILLED:
            return cls(zone, 4.0, 4.0, band_c=1.0, room_c=room_c)
        if zone is Zone.FROZEN:  # better insulated, stronger compressor
            return cls(zone, -20.0, -20.0, band_c=1.5, room_c=room_c, leak_per_s=1.0e-4, cooling_c_per_s=0.012)
        return cls(zone, room_c, None, room_c=room_c, leak_per_s=3.0e-4, cooling_c_per_s=0.0)

    @property
    def cooling(self) -> bool:
        """Whether the compressor is actually pulling heat out right now."""
        return (
            self.setpoint_c is not None
            and self.cooling_called
            and self.powered
            and not self.compressor_failed
            and self.restart_wait_s <= 0
        )

    def set_powered(self, powered: bool) -> None:
        """Mains to this zone's cooling unit lost or restored."""
        if powered and not self.powered:
            self.restart_wait_s = self.restart_delay_s
        self.powered = powered

    def step(self, dt_s: float) -> None:
        """Advance the physics by `dt_s` simulated seconds."""
        if dt_s < 0:
            raise ValueError("time only runs forward")
        remaining = dt_s
        while remaining > 1e-12:
            h = min(MAX_SUBSTEP_S, remaining)
            remaining -= h
            self._thermostat()
            if self.powered and self.restart_wait_s > 0:
                self.restart_wait_s = max(0.0, self.restart_wait_s - h)
            exchange = self.leak_per_s + self.door_leak_per_s * self.doors_open
            dtemp = exchange * (self.room_c - self.temperature_c) - (self.cooling_c_per_s if self.cooling else 0.0)
            self.temperature_c += dtemp * h

    def _thermostat(self) -> None:
        if self.setpoint_c is None or not self.powered:
            self.cooling_called = False
        elif self.temperature_c >= self.setpoint_c + self.band_c:
            self.cooling_called = True
        elif self.temperature_c <= self.setpoint_c - self.band_c:
            self.cooling_called = False


class Fault(StrEnum):
    """Faults the simulator can show, for demos and cold-chain tests."""

    COMPRESSOR_FAILURE = "compressor-failure"  # runs no more: the zone warms to room temperature
    POWER_CUT = "power-cut"  # the zone's cooling unit loses mains; restarts after a delay when cleared
    SENSOR_UNPLUGGED = "sensor-unplugged"  # device directory disappears
    SENSOR_FLAKY = "sensor-flaky"  # every other read is a CRC error or an 85.000 reset
    CLEAR = "clear"  # everything back to normal


class CabinetSimulator:
    """A locker cabinet: one thermal zone per sensed zone, its sensors' w1 files written under `base`."""

    def __init__(
        self,
        base: Path,
        sensors: Sequence[SensorSpec],
        *,
        room_c: float = ROOM_C,
        noise_c: float = 0.05,
        seed: int | None = None,
    ) -> None:
        self.base = Path(base)
        self.sensors = tuple(sensors)
        self.noise_c = noise_c
        self._zones = {s.zone: ThermalZone.for_zone(s.zone, room_c) for s in self.sensors}
        self._doors: dict[Zone, set[str]] = {zone: set() for zone in self._zones}
        self._sensor_faults: dict[Zone, set[Fault]] = {zone: set() for zone in self._zones}
        self._flaky_writes = {s.id: 0 for s in self.sensors}
        self._last_good = {s.id: bytes(w1.SCRATCHPAD_LEN) for s in self.sensors}  # the kernel's cached copy
        self._rng = random.Random(seed)
        self._lock = threading.RLock()  # the stepping thread and the agent's calls share all state
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the model ------------------------------------------------------------------------------------

    def zone(self, zone: Zone) -> ThermalZone:
        """The thermal model of a zone (for inspection and tuning)."""
        try:
            return self._zones[zone]
        except KeyError:
            raise LayoutError(f"no sensor measures the {zone} zone of this cabinet") from None

    def temperature(self, zone: Zone) -> float:
        """The true (noise-free) air temperature of a zone."""
        with self._lock:
            return self.zone(zone).temperature_c

    def step(self, dt_s: float) -> None:
        """Advance every zone by `dt_s` simulated seconds."""
        with self._lock:
            for thermal in self._zones.values():
                thermal.step(dt_s)

    def door_changed(self, zone: Zone, compartment_id: str, is_open: bool) -> None:
        """A compartment door opened or closed; zones without a sensor are not simulated and ignore it."""
        with self._lock:
            doors = self._doors.get(zone)
            if doors is None:
                return
            if is_open:
                doors.add(compartment_id)
            else:
                doors.discard(compartment_id)
            self._zones[zone].doors_open = len(doors)

    def set_door_open(self, zone: Zone, is_open: bool) -> None:
        """Open one door of the zone, or close all of them."""
        with self._lock:
            if is_open:
                self.door_changed(zone, "*", True)
            else:
                for compartment_id in list(self._doors.get(zone, ())):
                    self.door_changed(zone, compartment_id, False)

    def inject(self, zone: Zone, fault: str) -> None:
        """Start a fault in a zone (several may run at once), or `clear` them all."""
        try:
            kind = Fault(fault)
        except ValueError:
            raise ValueError(f"unknown fault {fault!r}; use one of {', '.join(f.value for f in Fault)}") from None
        with self._lock:
            thermal = self.zone(zone)
            if kind is Fault.COMPRESSOR_FAILURE:
                thermal.compressor_failed = True
            elif kind is Fault.POWER_CUT:
                thermal.set_powered(False)
            elif kind is Fault.CLEAR:
                thermal.compressor_failed = False
                thermal.set_powered(True)
                self._sensor_faults[zone].clear()
            else:
                self._sensor_faults[zone].add(kind)
                for spec in self.sensors:
                    if spec.zone == zone:
                        self._flaky_writes[spec.id] = 0

    # --- the files ------------------------------------------------------------------------------------

    def write(self) -> None:
        """Write every sensor's w1_slave as the kernel would show it now (noise, 1/16 °C steps, faults)."""
        with self._lock:
            for spec in self.sensors:
                faults = self._sensor_faults[spec.zone]
                if Fault.SENSOR_UNPLUGGED in faults:
                    w1.remove_sensor(self.base, spec.id)
                    continue
                scratchpad = self._scratchpad(spec, Fault.SENSOR_FLAKY in faults)
                text = w1.format_w1_slave(scratchpad, last_good=self._last_good[spec.id])
                w1.write_w1_slave(self.base, spec.id, text)
                if w1.crc_matches(scratchpad):
                    self._last_good[spec.id] = scratchpad

    def _scratchpad(self, spec: SensorSpec, flaky: bool) -> bytes:
        measured = self._zones[spec.zone].temperature_c + self._rng.gauss(0.0, self.noise_c)
        celsius = min(w1.CHIP_MAX_C, max(w1.CHIP_MIN_C, measured))
        if not flaky:
            return w1.scratchpad_for(celsius)
        self._flaky_writes[spec.id] += 1
        count = self._flaky_writes[spec.id]
        if count % 2 == 0:
            return w1.scratchpad_for(celsius)
        if count % 4 == 1:  # bad reads alternate: one bit flipped on the wire, then a brown-out reset
            return w1.crc_error_scratchpad(celsius, bit=self._rng.randrange(w1.SCRATCHPAD_LEN * 8))
        return w1.POWER_ON_RESET_SCRATCHPAD

    # --- real time ------------------------------------------------------------------------------------

    def start(self, period_s: float = 1.0, speed: float = 1.0) -> None:
        """Write the files now, then step `period_s * speed` simulated seconds every `period_s` in a thread."""
        if period_s <= 0 or speed <= 0:
            raise ValueError("period_s and speed must be positive")
        if self._thread is not None:
            raise RuntimeError("the cabinet simulator is already running")
        self.write()  # readers must find the files as soon as start() returns
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(period_s, period_s * speed), name="cabinet-simulator", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the stepping thread and wait for it; the files stay as last written."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join()

    def _run(self, period_s: float, simulated_s: float) -> None:
        while not self._stop.wait(period_s):
            try:
                self.step(simulated_s)
                self.write()
            except Exception:  # keep simulating; the error is logged for the operator (and fails tests)
                log.exception("cabinet simulator step failed")
