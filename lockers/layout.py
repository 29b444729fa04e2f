"""Locker layout: compartments with their size, temperature zone, pins and the zone sensors."""

from __future__ import annotations

import json
import re
import tomllib
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lockers.errors import LayoutError

LOCKER_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,31}$"
COMPARTMENT_ID_PATTERN = r"^[A-Z][0-9]{1,2}$"
SENSOR_ID_PATTERN = r"^28-[0-9a-f]{12}$"


class Zone(StrEnum):
    """Temperature zone of a compartment."""

    AMBIENT = "ambient"
    CHILLED = "chilled"
    FROZEN = "frozen"


class Size(StrEnum):
    """Compartment size class; `volume_l` gives the usable litres used for best fit."""

    S = "S"
    M = "M"
    L = "L"

    @property
    def volume_l(self) -> int:
        return _SIZE_LITRES[self]


_SIZE_LITRES = {Size.S: 20, Size.M: 45, Size.L: 90}


def is_locker_id(value: str) -> bool:
    """A locker id doubles as the broker username, so it must be topic-safe."""
    return re.fullmatch(LOCKER_ID_PATTERN, value) is not None


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Compartment(_Frozen):
    """One lockable compartment with its lock relay pin and door switch pin (BCM numbering)."""

    id: str = Field(pattern=COMPARTMENT_ID_PATTERN, description="column letter + row, e.g. B2")
    zone: Zone
    size: Size
    accessible: bool = Field(False, description="low enough to reach from a wheelchair")
    lock_pin: int = Field(ge=0, le=27)
    door_pin: int = Field(ge=0, le=27)


class SensorSpec(_Frozen):
    """A DS18B20 sensor measuring one temperature zone."""

    id: str = Field(pattern=SENSOR_ID_PATTERN)
    zone: Zone


class LockerLayout(_Frozen):
    """The physical build of one locker cabinet."""

    compartments: tuple[Compartment, ...] = Field(min_length=1)
    sensors: tuple[SensorSpec, ...] = ()

    @model_validator(mode="after")
    def _check_unique(self) -> LockerLayout:
        ids = [c.id for c in self.compartments]
        if len(ids) != len(set(ids)):
            raise ValueError("compartment ids must be unique")
        pins = [p for c in self.compartments for p in (c.lock_pin, c.door_pin)]
        if len(pins) != len(set(pins)):
            raise ValueError("every lock and door needs its own GPIO pin")
        sensor_ids = [s.id for s in self.sensors]
        if len(sensor_ids) != len(set(sensor_ids)):
            raise ValueError("sensor ids must be unique")
        return self

    def compartment(self, compartment_id: str) -> Compartment:
        for comp in self.compartments:
            if comp.id == compartment_id:
                return comp
        raise LayoutError(f"no compartment {compartment_id!r} in this locker")

    def zones(self) -> list[Zone]:
        """Zones present in this locker, in a stable order."""
        present = {c.zone for c in self.compartments}
        return [z for z in Zone if z in present]

    def sensors_for(self, zone: Zone) -> list[SensorSpec]:
        return [s for s in self.sensors if s.zone == zone]


def parse_layout(data: dict) -> LockerLayout:
    """Validate a layout mapping, turning pydantic's errors into one readable LayoutError."""
    try:
        return LockerLayout.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'layout'}: {err['msg']}" for err in exc.errors()
        )
        raise LayoutError(f"invalid locker layout: {problems}") from exc


def load_layout(path: Path) -> LockerLayout:
    """Read a layout from a TOML or JSON file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LayoutError(f"cannot read layout file {path}: {exc.strerror}") from exc
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise LayoutError(f"layout file {path} is not valid {path.suffix.lstrip('.') or 'TOML'}: {exc}") from exc
    return parse_layout(data)


# Lock relays and door switches of the demo cabinet; GPIO4 stays free for the 1-wire bus.
_DEMO_LOCK_PINS = [5, 6, 12, 13, 16, 17, 18, 19, 20, 21, 22, 23]
_DEMO_DOOR_PINS = [24, 25, 26, 27, 2, 3, 7, 8, 9, 10, 11, 14]
_DEMO_CELLS = [
    # column A: ambient shelf, column B: fridge, column C: freezer; rows count from the top
    ("A1", Zone.AMBIENT, Size.S, False),
    ("A2", Zone.AMBIENT, Size.M, False),
    ("A3", Zone.AMBIENT, Size.M, True),
    ("A4", Zone.AMBIENT, Size.L, True),
    ("B1", Zone.CHILLED, Size.S, False),
    ("B2", Zone.CHILLED, Size.S, False),
    ("B3", Zone.CHILLED, Size.M, True),
    ("B4", Zone.CHILLED, Size.M, True),
    ("B5", Zone.CHILLED, Size.L, True),
    ("C1", Zone.FROZEN, Size.S, False),
    ("C2", Zone.FROZEN, Size.M, True),
    ("C3", Zone.FROZEN, Size.L, True),
]


def demo_layout() -> LockerLayout:
    """The 12-compartment, three-zone cabinet the demo and the tests simulate."""
    compartments = [
        Compartment(id=cid, zone=zone, size=size, accessible=low, lock_pin=lock, door_pin=door)
        for (cid, zone, size, low), lock, door in zip(_DEMO_CELLS, _DEMO_LOCK_PINS, _DEMO_DOOR_PINS, strict=True)
    ]
    sensors = [
        SensorSpec(id="28-00000000a001", zone=Zone.AMBIENT),
        SensorSpec(id="28-00000000b001", zone=Zone.CHILLED),
        SensorSpec(id="28-00000000c001", zone=Zone.FROZEN),
    ]
    return LockerLayout(compartments=tuple(compartments), sensors=tuple(sensors))
