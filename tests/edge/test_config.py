"""Loading edge.toml: relative paths, the layout file, public keys, and readable errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import DEFAULT_W1_BASE, load_edge_config
from lockers.errors import ConfigError, LayoutError
from lockers.layout import demo_layout
from tests.edge.codes_fixture import CodeBook

BOOK = CodeBook()


def write_config(folder: Path, body: str, *, layout: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if layout:
        (folder / "layout.json").write_text(demo_layout().model_dump_json())
    path = folder / "edge.toml"
    path.write_text(body)
    return path


def minimal(key: str | None = None, extra: str = "") -> str:
    key = key or BOOK.config_keys["1"]
    return f"""
locker = "demo-1"
state_dir = "state"
{extra}
[mqtt]
host = "127.0.0.1"
port = 18830

[codes]
keys = {{ "1" = "{key}" }}

[hardware]
layout = "layout.json"
"""


def test_minimal_config_with_defaults(tmp_path):
    config = load_edge_config(write_config(tmp_path / "site", minimal()))
    assert config.locker == "demo-1"
    assert config.state_dir == (tmp_path / "site" / "state").resolve()
    assert config.hardware.layout == (tmp_path / "site" / "layout.json").resolve()
    assert config.layout == demo_layout()
    assert config.w1_base == DEFAULT_W1_BASE
    assert config.hardware.pin_factory == "native"
    assert config.telemetry_interval_s is None
    assert config.mqtt.username is None and config.mqtt.port == 18830
    # The edge holds the public key, and it is the cloud's key.
    assert config.trusted_keys()[1].public_bytes_raw() == BOOK.key.public_key().public_bytes_raw()


def test_full_config(tmp_path, run_dir):
    body = (
        minimal(extra="telemetry_interval_s = 5")
        .replace('layout = "layout.json"', 'layout = "layout.json"\nw1_base = "w1"\npin_factory = "mock"')
        .replace("port = 18830", 'port = 18830\nusername = "demo-1"\npassword = "s3cret"\nca_file = "ca.crt"')
    )
    config = load_edge_config(write_config(tmp_path, body + '\n[control]\nsocket = "ctl.sock"\n'))
    assert config.w1_base == (tmp_path / "w1").resolve()
    assert config.hardware.pin_factory == "mock"
    assert config.telemetry_interval_s == 5
    assert (config.mqtt.username, config.mqtt.password) == ("demo-1", "s3cret")
    assert "s3cret" not in repr(config)
    assert config.control_socket == (tmp_path / "ctl.sock").resolve()
    address = config.mqtt.address()  # TLS, trusting the bundle's CA beside the config
    assert address.uses_tls and address.ca_file == str((tmp_path / "ca.crt").resolve())
    assert not load_edge_config(write_config(tmp_path / "plain", minimal())).mqtt.address().uses_tls


def test_default_control_socket_follows_the_run_dir(tmp_path, run_dir):
    config = load_edge_config(write_config(tmp_path, minimal()))
    assert config.control_socket == run_dir / "lockers" / "demo-1.sock"


def test_absolute_paths_stay_as_written(tmp_path):
    body = minimal().replace('state_dir = "state"', f'state_dir = "{tmp_path / "elsewhere"}"')
    assert load_edge_config(write_config(tmp_path / "a", body)).state_dir == tmp_path / "elsewhere"


@pytest.mark.parametrize(
    "body, message",
    [
        ("locker = ", "not valid TOML"),
        (minimal().replace('"demo-1"', '"Demo 1"', 1), "locker"),
        (minimal(key="bm90IGEga2V5"), "key 1 is not the base64 of a 32-byte Ed25519 public key"),
        (minimal(key="***"), "key 1 is not the base64"),
        (minimal().replace("[mqtt]", "[broker]"), "mqtt: Field required"),
        (minimal().replace('layout = "layout.json"', ""), r"\[hardware\] layout"),
        (minimal(extra="telemetry_interval_s = -1"), "telemetry_interval_s"),
        (minimal().replace("[hardware]", '[hardware]\npin_factory = "pigpio"'), "pin_factory"),
        (minimal(extra='colour = "blue"'), "colour"),
        ('layout = "x.json"\n' + minimal(), r"\[hardware\] layout"),
    ],
    ids=[
        "bad-toml",
        "bad-locker-id",
        "short-key",
        "not-base64",
        "no-mqtt",
        "no-layout",
        "bad-interval",
        "bad-pin-factory",
        "unknown-key",
        "top-level-layout",
    ],
)
def test_invalid_configs_name_the_problem(tmp_path, body, message):
    with pytest.raises(ConfigError, match=message) as raised:
        load_edge_config(write_config(tmp_path, body))
    assert str(tmp_path) in str(raised.value)  # says which file


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read edge config .*nope.toml"):
        load_edge_config(tmp_path / "nope.toml")


def test_missing_layout_file_is_a_layout_error(tmp_path):
    with pytest.raises(LayoutError, match="cannot read layout file .*layout.json"):
        load_edge_config(write_config(tmp_path, minimal(), layout=False))


def test_with_w1_base_changes_only_that(tmp_path):
    config = load_edge_config(write_config(tmp_path, minimal()))
    moved = config.with_w1_base(tmp_path / "w1")
    assert moved.w1_base == tmp_path / "w1"
    assert moved.model_dump(exclude={"hardware"}) == config.model_dump(exclude={"hardware"})
