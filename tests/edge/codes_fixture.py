"""Real keys, tokens, PIN hashes and desired states for edge tests (nothing here is faked)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lockers import codes
from lockers.protocol.messages import DesiredState, DropoffGrant, EdgeSettings, PickupGrant

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SALT = "0123456789abcdef0123456789abcdef"


@dataclass
class CodeBook:
    """A cloud signing key and helpers to issue what the cloud would issue."""

    locker: str = "demo-1"
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    key_id: int = 1

    @property
    def public_keys(self) -> dict:
        return {self.key_id: self.key.public_key()}

    @property
    def config_keys(self) -> dict[str, str]:
        """The `[codes] keys` table of an edge.toml."""
        return {str(self.key_id): base64.b64encode(codes.public_raw(self.key.public_key())).decode()}

    def pickup(
        self,
        order: str,
        compartments: list[str],
        *,
        code_id: str,
        locker: str | None = None,
        start: datetime = NOW - timedelta(hours=1),
        hours: int = 24,
        key: Ed25519PrivateKey | None = None,
    ) -> str:
        claims = codes.pickup_claims(
            key_id=self.key_id,
            locker=locker or self.locker,
            order=order,
            compartments=compartments,
            not_before=start,
            valid_for=timedelta(hours=hours),
            code_id=code_id,
        )
        return codes.issue_token(claims, key or self.key)

    def deposit(
        self, order: str, compartments: list[str], *, code_id: str, start: datetime = NOW - timedelta(hours=1)
    ) -> str:
        claims = codes.pickup_claims(
            key_id=self.key_id,
            locker=self.locker,
            order=order,
            compartments=compartments,
            not_before=start,
            valid_for=timedelta(hours=6),
            code_id=code_id,
            kind=codes.CodeKind.DEPOSIT,
        )
        return codes.issue_token(claims, self.key)

    def vendor(self, vendor: str, *, code_id: str, start: datetime = NOW - timedelta(days=30), days: int = 365) -> str:
        claims = codes.vendor_claims(
            key_id=self.key_id, vendor=vendor, not_before=start, valid_for=timedelta(days=days), code_id=code_id
        )
        return codes.issue_token(claims, self.key)


def grant(
    order: str,
    code_id: str,
    pin: str | None,
    compartments: list[str],
    *,
    expires_at: datetime = NOW + timedelta(hours=23),
) -> PickupGrant:
    return PickupGrant(
        order=order,
        code_id=code_id,
        pin_hash=codes.hash_pin(pin, SALT) if pin else None,
        compartments=compartments,
        expires_at=expires_at,
    )


def dropoff(
    order: str, vendor: str, compartments: list[str], *, until: datetime = NOW + timedelta(hours=6)
) -> DropoffGrant:
    return DropoffGrant(order=order, vendor=vendor, compartments=compartments, until=until)


def desired(
    version: int = 1,
    *,
    pickups=(),
    dropoffs=(),
    retrievals=(),
    deposits=(),
    revoked=(),
    issued_at: datetime = NOW,
    **settings,
) -> DesiredState:
    return DesiredState(
        version=version,
        issued_at=issued_at,
        pin_salt=SALT,
        pickups=list(pickups),
        dropoffs=list(dropoffs),
        retrievals=list(retrievals),
        deposits=list(deposits),
        revoked=list(revoked),
        settings=EdgeSettings(**settings),
    )
