"""Request and response bodies of locker onboarding: enrollment tokens and broker credentials."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from cloud.schemas import PublicKeyOut


class BrokerOut(BaseModel):
    """Where the locker finds the broker, and the CA that signed its TLS certificate (none: plain MQTT)."""

    host: str
    port: int
    ca_pem: str | None = Field(None, description="PEM of the CA to trust; present means: connect with TLS")


class EnrollmentOut(BaseModel):
    """A one-time enrollment token; shown once, only its hash is kept."""

    locker: str
    token: str = Field(description="trade it once at POST /api/v1/enroll; dead after use or expiry")
    expires_at: datetime
    broker: BrokerOut


class EnrollRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=20, max_length=200)


class DeviceCredentialsOut(BaseModel):
    """The locker's own broker identity; the password is shown this once."""

    locker: str
    broker: BrokerOut
    username: str
    password: str
    generation: int = Field(description="how many times credentials were issued to this locker")
    keys: list[PublicKeyOut] = Field(description="the code-verification public keys to trust")


class CredentialStatusOut(BaseModel):
    """Whether the locker has a broker account, since when, and open enrollment tokens."""

    locker: str
    username: str | None
    generation: int
    issued_at: datetime | None
    revoked_at: datetime | None
    active: bool
    open_enrollments: int
