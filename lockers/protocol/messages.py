"""Payload types of every MQTT channel, versioned by the `v` field (schema version 1)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from lockers.layout import COMPARTMENT_ID_PATTERN, SENSOR_ID_PATTERN, Zone

SCHEMA_VERSION = 1

CompartmentId = Annotated[str, StringConstraints(pattern=COMPARTMENT_ID_PATTERN)]


class Message(BaseModel):
    """Base of all payloads: frozen, schema-versioned, tolerant of fields added by newer peers."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    v: Literal[1] = SCHEMA_VERSION


# --- dk/v1/{locker}/state -------------------------------------------------------------------------------


class StateMessage(Message):
    """Retained birth (`online`) and Last Will (`offline`) of an edge agent."""

    state: Literal["online", "offline"]
    agent: str | None = Field(None, max_length=40, description="agent version, in the birth message")


# --- dk/v1/{locker}/telemetry ---------------------------------------------------------------------------


class Quality(StrEnum):
    """Whether a reading is a usable temperature, and if not, which fault the sensor showed."""

    OK = "ok"
    CRC_ERROR = "crc_error"
    POWER_ON_RESET = "power_on_reset"  # DS18B20 reports 85.000 °C before its first conversion
    CONVERSION_FAILED = "conversion_failed"  # 127.94 °C
    DISCONNECTED = "disconnected"  # all-FF scratchpad (lost ground) or sensor file gone


class Reading(Message):
    """One temperature sample of one sensor."""

    sensor: str = Field(pattern=SENSOR_ID_PATTERN)
    zone: Zone
    ts: AwareDatetime
    celsius: float | None = Field(None, ge=-60, le=130)
    quality: Quality = Quality.OK

    @model_validator(mode="after")
    def _value_matches_quality(self) -> Reading:
        if (self.quality is Quality.OK) != (self.celsius is not None):
            raise ValueError("a reading carries a temperature exactly when its quality is ok")
        return self


class Telemetry(Message):
    """A batch of readings, sent every sampling interval."""

    readings: list[Reading] = Field(min_length=1, max_length=2000)


# --- dk/v1/{locker}/events ------------------------------------------------------------------------------


class EventKind(StrEnum):
    """What happened at the locker."""

    UNLOCKED = "unlocked"  # lock relay pulsed for a compartment
    DOOR_OPENED = "door_opened"
    DOOR_CLOSED = "door_closed"
    LOADED = "loaded"  # vendor drop-off finished: door opened and closed again
    COLLECTED = "collected"  # pickup finished: door opened and closed again
    RETRIEVED = "retrieved"  # a vendor took goods back (expired, or returned by a resident): opened and closed
    CODE_REJECTED = "code_rejected"
    TAMPER = "tamper"  # door opened while locked
    SENSOR_FAULT = "sensor_fault"
    JAM = "jam"  # lock pulsed but the door not seen open in time: jammed latch or door, or a broken switch
    TELEMETRY_THINNED = "telemetry_thinned"  # the outbox hit its bound and dropped `count` telemetry batches
    KEYPAD_LOCKED = "keypad_locked"  # `count` wrong PINs in a row: the keypad refuses PINs for a while


class Method(StrEnum):
    """How an unlock was asked for."""

    QR = "qr"
    PIN = "pin"
    VENDOR = "vendor"
    REMOTE = "remote"


class RejectReason(StrEnum):
    """Why a code opened nothing; shown to the person at the locker and recorded upstream."""

    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_KEY = "unknown_key"
    WRONG_LOCKER = "wrong_locker"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    ALREADY_USED = "already_used"
    REVOKED = "revoked"
    WRONG_PIN = "wrong_pin"
    NOTHING_TO_OPEN = "nothing_to_open"
    KEYPAD_LOCKED = "keypad_locked"


class Event(Message):
    """One thing that happened, with a unique id (de-duplication) and a per-locker sequence number."""

    id: str = Field(pattern=r"^[0-9a-f]{32}$")
    seq: int = Field(ge=1)
    ts: AwareDatetime
    kind: EventKind
    compartment: CompartmentId | None = None
    order: str | None = Field(None, max_length=40)
    vendor: str | None = Field(None, max_length=40)
    code_id: str | None = Field(None, max_length=40)
    method: Method | None = None
    reason: RejectReason | None = None
    detail: str | None = Field(None, max_length=300)
    count: int | None = Field(None, ge=0)  # how many, where the kind counts something (telemetry_thinned, …)


# --- dk/v1/{locker}/desired -----------------------------------------------------------------------------


class PickupGrant(Message):
    """A ready order: its pickup code id, PIN hash and the compartments that code opens."""

    order: str
    code_id: str
    pin_hash: str | None = None
    compartments: list[CompartmentId] = Field(min_length=1)
    expires_at: AwareDatetime


