"""The w1 sysfs format: CRC, scratchpad layout, the kernel's two lines, and atomic file replacement."""

from __future__ import annotations

import threading

import pytest

from sensors import w1


@pytest.mark.parametrize(
    ("data", "crc"),
    [
        # Maxim AN27's worked example: family 02, serial 00000001B81C -> CRC A2
        (bytes.fromhex("021cb80100000000")[:7], 0xA2),
        # a whole ROM including its CRC checks to zero
        (bytes.fromhex("021cb801000000a2"), 0x00),
        # scratchpads printed by real Raspberry Pis
        (bytes.fromhex("72014b467fff0e10"), 0x57),
        (bytes.fromhex("50054b467fff0c10"), 0x1C),
        (b"\xff" * 8, 0xC9),
        (b"", 0x00),
    ],
)
def test_crc8_matches_dallas_examples(data: bytes, crc: int) -> None:
    assert w1.crc8(data) == crc


@pytest.mark.parametrize(
    ("celsius", "lsb_msb"),
    [  # DS18B20 datasheet, table "Temperature/Data Relationship"
        (125.0, 0x07D0),
        (85.0, 0x0550),
        (25.0625, 0x0191),
        (10.125, 0x00A2),
        (0.5, 0x0008),
        (0.0, 0x0000),
        (-0.5, 0xFFF8),
        (-10.125, 0xFF5E),
        (-25.0625, 0xFE6F),
        (-55.0, 0xFC90),
    ],
)
def test_scratchpad_temperature_bytes_follow_the_datasheet(celsius: float, lsb_msb: int) -> None:
    pad = w1.scratchpad_for(celsius)
    assert len(pad) == 9
    assert int.from_bytes(pad[:2], "little") == lsb_msb
    assert pad[2:6] == bytes([0x4B, 0x46, 0x7F, 0xFF])
    assert pad[7] == 0x10
    assert (pad[0] + pad[6]) & 0x0F == 0 and 0 < pad[6] <= 0x10  # genuine Maxim byte 6 behaviour
    assert w1.crc8(pad[:8]) == pad[8]


def test_scratchpad_rounds_to_sixteenths_and_refuses_out_of_range() -> None:
    assert w1.scratchpad_for(4.03)[:2] == bytes([0x40, 0x00])  # 4.03 -> 64/16 = 4.0
    with pytest.raises(ValueError, match="outside the DS18B20 range"):
        w1.scratchpad_for(125.5)
    with pytest.raises(ValueError):
        w1.scratchpad_for(-56)


def test_format_reproduces_a_real_kernel_file() -> None:
    pad = bytes.fromhex("72014b467fff0e1057")
    expected = "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n"
    assert w1.format_w1_slave(pad) == expected
    assert w1.scratchpad_for(23.125) == pad
    assert w1.w1_slave_for(23.125) == expected


@pytest.mark.parametrize(
    ("celsius", "t"),
    [(-20.5, -20500), (4.0625, 4062), (-0.0625, -62), (-10.125, -10125), (0.0, 0)],
)
def test_t_is_truncated_toward_zero_like_c(celsius: float, t: int) -> None:
    assert w1.w1_slave_for(celsius).endswith(f" t={t}\n")


def test_crc_failure_prints_no_the_computed_crc_and_the_last_good_copy() -> None:
    last_good = w1.scratchpad_for(3.9375)
    text = w1.crc_error_w1_slave(4.0, last_good=last_good)
    line1, line2 = text.splitlines()
    assert line1 == "41 00 4b 46 7f ff 10 10 20 : crc=63 NO"  # 0x40 arrived as 0x41
    assert line2 == "3f 00 4b 46 7f ff 01 10 47 t=4062"  # cached copy; t from the bad bytes
    # without a previous good read the kernel's zeroed cache shows
    assert w1.crc_error_w1_slave(4.0).splitlines()[1].startswith("00 00 00 00 00 00 00 00 00 ")


def test_forced_verdict_overrides_the_computed_one() -> None:
    pad = w1.scratchpad_for(4.0)
    assert w1.format_w1_slave(pad, crc_ok=False).splitlines()[0].endswith(" NO")
    assert w1.format_w1_slave(w1.crc_error_scratchpad(4.0), crc_ok=True).splitlines()[0].endswith(" YES")


def test_fault_files_are_the_ones_seen_in_the_field() -> None:
    assert w1.power_on_reset_w1_slave() == (
        "50 05 4b 46 7f ff 0c 10 1c : crc=1c YES\n50 05 4b 46 7f ff 0c 10 1c t=85000\n"
    )
    assert w1.conversion_failed_w1_slave() == (
        "ff 07 4b 46 7f ff 0c 10 a6 : crc=a6 YES\nff 07 4b 46 7f ff 0c 10 a6 t=127937\n"
    )
    assert w1.lost_ground_w1_slave() == ("ff ff ff ff ff ff ff ff ff : crc=c9 NO\n00 00 00 00 00 00 00 00 00 t=-62\n")


def test_format_rejects_a_short_scratchpad() -> None:
    with pytest.raises(ValueError, match="9 bytes"):
        w1.format_w1_slave(b"\x00" * 8)


def test_write_creates_the_kernel_layout_and_remove_unplugs(tmp_path) -> None:
    w1.write_w1_slave(tmp_path, "28-0000075a1b2c", "x\n")
    assert (tmp_path / "28-0000075a1b2c" / "w1_slave").read_text() == "x\n"
    w1.write_w1_slave(tmp_path, "28-0000075a1b2c", "y\n")
    assert [p.name for p in (tmp_path / "28-0000075a1b2c").iterdir()] == ["w1_slave"]  # no temp files left
    w1.remove_sensor(tmp_path, "28-0000075a1b2c")
    assert not (tmp_path / "28-0000075a1b2c").exists()
    w1.remove_sensor(tmp_path, "28-0000075a1b2c")  # unplugging twice is harmless


@pytest.mark.parametrize("bad_id", ["../etc", "28-XYZ", "10-0000075a1b2c", "28-0000075a1b2c/.."])
def test_sensor_ids_are_checked_before_touching_paths(tmp_path, bad_id: str) -> None:
    with pytest.raises(ValueError, match="not a DS18B20 id"):
        w1.write_w1_slave(tmp_path, bad_id, "x")
    with pytest.raises(ValueError):
        w1.remove_sensor(tmp_path, bad_id)


def test_concurrent_reader_never_sees_half_a_file(tmp_path) -> None:
    texts = [w1.w1_slave_for(4.0), w1.crc_error_w1_slave(-20.0) * 3]  # different lengths
    path = tmp_path / "28-0000075a1b2c" / "w1_slave"
    w1.write_w1_slave(tmp_path, "28-0000075a1b2c", texts[0])
    done = threading.Event()

    def writer() -> None:
        for i in range(400):
            w1.write_w1_slave(tmp_path, "28-0000075a1b2c", texts[i % 2])
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    seen = set()
    while not done.is_set():
        seen.add(path.read_text())
    thread.join()
    assert seen <= set(texts)
