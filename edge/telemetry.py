"""Temperature sampling for the agent: read every DS18B20 of the layout, batch readings, spot new faults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from lockers.layout import LockerLayout, SensorSpec
from lockers.protocol.messages import Quality, Reading, Telemetry
from sensors.ds18b20 import DS18B20, SensorSample

DEFAULT_INTERVAL_S = 30.0


@dataclass(frozen=True, slots=True)
class SensorRound:
    """One sample of every sensor, taken at about the same moment."""

    taken_at: datetime
    samples: tuple[tuple[SensorSpec, SensorSample], ...]


class SensorReader:
    """The cabinet's sensors; `read_round` may take a while on a real bus (≈0.75 s per conversion)."""

    def __init__(self, layout: LockerLayout, w1_base: Path) -> None:
        self._sensors = [(spec, DS18B20(spec.id, base=w1_base)) for spec in layout.sensors]

    def __bool__(self) -> bool:
        return bool(self._sensors)

    def read_round(self, taken_at: datetime) -> SensorRound:
        return SensorRound(taken_at, tuple((spec, sensor.read()) for spec, sensor in self._sensors))


def telemetry_batch(sensor_round: SensorRound) -> Telemetry | None:
    """The round as a `Telemetry` message, or None for a cabinet without sensors."""
    ts = sensor_round.taken_at
    readings = [
        Reading(sensor=spec.id, zone=spec.zone, ts=ts, celsius=sample.celsius, quality=sample.quality)
        for spec, sample in sensor_round.samples
    ]
    return Telemetry(readings=readings) if readings else None


def new_faults(previous: Mapping[str, Quality], sensor_round: SensorRound) -> list[str]:
    """Details of sensors that just stopped giving usable readings (one event per fault, not per sample)."""
    details = []
    for spec, sample in sensor_round.samples:
        was_ok = previous.get(spec.id, Quality.OK) is Quality.OK
        if was_ok and sample.quality is not Quality.OK:
            details.append(f"sensor {spec.id} ({spec.zone.value}): {sample.quality.value}")
    return details


def qualities(sensor_round: SensorRound) -> dict[str, Quality]:
    return {spec.id: sample.quality for spec, sample in sensor_round.samples}
