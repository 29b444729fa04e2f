"""DS18B20 driver over the kernel's w1 sysfs files: one sample per read, sensor faults as a quality flag.

How text maps to a quality (sensor faults never raise):
- empty file: DISCONNECTED. Current kernels return nothing once every attempt failed (no presence pulse or
  repeated CRC failures); a sensor that stopped answering is by far the likeliest cause.
- missing device directory or file, or an I/O error reading it: DISCONNECTED.
- all-FF scratchpad (ground lost, bus floats high) or all-00 (data line shorted, older kernels even pass
  its CRC): DISCONNECTED.
- text that is not the kernel's two-line format: CRC_ERROR, i.e. data we got but cannot trust.
- `crc=.. NO`: CRC_ERROR.
- t=85000: POWER_ON_RESET (the chip's value before its first conversion; a locker never reaches 85 °C).
- t >= 127900: CONVERSION_FAILED (0x07FF = 127.9375 °C).
- any other value outside the chip's -55..125 °C: CRC_ERROR.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lockers.layout import SENSOR_ID_PATTERN
from lockers.protocol.messages import Quality
from sensors.w1 import CHIP_MAX_C, CHIP_MIN_C, check_sensor_id, w1_slave_path

log = logging.getLogger(__name__)

DEFAULT_BASE = Path("/sys/bus/w1/devices")
POWER_ON_RESET_MILLI = 85_000
CONVERSION_FAILED_MILLI = 127_900

_HEX9 = r"((?:[0-9a-f]{2} ){9})"
_CRC_LINE = re.compile(_HEX9 + r": crc=[0-9a-f]{2} (YES|NO)")
_TEMP_LINE = re.compile(_HEX9 + r"t=(-?\d{1,6})")


@dataclass(frozen=True)
class SensorSample:
    """One read of one sensor: a temperature exactly when the quality is OK."""

    sensor_id: str
    celsius: float | None
    quality: Quality


def parse_w1_slave(text: str) -> tuple[float | None, Quality]:
    """Temperature (°C, 0.001 resolution as the kernel prints it) and quality of one `w1_slave` text."""
    if not text.strip():
        return None, Quality.DISCONNECTED
    lines = text.strip().splitlines()
    crc_line = _CRC_LINE.fullmatch(lines[0].strip()) if len(lines) == 2 else None
    temp_line = _TEMP_LINE.fullmatch(lines[1].strip()) if crc_line else None
    if crc_line is None or temp_line is None:
        return None, Quality.CRC_ERROR
    scratchpad = bytes.fromhex(crc_line.group(1))
    if scratchpad in (b"\xff" * 9, b"\x00" * 9):
        return None, Quality.DISCONNECTED
    if crc_line.group(2) != "YES":
        return None, Quality.CRC_ERROR
    milli = int(temp_line.group(2))
    if milli == POWER_ON_RESET_MILLI:
        return None, Quality.POWER_ON_RESET
    if milli >= CONVERSION_FAILED_MILLI:
        return None, Quality.CONVERSION_FAILED
    if not CHIP_MIN_C * 1000 <= milli <= CHIP_MAX_C * 1000:
        return None, Quality.CRC_ERROR
    return round(milli / 1000, 3), Quality.OK


def read_w1_file(path: Path) -> str:
    """The text of a `w1_slave` file; "" when it cannot be read (the caller sees DISCONNECTED)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return ""
    except OSError as exc:  # EIO from sysfs on a bus fault, or a permission problem worth seeing in the log
        log.warning("cannot read %s: %s", path, exc.strerror or exc)
        return ""
    return data.decode("ascii", errors="replace")  # stray bytes then fail the format check: CRC_ERROR


class DS18B20:
    """One sensor on the 1-wire bus, read through the kernel's sysfs file."""

    def __init__(
        self,
        sensor_id: str,
        base: Path = DEFAULT_BASE,
        retries: int = 2,
        retry_delay_s: float = 0.05,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if retries < 0 or retry_delay_s < 0:
            raise ValueError("retries and retry_delay_s must not be negative")
        self.sensor_id = check_sensor_id(sensor_id)
        self.base = Path(base)
        self.retries = retries
        self.retry_delay_s = retry_delay_s
        self._sleep = sleep  # injectable so tests can change the file between attempts without waiting

    @property
    def path(self) -> Path:
        return w1_slave_path(self.base, self.sensor_id)

    def read_once(self) -> SensorSample:
        """One read of the sysfs file, with no retry."""
        celsius, quality = parse_w1_slave(read_w1_file(self.path))
        return SensorSample(self.sensor_id, celsius, quality)

    def read(self) -> SensorSample:
        """A sample, reading again up to `retries` times after a bad read; the last bad one if none is OK."""
        sample = self.read_once()
        for _ in range(self.retries):
            if sample.quality is Quality.OK:
                break
            # every read of w1_slave is a fresh conversion, so a transient fault can clear on the next one
            self._sleep(self.retry_delay_s)
            sample = self.read_once()
        return sample

    def __repr__(self) -> str:
        return f"DS18B20({self.sensor_id!r}, base={str(self.base)!r})"


def discover(base: Path = DEFAULT_BASE) -> list[str]:
    """Ids of the DS18B20 sensors (family 28) the kernel lists under `base`, sorted; [] if there is no bus."""
    try:
        entries = list(Path(base).iterdir())
    except OSError:
        return []
    return sorted(e.name for e in entries if re.fullmatch(SENSOR_ID_PATTERN, e.name) and e.is_dir())
