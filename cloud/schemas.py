"""Request and response bodies of the HTTP API (also what the services return)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from cloud.lifecycle import OrderKind
from lockers.layout import LOCKER_ID_PATTERN, LockerLayout, Size, Zone
from provisioning.acl import RESERVED_USERNAMES

VENDOR_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,39}$"


def _printable(text: str) -> str:
    # Control characters (NUL above all: PostgreSQL cannot store it) have no place in names or ids.
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise ValueError("must not contain control characters")
    return text


Printable = AfterValidator(_printable)
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), Printable]
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, max_length=40, pattern=r"^\+?[0-9 ()-]{6,39}$")]
Ref = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40), Printable]


class _Request(BaseModel):
    # Unknown fields are refused so a typo ("partz") is reported instead of silently ignored.
    model_config = ConfigDict(extra="forbid")


# --- orders ---------------------------------------------------------------------------------------------


class ResidentIn(_Request):
    name: Name
    email: Email | None = None
    phone: Phone | None = None


class PartIn(_Request):
    zone: Zone
    size: Size
    vendor: Ref | None = Field(None, description="vendor id; defaults to the calling vendor, required for admins")


class WindowIn(_Request):
    start: AwareDatetime
    end: AwareDatetime


class ReturnCreate(_Request):
    """A resident returns crates, jars or packaging of a collected order to one of its vendors."""

    vendor: Ref | None = Field(None, description="whose they are; may be left out when the order had one vendor")
    locker: Ref | None = Field(None, description="where the resident brings it; default: the order's locker")
    size: Size = Field(Size.M, description="the compartment size the return needs")
    window: WindowIn | None = Field(
        None, description="when the resident brings it; default: from now for DK_DROPOFF_WINDOW_HOURS"
    )


class OrderCreate(_Request):
    locker: Ref
    resident: ResidentIn
    parts: list[PartIn] = Field(min_length=1, max_length=12)
    accessible: bool = Field(False, description="the resident needs low (wheelchair-reachable) compartments")
    dropoff: WindowIn | None = Field(
        None, description="when the vendors bring the goods; default: from now for DK_DROPOFF_WINDOW_HOURS"
    )
    pickup_by: AwareDatetime | None = Field(
        None,
        description="when the resident will have collected; default and latest: the end of the drop-off window "
        "plus the shortest time the order's food may wait (chilled and frozen 24 h, ambient 48 h)",
    )


class ResidentOut(BaseModel):
    name: str
    email: str | None
    phone: str | None


class PartOut(BaseModel):
    zone: Zone
    size: Size
    vendor: str
    compartment: str | None
    loaded_at: datetime | None
    collected_at: datetime | None = Field(description="by the resident (of a return: null)")
    retrieved_at: datetime | None = Field(description="taken back by the vendor: expired goods, or a return")


class TransitionOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str | None = Field(alias="from")
    to: str
    at: datetime
    cause: str


class ColdChainPartOut(BaseModel):
    zone: Zone
    compartment: str | None
    vendor: str
    start: datetime = Field(description="the locker's time of loading")
    end: datetime = Field(description="the locker's time of collection (or the expiry)")
    samples: int
    faulty_samples: int
    min_c: float | None
    max_c: float | None
    mean_c: float | None = Field(description="time-weighted")
    mkt_c: float | None = Field(description="mean kinetic temperature")
    minutes_above_limit: float
    limit_c: float | None = Field(description="null for ambient goods: no upper limit")
    breached: bool
    alerts: list[int] = Field(description="ids of the zone's alerts during the dwell")


class ColdChainOut(BaseModel):
    breached: bool = Field(description="a temperature alert of a part's zone overlapped its dwell")
    policy: Literal["warn", "block"]
    parts: list[ColdChainPartOut]


class OrderOut(BaseModel):
    id: str
    kind: OrderKind = Field(description="delivery: vendors load, the resident collects; return: the other way round")
    locker: str
    status: str
    accessible: bool
    compartments: list[str]
    parts: list[PartOut]
    resident: ResidentOut
    created_at: datetime
    dropoff_from: datetime = Field(description="the vendors' codes open its compartments from then")
    dropoff_until: datetime
    pickup_by: datetime | None = Field(
        description="the compartments are booked until then (null for orders booked before bookings had an end)"
    )
    pickup_deadline: datetime | None = Field(
        description="set when the order is ready: pickup_by, or sooner when the food may not wait that long"
    )
    history: list[TransitionOut]
    coldchain_breached: bool = Field(description="a temperature alert hit these goods while they were in the locker")
    pickup_blocked: bool = Field(description="breached under the site policy block: the code no longer opens")
    coldchain: ColdChainOut | None = Field(description="the cold-chain record, once collected or expired")


class PickupOut(BaseModel):
    order: str
    locker: str
    compartments: list[str]
    token: str = Field(description="signed pickup token; the QR codes encode exactly this text")
    pin: str
    qr_png: str = Field(description="data:image/png;base64,...")
    qr_svg: str
    expires_at: datetime
    resident_url: str = Field(description="capability link for the resident (no login needed)")
    resident_link_expires_at: datetime = Field(description="the link stops working then (410)")
    coldchain_breached: bool = Field(description="the goods got too warm while waiting (site policy: warn)")


class OrderColdChainOut(BaseModel):
    order: str
    status: str
    coldchain_breached: bool
    coldchain: ColdChainOut | None = Field(description="null until the order is collected or expired")


# --- vendors --------------------------------------------------------------------------------------------


class VendorCreate(_Request):
    id: Annotated[str, StringConstraints(pattern=VENDOR_ID_PATTERN)] | None = Field(
        None, description="slug; derived from the name when absent"
    )
    name: Name
    kind: Ref = "producer"
    email: Email | None = None
    api_key: Annotated[str, StringConstraints(min_length=8, max_length=200), Printable] | None = Field(
        None, description="generated when absent"
    )


class VendorCodeOut(BaseModel):
    token: str
    code_id: str
    expires_at: datetime
    qr_png: str
    qr_svg: str


class DropoffOut(BaseModel):
    order: str
    locker: str
    compartments: list[str]
    dropoff_from: datetime = Field(description="the vendor's code opens these compartments from then")
    dropoff_until: datetime = Field(description="… until then")
    loaded_at: datetime | None = Field(None, description="when the last of them was loaded; null while pending")


class TakeBackOut(BaseModel):
    order: str
    locker: str
    compartments: list[str]
    reason: Literal["expired", "return"] = Field(description="nobody collected the order, or a resident's return")
    since: datetime = Field(description="the pickup deadline that passed, or when the resident brought the return")


class VendorOut(BaseModel):
    id: str
    name: str
    kind: str
    email: str | None
    code: VendorCodeOut
    dropoffs: list[DropoffOut]
    take_back: list[TakeBackOut] = Field(description="goods to take back with the vendor code, oldest first")


class VendorCreated(VendorOut):
    api_key: str = Field(description="shown once; only its hash is stored")


class VendorSummary(BaseModel):
    id: str
    name: str
    kind: str
    email: str | None
    created_at: datetime


# --- lockers --------------------------------------------------------------------------------------------


def _not_reserved(locker_id: str) -> str:
    if locker_id in RESERVED_USERNAMES:
        raise ValueError(f"{locker_id!r} is reserved for the service's own broker accounts; choose another locker id")
    return locker_id


Address = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Printable]


class GeoPoint(_Request):
    """A point on the map (WGS 84), where residents find the locker."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class LockerCreate(_Request):
    id: Annotated[str, StringConstraints(pattern=LOCKER_ID_PATTERN), AfterValidator(_not_reserved)] = Field(
        description="also the locker's MQTT username: lower case letters, digits and dashes"
    )
    name: Name
    village: Name | None = None
    address: Address | None = Field(
        None, description="street and a hint for residents, e.g. 'Markt 1, by the church door'"
    )
    location: GeoPoint | None = Field(None, description="the locker on the map; the resident page links to it")
    layout: LockerLayout


