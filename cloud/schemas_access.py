"""Request and response bodies of integrations (shop platforms acting for their vendors)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from cloud.schemas import VENDOR_ID_PATTERN, Name, Printable

VendorId = Annotated[str, StringConstraints(pattern=VENDOR_ID_PATTERN)]


class IntegrationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: VendorId = Field(description="slug, e.g. zwartsluis-webshop")
    name: Name
    vendors: list[VendorId] = Field(min_length=1, max_length=500, description="the vendors it may order for")
    api_key: Annotated[str, StringConstraints(min_length=24, max_length=200), Printable] | None = Field(
        None, description="generated when absent"
    )


class IntegrationOut(BaseModel):
    id: str
    name: str
    vendors: list[str]
    created_at: datetime


class IntegrationCreated(IntegrationOut):
    api_key: str = Field(description="shown once; only its hash is stored")