class DropoffGrant(Message):
    """Compartments a vendor may open to load its part of an order."""

    order: str
    vendor: str
    compartments: list[CompartmentId] = Field(min_length=1)
    until: AwareDatetime
    # The drop-off window's start: compartments booked ahead stay shut to the vendor until then, since another
    # order may use them before (absent from clouds that booked no windows: open at once).
    opens: AwareDatetime | None = None


class RetrievalGrant(Message):
    """Goods a vendor is to take back with its vendor code: an order nobody collected, or a resident's return."""

    order: str
    vendor: str
    compartments: list[CompartmentId] = Field(min_length=1)
    reason: Literal["expired", "return"]


class DepositGrant(Message):
    """Compartments a resident's code opens to put something in (a return: crates, jars, packaging)."""

    order: str
    code_id: str
    pin_hash: str | None = None
    compartments: list[CompartmentId] = Field(min_length=1)
    opens: AwareDatetime
    until: AwareDatetime


class EdgeSettings(Message):
    """Behaviour the cloud configures per locker."""

    unlock_pulse_s: float = Field(0.5, gt=0, le=10)
    telemetry_interval_s: float = Field(30, gt=0, le=300)
    pin_max_attempts: int = Field(5, ge=1, le=20)
    pin_lockout_s: int = Field(300, ge=0, le=86400)


class TrustedKey(Message):
    """A code-signing public key the locker is to trust, until `not_after` (a retired key's rollover end)."""

    kid: int = Field(ge=1, le=2**31)
    public_key: str = Field(pattern=r"^[A-Za-z0-9+/]{43}=$", description="base64 of the raw 32-byte Ed25519 key")
    not_after: AwareDatetime | None = None


class DesiredState(Message):
    """The complete state the cloud wants a locker to hold; a higher version replaces a lower one."""

    version: int = Field(ge=1)
    issued_at: AwareDatetime
    pin_salt: str = Field(pattern=r"^[0-9a-f]{32}$")
    pickups: list[PickupGrant] = []
    dropoffs: list[DropoffGrant] = []
    retrievals: list[RetrievalGrant] = []  # absent from older clouds
    deposits: list[DepositGrant] = []  # absent from older clouds
    revoked: list[str] = []
    settings: EdgeSettings = EdgeSettings()
    keys: list[TrustedKey] = Field([], max_length=16)


# --- dk/v1/{locker}/reported ----------------------------------------------------------------------------


class LocalAlarm(Message):
    """A cold-chain alarm the locker's own rules hold active (the cloud's alerts stay the authority)."""

    sensor: str = Field(pattern=SENSOR_ID_PATTERN)
    zone: Zone
    kind: Literal["temperature", "sensor_fault", "offline"]  # the values of sensors.rules.AlarmKind
    severity: Literal["warning", "critical"]  # the values of sensors.rules.Severity
    since: AwareDatetime  # event time the alarm was raised


class Reported(Message):
    """What the locker has applied, and how its hardware looks."""

    desired_version: int = Field(ge=0)
    agent: str = Field(max_length=40)
    doors: dict[CompartmentId, Literal["open", "closed"]] = {}
    ts: AwareDatetime
    alarms: list[LocalAlarm] = Field([], max_length=200)  # absent from older agents
    # The newest event sequence number the locker had handed out when it built this; 0: none yet, or an older
    # agent that does not say. Lets the cloud see events missing after the last one it received.
    last_seq: int = Field(0, ge=0)


# --- dk/v1/{locker}/cmd and cmd/ack ---------------------------------------------------------------------


MAX_RESEND = 5_000  # sequence numbers one resend command may ask for


class Command(Message):
    """A remote action with an expiry, so a late delivery does nothing: `unlock` compartments, or `resend` the
    events numbered `from_seq`..`to_seq` (inclusive) that the locker still keeps."""

    id: str = Field(pattern=r"^[0-9a-f]{32}$")
    kind: Literal["unlock", "resend"]
    compartments: list[CompartmentId] = []
    from_seq: int | None = Field(None, ge=1)
    to_seq: int | None = Field(None, ge=1)
    expires_at: AwareDatetime
    issued_by: str = Field(max_length=80)

    @model_validator(mode="after")
    def _fields_match_kind(self) -> Command:
        if self.kind == "unlock":
            if not self.compartments:
                raise ValueError("an unlock names at least one compartment")
            if self.from_seq is not None or self.to_seq is not None:
                raise ValueError("an unlock carries no sequence range")
        else:
            if self.compartments:
                raise ValueError("a resend opens nothing: it names no compartments")
            if self.from_seq is None or self.to_seq is None:
                raise ValueError("a resend needs from_seq and to_seq")
            if self.to_seq < self.from_seq:
                raise ValueError("to_seq must not be below from_seq")
            if self.to_seq - self.from_seq + 1 > MAX_RESEND:
                raise ValueError(f"a resend asks for at most {MAX_RESEND} events")
        return self


class CommandAck(Message):
    """The locker's answer to a command."""

    id: str = Field(pattern=r"^[0-9a-f]{32}$")
    ok: bool
    opened: list[CompartmentId] = []
    detail: str = Field("", max_length=300)