class LockerUpdate(_Request):
    """What the foundation may change of a registered locker; absent fields stay, null clears."""

    name: Name | None = None
    village: Name | None = None
    address: Address | None = None
    location: GeoPoint | None = None

    @model_validator(mode="after")
    def _name_stays(self) -> LockerUpdate:
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("a locker keeps a name: send a new one or leave the field out")
        return self


class ZoneOut(BaseModel):
    zone: Zone
    celsius: float | None
    quality: str | None
    ts: datetime | None


class CompartmentOut(BaseModel):
    id: str
    zone: Zone
    size: Size
    accessible: bool
    occupied: bool
    order: str | None = Field(None, description="shown to admins and to the vendor of that order")
    status: Literal["free", "reserved", "loaded", "ready", "expired", "return"] = Field(
        description="what it holds or waits for now; return: a resident's return waiting for its vendor"
    )
    booked_from: datetime | None = Field(None, description="free now, booked from then (a later drop-off window)")
    door: Literal["open", "closed", "unknown"]
    celsius: float | None


class EventStreamOut(BaseModel):
    """What arrived of the locker's event numbering (see docs/protocol.md, "Event numbering")."""

    last_seq: int = Field(description="the highest event number received")
    contiguous_to: int = Field(description="every event from 1 up to this number has arrived")
    gaps: list[tuple[int, int]] = Field(description="missing numbers as [from, to] ranges, oldest first")
    missing: int = Field(description="how many numbers the gaps hold")
    numbering: int = Field(description="how often the locker started numbering again (0: never)")
    restarted_at: datetime | None
    written_off: list[tuple[int, int]] = Field(description="ranges still missing when the numbering restarted")


