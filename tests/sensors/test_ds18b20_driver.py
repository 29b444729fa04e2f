"""DS18B20 driver: parsing every kind of w1_slave text, reading real files, retries and discovery."""

from __future__ import annotations

import logging

import pytest

from lockers.protocol.messages import Quality
from sensors import w1
from sensors.ds18b20 import DS18B20, SensorSample, discover, parse_w1_slave

SENSOR = "28-0000075a1b2c"
OK, CRC, POR, CONV, DISC = (
    Quality.OK,
    Quality.CRC_ERROR,
    Quality.POWER_ON_RESET,
    Quality.CONVERSION_FAILED,
    Quality.DISCONNECTED,
)


@pytest.mark.parametrize(
    ("text", "celsius", "quality"),
    [
        ("72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n", 23.125, OK),
        ("b8 fe 4b 46 7f ff 08 10 8c : crc=8c YES\nb8 fe 4b 46 7f ff 08 10 8c t=-20500\n", -20.5, OK),
        ("00 00 4b 46 7f ff 10 10 69 : crc=69 YES\n00 00 4b 46 7f ff 10 10 69 t=0\n", 0.0, OK),
        ("41 00 4b 46 7f ff 0f 10 97 : crc=97 YES\n41 00 4b 46 7f ff 0f 10 97 t=4062\n", 4.062, OK),
        ("ff ff 4b 46 7f ff 01 10 9a : crc=9a YES\nff ff 4b 46 7f ff 01 10 9a t=-62\n", -0.062, OK),
        ("d0 07 4b 46 7f ff 10 10 55 : crc=55 YES\nd0 07 4b 46 7f ff 10 10 55 t=125000\n", 125.0, OK),
        ("90 fc 4b 46 7f ff 10 10 ee : crc=ee YES\n90 fc 4b 46 7f ff 10 10 ee t=-55000", -55.0, OK),  # no final \n
        # a bit flipped on the wire
        ("41 00 4b 46 7f ff 10 10 20 : crc=63 NO\n3f 00 4b 46 7f ff 01 10 47 t=4062\n", None, CRC),
        # power-on value and failed conversion, both with a valid CRC
        ("50 05 4b 46 7f ff 0c 10 1c : crc=1c YES\n50 05 4b 46 7f ff 0c 10 1c t=85000\n", None, POR),
        ("ff 07 4b 46 7f ff 0c 10 a6 : crc=a6 YES\nff 07 4b 46 7f ff 0c 10 a6 t=127937\n", None, CONV),
        # lost ground: everything reads 1; -62 would otherwise pass as a plausible -0.062 °C
        ("ff ff ff ff ff ff ff ff ff : crc=c9 NO\n00 00 00 00 00 00 00 00 00 t=-62\n", None, DISC),
        ("ff ff ff ff ff ff ff ff ff : crc=ff YES\nff ff ff ff ff ff ff ff ff t=-62\n", None, DISC),
        # shorted data line: all zeros even pass the CRC on older kernels
        ("00 00 00 00 00 00 00 00 00 : crc=00 YES\n00 00 00 00 00 00 00 00 00 t=0\n", None, DISC),
        # current kernels: an empty read once every attempt failed
        ("", None, DISC),
        ("\n", None, DISC),
        # not the kernel's format at all
        ("garbage", None, CRC),
        ("72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n", None, CRC),  # second line missing
        ("72 01 4b 46 7f ff 0e 10 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 t=23125\n", None, CRC),  # 8 bytes
        ("72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=\n", None, CRC),
        ("72 01 4b 46 7f ff 0e 10 57 : crc=57 MAYBE\n72 01 4b 46 7f ff 0e 10 57 t=23125\n", None, CRC),
        ("72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\nextra\n", None, CRC),
        # a value the chip cannot produce
        ("72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=-99000\n", None, CRC),
    ],
)
def test_parse_w1_slave(text: str, celsius: float | None, quality: Quality) -> None:
    assert parse_w1_slave(text) == (celsius, quality)


@pytest.mark.parametrize(
    "celsius", [-55.0, -25.0625, -20.5, -18.0, -0.0625, 0.0, 0.5, 3.9375, 4.0, 7.0, 21.3125, 85.0625, 125.0]
)
def test_round_trip_through_real_files(tmp_path, celsius: float) -> None:
    w1.write_w1_slave(tmp_path, SENSOR, w1.w1_slave_for(celsius))
    sample = DS18B20(SENSOR, tmp_path, retry_delay_s=0).read()
    # the kernel prints millidegrees truncated toward zero: 4.0625 arrives as 4.062
    assert sample == SensorSample(SENSOR, int(celsius * 1000) / 1000, Quality.OK)
    assert sample.celsius == pytest.approx(celsius, abs=0.001)


