"""The agent's temperature side: sampling rounds, sensor-fault facts and the cold-chain rules' local alarms.

`read_round` runs on the sampler thread (slow bus reads); everything else on the agent's worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from edge.coldwatch import ColdChainWatch, SensorAlarmChange
from edge.store import EdgeStore
from edge.telemetry import SensorReader, SensorRound, new_faults, qualities, telemetry_batch
from lockers.layout import LockerLayout, Zone
from lockers.protocol.messages import LocalAlarm, Quality, Telemetry
from sensors.rules import ZoneLimits

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RoundNews:
    """What one sampling round means for the agent to publish."""

    telemetry: Telemetry | None  # None for a cabinet without sensors
    new_faults: list[str]  # details of sensors that just stopped giving usable readings (one event each)
    alarms_changed: bool  # the local alarms changed: publish `reported`


class Sensing:
    """Reads the cabinet's sensors and runs the cold-chain rules on what they read, remembering it in the store.

    The `sensor_fault` event is the fact (a sensor just stopped giving usable readings); whether that is a
    fault worth an alarm (repeated bad reads) is the rules' call, which shows among the local alarms."""

    def __init__(
        self,
        layout: LockerLayout,
        w1_base: Path,
        store: EdgeStore,
        limits: Mapping[Zone, ZoneLimits] | None = None,
    ) -> None:
        self._reader = SensorReader(layout, w1_base)
        self._store = store
        self._quality: dict[str, Quality] = {}
        self._watch = ColdChainWatch(layout, limits, store.monitors())

    def __bool__(self) -> bool:
        return bool(self._reader)

    def read_round(self, taken_at: datetime) -> SensorRound:
        """Sample every sensor (sampler thread); `taken_at` is the round's event time."""
        return self._reader.read_round(taken_at)

    def observe_round(self, sensor_round: SensorRound) -> RoundNews:
        faults = new_faults(self._quality, sensor_round)
        self._quality = qualities(sensor_round)
        changes = self._watch.observe_round(sensor_round)
        return RoundNews(telemetry_batch(sensor_round), faults, self._record(changes, sensor_round.taken_at))

    def observe_doors(self, doors: Mapping[str, bool], ts: datetime) -> bool:
        """Door positions (compartment → open) at event time `ts`; whether the local alarms changed."""
        return self._record(self._watch.observe_doors(doors, ts), ts)

    def alarms(self) -> list[LocalAlarm]:
        """The active local alarms."""
        return self._watch.active()

    def _record(self, changes: list[SensorAlarmChange], observed_at: datetime) -> bool:
        self._store.save_monitors(self._watch.unsaved(), observed_at)  # before anyone hears of the change
        for change in changes:
            level = logging.INFO if change.change.action == "cleared" else logging.WARNING
            log.log(level, "cold chain: %s", change.describe())
        return bool(changes)
