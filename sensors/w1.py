"""The kernel's 1-wire sysfs files for DS18B20 sensors (`<base>/28-xxxxxxxxxxxx/w1_slave`), both directions.

Reading a real `w1_slave` makes the kernel's w1_therm driver start a conversion, read the 9-byte scratchpad
and print two lines (drivers/w1/slaves/w1_therm.c, `w1_slave_show`):

    72 01 4b 46 7f ff 0e 10 57 : crc=57 YES
    72 01 4b 46 7f ff 0e 10 57 t=23125

Line 1 is the scratchpad just read, the CRC-8 the kernel *computed* over its first 8 bytes and the verdict.
Line 2 is the last scratchpad that passed its CRC (zeros until one did) and the temperature in millidegrees
computed from the scratchpad just read, even when its CRC failed. Kernels before the 2020 w1_therm rework
print `NO` lines like that on a CRC failure; newer kernels return an empty file instead when every read
attempt failed (CRC or no presence pulse). Both are produced here: `format_w1_slave` writes the older,
more informative form, and `FAILED_READ_TEXT` is the newer kernels' empty read.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from lockers.layout import SENSOR_ID_PATTERN

SCRATCHPAD_LEN = 9
CHIP_MIN_C = -55.0  # DS18B20 measuring range
CHIP_MAX_C = 125.0
FACTORY_TH = 0x4B  # alarm registers as shipped (75 °C / 70 °C)
FACTORY_TL = 0x46
CONFIG_12_BIT = 0x7F  # R1=R0=1: 12-bit resolution, 1/16 °C steps
POWER_UP_BYTE6 = 0x0C  # reserved byte 6 before the first completed conversion

# Real failure files, as seen on Raspberry Pis:
# before the first conversion the chip holds 85.000 °C with byte 6 still at its power-up 0x0C
POWER_ON_RESET_SCRATCHPAD = bytes.fromhex("50054b467fff0c101c")
# a conversion that lost power (weak parasite supply) leaves 0x07FF = 127.9375 °C, byte 6 again 0x0C; this
# is the exact pattern the kernel's optional W1_THERM_CHECK_RESULT feature looks for
CONVERSION_FAILED_SCRATCHPAD = bytes.fromhex("ff074b467fff0c10a6")
# a sensor that lost its ground cannot pull the bus low: every bit reads 1 (crc=c9 NO, t=-62)
LOST_GROUND_SCRATCHPAD = b"\xff" * SCRATCHPAD_LEN
# what current kernels return when every read attempt failed
FAILED_READ_TEXT = ""


def crc8(data: bytes) -> int:
    """Dallas/Maxim CRC-8 (x^8 + x^5 + x^4 + 1, reflected: 0x8C), as the DS18B20 and the kernel compute it."""
    crc = 0
    for byte in data:
        for _ in range(8):
            mix = (crc ^ byte) & 1
            crc >>= 1
            if mix:
                crc ^= 0x8C
            byte >>= 1
    return crc


def _raw_scratchpad(raw: int, byte6: int, th: int = FACTORY_TH, tl: int = FACTORY_TL) -> bytes:
    """Scratchpad for a 16-bit two's complement temperature in 1/16 °C, with its CRC."""
    body = (raw & 0xFFFF).to_bytes(2, "little") + bytes([th, tl, CONFIG_12_BIT, 0xFF, byte6, 0x10])
    return body + bytes([crc8(body)])


def scratchpad_for(celsius: float, *, th: int = FACTORY_TH, tl: int = FACTORY_TL) -> bytes:
    """The 9 bytes a genuine 12-bit DS18B20 holds after converting `celsius` (rounded to 1/16 °C)."""
    if not CHIP_MIN_C <= celsius <= CHIP_MAX_C:
        raise ValueError(f"{celsius} °C is outside the DS18B20 range {CHIP_MIN_C}..{CHIP_MAX_C} °C")
    raw = round(celsius * 16)
    # Maxim's chips leave byte 6 so that (byte0 + byte6) & 0x0F == 0 after every conversion (0x01..0x10)
    return _raw_scratchpad(raw, 0x10 - (raw & 0x0F), th, tl)