def test_missing_sensor_reads_disconnected(tmp_path) -> None:
    assert DS18B20(SENSOR, tmp_path, retry_delay_s=0).read() == SensorSample(SENSOR, None, Quality.DISCONNECTED)
    assert DS18B20(SENSOR, tmp_path / "no-bus", retry_delay_s=0).read().quality is Quality.DISCONNECTED


def test_unreadable_file_reads_disconnected_with_a_warning(tmp_path, caplog) -> None:
    (tmp_path / SENSOR / "w1_slave").mkdir(parents=True)  # reading it raises IsADirectoryError
    with caplog.at_level(logging.WARNING, logger="sensors.ds18b20"):
        sample = DS18B20(SENSOR, tmp_path, retries=0).read()
    assert sample.quality is Quality.DISCONNECTED
    assert any("cannot read" in r.getMessage() and r.exc_info is None for r in caplog.records)


def test_binary_junk_in_the_file_is_a_crc_error(tmp_path) -> None:
    path = tmp_path / SENSOR / "w1_slave"
    path.parent.mkdir()
    path.write_bytes(b"\xff\xfe\x00junk")
    assert DS18B20(SENSOR, tmp_path, retries=0).read().quality is Quality.CRC_ERROR


def test_retry_reads_again_after_a_bad_read_and_returns_the_good_one(tmp_path) -> None:
    w1.write_w1_slave(tmp_path, SENSOR, w1.crc_error_w1_slave(4.0))
    delays: list[float] = []

    def next_conversion(delay_s: float) -> None:  # the sensor's next conversion arrives during the pause
        delays.append(delay_s)
        text = w1.power_on_reset_w1_slave() if len(delays) == 1 else w1.w1_slave_for(4.0)
        w1.write_w1_slave(tmp_path, SENSOR, text)

    sample = DS18B20(SENSOR, tmp_path, retries=2, retry_delay_s=0.01, sleep=next_conversion).read()
    assert sample == SensorSample(SENSOR, 4.0, Quality.OK)
    assert delays == [0.01, 0.01]


def test_retries_are_bounded_and_the_last_fault_is_reported(tmp_path) -> None:
    w1.write_w1_slave(tmp_path, SENSOR, w1.crc_error_w1_slave(4.0))
    delays: list[float] = []

    def still_broken(delay_s: float) -> None:
        delays.append(delay_s)
        if len(delays) == 3:
            w1.write_w1_slave(tmp_path, SENSOR, w1.conversion_failed_w1_slave())

    sample = DS18B20(SENSOR, tmp_path, retries=3, retry_delay_s=0, sleep=still_broken).read()
    assert sample == SensorSample(SENSOR, None, Quality.CONVERSION_FAILED)
    assert len(delays) == 3


def test_a_good_first_read_does_not_wait(tmp_path) -> None:
    w1.write_w1_slave(tmp_path, SENSOR, w1.w1_slave_for(-18.0))
    waited: list[float] = []
    assert DS18B20(SENSOR, tmp_path, sleep=waited.append).read().celsius == -18.0
    assert waited == []


@pytest.mark.parametrize(("kwargs", "message"), [({"retries": -1}, "negative"), ({"retry_delay_s": -0.1}, "negative")])
def test_driver_rejects_bad_settings(tmp_path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DS18B20(SENSOR, tmp_path, **kwargs)
    with pytest.raises(ValueError, match="not a DS18B20 id"):
        DS18B20("w1_bus_master1", tmp_path)


def test_discover_lists_only_ds18b20_devices(tmp_path) -> None:
    for sensor_id in ("28-00000000b001", "28-00000000a001"):
        w1.write_w1_slave(tmp_path, sensor_id, w1.w1_slave_for(4.0))
    (tmp_path / "w1_bus_master1").mkdir()  # the bus master sits beside its slaves
    (tmp_path / "10-000802b4f1e2").mkdir()  # a DS18S20, another family
    (tmp_path / "28-00000000ffff").write_text("")  # not a directory
    assert discover(tmp_path) == ["28-00000000a001", "28-00000000b001"]
    assert discover(tmp_path / "absent") == []
