"""Request and response bodies of locker monitoring: alerts, zone limits, contacts and the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from cloud.schemas import Email, Name, Printable, _Request
from lockers.layout import Zone

AlertState = Literal["raised", "acknowledged", "cleared"]
# event_gap: events of a locker missing for too long; conflict: a locker reported something upstream had ruled
# out (a code used offline after its order was cancelled); keypad_locked: wrong PINs in a row locked a keypad.
AlertKind = Literal["temperature", "sensor_fault", "offline", "event_gap", "conflict", "keypad_locked"]
Celsius = Annotated[float, Field(ge=-60, le=130)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), Printable]
WebhookUrl = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=500, pattern=r"^https?://[^\s/$.?#].\S*$")
]


class AlertOut(BaseModel):
    id: int
    locker: str
    zone: Zone | None = Field(description="null for alerts about the whole locker (offline, event_gap, conflict)")
    sensor: str | None
    order: str | None = Field(None, description="the order a conflict is about")
    kind: AlertKind
    severity: Literal["warning", "critical"]
    state: AlertState = Field(description="cleared wins: a cleared alert that was acknowledged says cleared")
    raised_at: datetime = Field(description="the locker's time of the reading that raised it (offline: ours)")
    peak_c: float | None
    detail: str
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    ack_note: str | None
    cleared_at: datetime | None
    escalation_level: int


class AlertAck(_Request):
    note: Note | None = None
    by: Name | None = Field(None, description="who acknowledges, recorded in the audit trail beside 'admin'")


class ZoneLimitsOut(BaseModel):
    zone: Zone
    limit_c: float | None = Field(description="an excursion is a reading above this; null: no temperature alarm")
    critical_c: float | None
    delay_s: float
    hysteresis_c: float
    door_grace_s: float
    custom: bool = Field(description="false while the site defaults apply")
    updated_at: datetime | None


class LockerLimitsOut(BaseModel):
    locker: str
    zones: list[ZoneLimitsOut]


class ZoneLimitsUpdate(_Request):
    """Only the fields sent change; `limit_c: null` switches the temperature alarm of the zone off."""

    limit_c: Celsius | None = None
    critical_c: Celsius | None = None
    delay_s: float | None = Field(None, ge=0, le=86400)
    hysteresis_c: float | None = Field(None, ge=0, le=20)
    door_grace_s: float | None = Field(None, ge=0, le=7200)

    @model_validator(mode="after")
    def _something_to_change(self) -> ZoneLimitsUpdate:
        if not self.model_fields_set:
            raise ValueError("send at least one of limit_c, critical_c, delay_s, hysteresis_c, door_grace_s")
        for name in ("delay_s", "hysteresis_c", "door_grace_s"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class ContactCreate(_Request):
    level: int = Field(0, ge=0, le=9, description="0 hears of every alert; higher levels when nobody acknowledges")
    name: Name
    email: Email | None = None
    webhook_url: WebhookUrl | None = None

    @model_validator(mode="after")
    def _reachable(self) -> ContactCreate:
        if self.email is None and self.webhook_url is None:
            raise ValueError("a contact needs an email address, a webhook_url, or both")
        return self


class ContactOut(BaseModel):
    id: int
    level: int
    name: str
    email: str | None
    webhook_url: str | None
    active: bool
    created_at: datetime


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    old: dict | None
    new: dict | None
