"""The Ed25519 key that signs pickup and vendor codes: loaded from its PEM file, its public half kept in the DB."""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.db import utcnow
from cloud.models import SigningKey
from cloud.settings import write_private_file
from lockers.codes import public_raw
from lockers.errors import ConfigError
from lockers.protocol.messages import TrustedKey

log = logging.getLogger(__name__)

ALGORITHM = "Ed25519"


@dataclass(frozen=True)
class KeyRing:
    """The active signing key with its key id, and the public keys of every key id codes may carry: the active
    one, and keys retired by a rotation until their rollover window ends (`not_after`)."""

    key_id: int
    private_key: Ed25519PrivateKey
    public: dict[int, Ed25519PublicKey]
    not_after: dict[int, datetime] = field(default_factory=dict)  # retired keys only

    def public_keys(self) -> list[dict]:
        """Public keys as published on /api/v1/keys: raw 32 bytes, base64, with the end of a retired key's
        rollover window."""
        return [
            {"kid": kid, "public_key": encode_public(key), "algorithm": ALGORITHM, "not_after": self.not_after.get(kid)}
            for kid, key in sorted(self.public.items())
        ]

    def trusted(self) -> list[TrustedKey]:
        """The keys every locker is told to trust, in its desired state."""
        return [
            TrustedKey(kid=kid, public_key=encode_public(key), not_after=self.not_after.get(kid))
            for kid, key in sorted(self.public.items())
        ]


def encode_public(key: Ed25519PublicKey) -> str:
    return base64.b64encode(public_raw(key)).decode("ascii")


def decode_public(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text))


def create_signing_key_file(path: Path) -> Ed25519PrivateKey:
    """Generate a new private key and write it as unencrypted PKCS#8 PEM, readable by the owner only."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    write_private_file(path, pem.decode("ascii"))
    return key


def load_signing_key_file(path: Path, *, create: bool) -> Ed25519PrivateKey:
    """Read the private key; generate it when missing and `create` is set (development), else ConfigError."""
    if not path.is_file():
        if not create:
            raise ConfigError(f"signing key file {path} does not exist")
        log.warning("no signing key at %s: generated a new one", path)
        return create_signing_key_file(path)
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError, OSError) as exc:
        raise ConfigError(f"cannot read signing key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"signing key {path} is not an Ed25519 key")
    return key


def load_key_ring(session: Session, private_key: Ed25519PrivateKey, rollover: timedelta = timedelta(days=7)) -> KeyRing:
    """Register the key's public half (key id 1 for the first key, then 2, ...); a new key retires the one
    before it, whose codes stay valid for `rollover` (lockers keep trusting it that long)."""
    now = utcnow()
    encoded = encode_public(private_key.public_key())
    row = session.scalar(select(SigningKey).where(SigningKey.public_key == encoded))
    if row is None:
        next_kid = (session.scalar(select(func.max(SigningKey.kid))) or 0) + 1
        row = SigningKey(kid=next_kid, public_key=encoded, algorithm=ALGORITHM)
        session.add(row)
        session.flush()
        log.info("registered signing key id %d", next_kid)
    elif row.retired_at is not None:
        log.warning("signing key id %d was retired at %s and is active again", row.kid, row.retired_at)
        row.retired_at = None
    public: dict[int, Ed25519PublicKey] = {}
    not_after: dict[int, datetime] = {}
    for key in session.scalars(select(SigningKey)):
        if key.kid != row.kid and key.retired_at is None:
            key.retired_at = now
            log.info("signing key id %d retired: its codes stay valid until %s", key.kid, now + rollover)
        if key.kid != row.kid:
            if key.retired_at + rollover <= now:
                continue  # its rollover window is over: no code signed with it opens anything any more
            not_after[key.kid] = key.retired_at + rollover
        public[key.kid] = decode_public(key.public_key)
    return KeyRing(key_id=row.kid, private_key=private_key, public=public, not_after=not_after)


def rotate_signing_key_file(path: Path) -> Path:
    """Set the current key aside (never deleted: it names what old codes were signed with) and create a new
    one at `path`; the next start registers it and retires the old one. Returns where the old key went."""
    if not path.is_file():
        raise ConfigError(f"there is no signing key at {path} to rotate; `python -m cloud init` creates one")
    load_signing_key_file(path, create=False)  # refuse to set aside something that is not our key
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    retired = path.with_name(f"{path.name}.retired-{stamp}")
    path.rename(retired)
    create_signing_key_file(path)
    return retired