class LockerOut(BaseModel):
    id: str
    name: str
    village: str | None
    address: str | None = None
    location: GeoPoint | None = None
    online: bool = Field(description="its last state message says online and it was heard within the heartbeat timeout")
    last_seen: datetime | None = Field(description="when the cloud last received a live message from it")
    heartbeat_age_s: float | None = Field(description="seconds since last_seen (our wall clock)")
    agent: str | None
    desired_version: int
    reported_version: int | None
    zones: list[ZoneOut]
    compartments: list[CompartmentOut]
    events: EventStreamOut | None = Field(None, description="event numbering and gaps; shown to admins")


class EventOut(BaseModel):
    """An event as the locker sent it (see docs/protocol.md, "Events"), plus when the cloud received it."""

    id: str
    seq: int
    numbering: int = Field(0, description="which numbering of the locker seq belongs to (see events.numbering)")
    ts: datetime
    kind: str
    compartment: str | None = None
    order: str | None = None
    vendor: str | None = None
    code_id: str | None = None
    method: str | None = None
    reason: str | None = None
    detail: str | None = None
    count: int | None = None
    received_at: datetime


class EventsOut(BaseModel):
    locker: str
    events: list[EventOut]


# --- system ---------------------------------------------------------------------------------------------


class PublicKeyOut(BaseModel):
    kid: int
    public_key: str = Field(description="base64 of the raw 32-byte Ed25519 public key")
    algorithm: Literal["Ed25519"]
    not_after: datetime | None = Field(None, description="a retired key: codes signed with it work until then")


class KeysOut(BaseModel):
    keys: list[PublicKeyOut]


class IngestStatsOut(BaseModel):
    received: int
    processed: int
    duplicates: int
    inconsistent: int = Field(description="events stored but not applied (unknown order, unexpected state)")
    dropped: int
    dropped_by_reason: dict[str, int]


class ExportStatsOut(BaseModel):
    enabled: bool
    submitted: int
    written: int
    failed: int
    dropped: int
    queued: int
    write_errors: int


class HealthOut(BaseModel):
    status: Literal["ok"]
    role: Literal["main", "ingest"] = Field(
        description="main: the node that sends notifications and watches the clock; ingest: an extra ingest node"
    )
    mqtt_connected: bool
    ingest: IngestStatsOut
    export: ExportStatsOut = Field(description="InfluxDB export counters (enabled only when DK_INFLUX_URL is set)")


class ErrorOut(BaseModel):
    detail: str = Field(description="what went wrong, in a sentence a person understands")


def error_responses(*codes: int) -> dict[int | str, dict]:
    """OpenAPI `responses` entries for the error statuses a route can answer with."""
    return {code: {"model": ErrorOut} for code in codes}
