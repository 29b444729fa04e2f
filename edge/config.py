"""Edge agent configuration: one TOML file per locker, relative paths resolved against its folder.

locker = "zwartsluis-kerk"
state_dir = "state"
telemetry_interval_s = 10          # optional; else the desired state's setting, else 30 s (of simulated
                                   # time in a simulator run with --speed)
heartbeat_s = 60                   # optional: `reported` is re-sent this often (wall clock) as a sign of life
jam_after_s = 10                   # optional: a released door not seen open this long is reported `jam`
outbox_max_rows = 50000            # optional: past this, queued telemetry is thinned (events never are)
sent_archive_rows = 20000          # optional: acknowledged events kept for the cloud's resend requests (0: none)

[mqtt]
host = "mqtt.dorpskluis.example.nl"
port = 8883
username = "zwartsluis-kerk"       # written by `dorpskluis edge enroll`
password = "…"                     # written by `dorpskluis edge enroll`
ca_file = "ca.crt"                 # optional: TLS, trusting this CA (from the bundle); or tls = true: system CAs

[codes]
keys = { "1" = "<base64 raw Ed25519 public key>" }   # public keys only: the edge cannot mint codes

[hardware]
layout = "layout.toml"             # lockers.layout.load_layout: TOML or JSON
w1_base = "/sys/bus/w1/devices"
pin_factory = "native"             # "native" = gpiozero's default on a Pi, "mock" = MockFactory

[control]
socket = "/run/dorpskluis/zwartsluis-kerk.sock"      # optional; default edge.control.socket_path()

[kiosk]                            # optional: the touchscreen page (edge.kiosk)
host = "127.0.0.1"
port = 8080

[metrics]                          # optional: Prometheus metrics at http://host:port/metrics (edge.metrics)
host = "127.0.0.1"
port = 9101
"""

from __future__ import annotations

import base64
import binascii
import tomllib
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lockers.errors import ConfigError
from lockers.layout import LOCKER_ID_PATTERN, LockerLayout, load_layout
from lockers.mqtt import BrokerAddress

DEFAULT_W1_BASE = Path("/sys/bus/w1/devices")


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MqttConfig(_Section):
    """Where the broker is and who we are to it; over TLS with `ca_file` (the bundle's CA) or `tls = true`
    (the system's CAs)."""

    host: str = Field(min_length=1)
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: str | None = Field(None, repr=False)
    ca_file: Path | None = None
    tls: bool = False

    def address(self) -> BrokerAddress:
        ca = str(self.ca_file) if self.ca_file else None
        return BrokerAddress(self.host, self.port, self.username, self.password, ca_file=ca, tls=self.tls)


class CodesConfig(_Section):
    """The cloud's code-signing public keys by key id, as base64 of the 32 raw bytes."""

    keys: dict[int, str] = Field(min_length=1)

    @field_validator("keys")
    @classmethod
    def _keys_are_ed25519(cls, keys: dict[int, str]) -> dict[int, str]:
        for key_id, text in keys.items():
            _public_key(key_id, text)
        return keys

    def trusted_keys(self) -> dict[int, Ed25519PublicKey]:
        return {key_id: _public_key(key_id, text) for key_id, text in self.keys.items()}


class HardwareConfig(_Section):
    """Where the cabinet's description, the pins and the 1-wire sensor files are."""

    layout: Path
    w1_base: Path = DEFAULT_W1_BASE
    pin_factory: Literal["native", "mock"] = "native"


class KioskConfig(_Section):
    """The locker's own touchscreen page (edge.kiosk); only on this machine unless `host` says otherwise."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)


class MetricsConfig(_Section):
    """Prometheus metrics of the agent (edge.metrics); only on this machine unless `host` says otherwise."""

    host: str = "127.0.0.1"
    port: int = Field(9101, ge=0, le=65535)  # 0: any free port (tests)


class ControlConfig(_Section):
    """The local control socket (scan, status, simulated doors)."""

    socket: Path | None = None


class EdgeConfig(_Section):
    """Everything one edge agent needs; `layout` is the parsed file named by `hardware.layout`."""

    locker: str = Field(pattern=LOCKER_ID_PATTERN)
    state_dir: Path
    mqtt: MqttConfig
    codes: CodesConfig
    hardware: HardwareConfig
    layout: LockerLayout
    control: ControlConfig = ControlConfig()
    kiosk: KioskConfig | None = None
    metrics: MetricsConfig | None = None
    telemetry_interval_s: float | None = Field(None, gt=0, le=3600)
    heartbeat_s: float = Field(60, gt=0, le=3600)
    jam_after_s: float = Field(10, gt=0, le=25)  # below the 30 s release window
    outbox_max_rows: int = Field(50_000, ge=10, le=5_000_000)
    sent_archive_rows: int = Field(20_000, ge=0, le=5_000_000)

    @property
    def w1_base(self) -> Path:
        return self.hardware.w1_base

    @property
    def control_socket(self) -> Path:
        """The configured socket, else the per-user default (read from the environment now, not at load)."""
        from edge.control import socket_path  # control imports nothing of ours; keep config import-light

        return self.control.socket or socket_path(self.locker)

    def trusted_keys(self) -> dict[int, Ed25519PublicKey]:
        return self.codes.trusted_keys()

    def with_w1_base(self, w1_base: Path) -> EdgeConfig:
        """A copy reading its sensors from another folder (the simulator's)."""
        return self.model_copy(update={"hardware": self.hardware.model_copy(update={"w1_base": w1_base})})


def load_edge_config(path: Path) -> EdgeConfig:
    """Read and validate an edge TOML file and the layout it names; raise ConfigError or LayoutError."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read edge config {path}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"edge config {path} is not valid TOML: {exc}") from exc
    if "layout" in data:
        raise ConfigError(f'edge config {path}: name the layout file under [hardware] layout = "…"')
    folder = path.resolve().parent
    _resolve(data, folder, ("state_dir",))
    _resolve(data.get("hardware"), folder, ("layout", "w1_base"))
    _resolve(data.get("control"), folder, ("socket",))
    _resolve(data.get("mqtt"), folder, ("ca_file",))
    hardware = data.get("hardware")
    if not isinstance(hardware, dict) or not isinstance(hardware.get("layout"), Path):
        raise ConfigError(f'edge config {path}: [hardware] layout = "<layout file>" is required')
    layout = load_layout(hardware["layout"])
    try:
        return EdgeConfig.model_validate({**data, "layout": layout})
    except ValidationError as exc:
        raise ConfigError(f"invalid edge config {path}: {_problems(exc)}") from exc


def _resolve(section: object, folder: Path, keys: tuple[str, ...]) -> None:
    """Turn the string paths of `section` into absolute Paths relative to the config file's folder."""
    if not isinstance(section, dict):
        return
    for key in keys:
        value = section.get(key)
        if isinstance(value, str) and value:
            section[key] = folder / Path(value).expanduser()


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}" for err in exc.errors())


def _public_key(key_id: int, text: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(text, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        raise ValueError(f"key {key_id} is not the base64 of a 32-byte Ed25519 public key") from None