def crc_error_scratchpad(celsius: float, bit: int = 0) -> bytes:
    """A read of `celsius` with one bit flipped on the wire (bit 0 = LSB of byte 0), so its CRC fails."""
    good = bytearray(scratchpad_for(celsius))
    good[bit // 8] ^= 1 << (bit % 8)
    return bytes(good)


def millidegrees(scratchpad: bytes) -> int:
    """Temperature the kernel prints as `t=`: raw * 1000 / 16 in C integer arithmetic (truncates toward 0)."""
    raw = int.from_bytes(scratchpad[:2], "little", signed=True)
    magnitude = abs(raw) * 1000 // 16
    return magnitude if raw >= 0 else -magnitude


def crc_matches(scratchpad: bytes) -> bool:
    """The kernel's verdict: the 9th byte equals the CRC-8 of the first eight."""
    return crc8(scratchpad[:8]) == scratchpad[8]


def _hex_bytes(data: bytes) -> str:
    return "".join(f"{b:02x} " for b in data)  # the kernel prints "%02x " per byte, trailing space included


def format_w1_slave(scratchpad: bytes, crc_ok: bool | None = None, last_good: bytes | None = None) -> str:
    """The two lines the kernel prints for `scratchpad`.

    `crc_ok` None computes the verdict as the kernel does; True/False forces it. `last_good` is the last
    scratchpad that passed (the kernel's cached copy, printed on line 2 after a failed CRC; zeros if none)."""
    if len(scratchpad) != SCRATCHPAD_LEN:
        raise ValueError(f"a DS18B20 scratchpad has {SCRATCHPAD_LEN} bytes, got {len(scratchpad)}")
    verdict = crc_matches(scratchpad) if crc_ok is None else crc_ok
    cached = scratchpad if verdict else (last_good if last_good is not None else bytes(SCRATCHPAD_LEN))
    line1 = f"{_hex_bytes(scratchpad)}: crc={crc8(scratchpad[:8]):02x} {'YES' if verdict else 'NO'}\n"
    line2 = f"{_hex_bytes(cached)}t={millidegrees(scratchpad)}\n"
    return line1 + line2


def w1_slave_for(celsius: float) -> str:
    """The file of a healthy sensor at `celsius`."""
    return format_w1_slave(scratchpad_for(celsius))


def power_on_reset_w1_slave() -> str:
    """A sensor read before its first conversion (e.g. just after a brown-out): 85.000 °C, CRC fine."""
    return format_w1_slave(POWER_ON_RESET_SCRATCHPAD)


def conversion_failed_w1_slave() -> str:
    """A conversion that did not complete: 127.937 °C, CRC fine."""
    return format_w1_slave(CONVERSION_FAILED_SCRATCHPAD)


def lost_ground_w1_slave(last_good: bytes | None = None) -> str:
    """All-FF read of a sensor with a broken ground wire: `crc=c9 NO`, `t=-62`."""
    return format_w1_slave(LOST_GROUND_SCRATCHPAD, last_good=last_good)


def crc_error_w1_slave(celsius: float, last_good: bytes | None = None, bit: int = 0) -> str:
    """A read corrupted by noise on a long cable: one flipped bit, `NO`."""
    return format_w1_slave(crc_error_scratchpad(celsius, bit), last_good=last_good)


def check_sensor_id(sensor_id: str) -> str:
    """A DS18B20 id as the kernel names its directory (`28-` + 12 hex digits); also keeps paths inside base."""
    if re.fullmatch(SENSOR_ID_PATTERN, sensor_id) is None:
        raise ValueError(f"{sensor_id!r} is not a DS18B20 id like 28-0000075a1b2c")
    return sensor_id


def w1_slave_path(base: Path, sensor_id: str) -> Path:
    """Where the kernel exposes a sensor's reading."""
    return base / check_sensor_id(sensor_id) / "w1_slave"


def write_w1_slave(base: Path, sensor_id: str, text: str) -> None:
    """Replace a sensor's file atomically, so a concurrent reader sees the old text or the new, never half."""
    path = w1_slave_path(base, sensor_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=".w1_slave.")
    try:
        with os.fdopen(fd, "w", encoding="ascii", newline="") as temp:
            temp.write(text)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def remove_sensor(base: Path, sensor_id: str) -> None:
    """Unplug a sensor: the kernel drops its device directory once bus searches stop finding it."""
    shutil.rmtree(base / check_sensor_id(sensor_id), ignore_errors=True)
