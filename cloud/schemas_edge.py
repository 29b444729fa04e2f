"""Request and response bodies of the locker link: event gaps and remote commands."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from cloud.schemas import EventStreamOut, Name, Printable, _Request

CommandState = Literal["sent", "acknowledged", "refused", "expired", "failed"]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=300), Printable]
CompartmentRef = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=8), Printable]


class GapOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: int = Field(alias="from")
    to: int
    count: int
    since: datetime = Field(description="when the cloud first knew these events were missing (our clock)")
    overdue: bool = Field(description="open longer than the gap alert delay")
    quiet: bool = Field(description="below a restart of the numbering: never alerted, written off when overdue")
    resend_requested_at: datetime | None = Field(
        None, description="when the cloud last asked the locker to send these events again (our clock)"
    )
    resend_requests: int = Field(0, description="how often the cloud asked the locker for these events")


class EventGapsOut(EventStreamOut):
    locker: str
    gaps: list[GapOut]  # type: ignore[assignment] - the detailed form of the [from, to] pairs
    alert_after_s: float = Field(description="a gap open this long raises an event_gap alert")


class UnlockRequest(_Request):
    compartments: list[CompartmentRef] = Field(min_length=1, max_length=40)
    reason: Reason = Field(description="why, for the audit trail (e.g. 'resident locked out, phone call 14:02')")
    expires_in_s: int = Field(60, ge=1, le=3600, description="the locker ignores the command after this")
    by: Name | None = Field(None, description="who asks, recorded beside 'admin'")


class CommandOut(BaseModel):
    id: str
    locker: str
    kind: Literal["unlock", "resend"] = Field(description="resend: the cloud asking for missing events")
    compartments: list[str]
    state: CommandState = Field(description="expired: no answer came before expires_at")
    reason: str
    issued_by: str
    issued_at: datetime
    expires_at: datetime
    answered_at: datetime | None = Field(description="when the locker's acknowledgement arrived (our clock)")
    opened: list[str] | None = Field(description="compartments the locker says it unlocked")
    detail: str | None = Field(description="the locker's words, or why sending failed")


class CommandsOut(BaseModel):
    locker: str
    commands: list[CommandOut]
