"""Identifiers and secrets the service hands out: order ids, API keys, resident links.

Resident links: the token in a resident's pickup link is HMAC-SHA256(link secret, "resident-link:" + order id),
so the service can show the link again (to the vendor, in later notifications) without storing it; the DB
keeps only its SHA-256, which is what a presented token is checked against. The link secret is a random
file in data_dir (`link-secret`), generated in development and required in production; replacing it makes
new links differ from the stored hashes, so links of orders that are already out stop working.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from pathlib import Path

from cloud.settings import write_private_file
from lockers.errors import ConfigError

log = logging.getLogger(__name__)

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ORDER_ID_LENGTH = 8
_CROCKFORD_ALIASES = str.maketrans({"I": "1", "L": "1", "O": "0"})
_ORDER_ID = re.compile(f"^[{CROCKFORD}]{{{ORDER_ID_LENGTH}}}$")


def new_order_id() -> str:
    """8 random Crockford base32 characters (40 bits): short enough to read over the phone."""
    return "".join(secrets.choice(CROCKFORD) for _ in range(ORDER_ID_LENGTH))


def normalize_order_id(text: str) -> str:
    """Accept what people type: lower case, and I/L/O for 1/1/0, as Crockford base32 intends."""
    return text.strip().upper().translate(_CROCKFORD_ALIASES)


def is_order_id(text: str) -> bool:
    return _ORDER_ID.fullmatch(text) is not None


def new_api_key() -> str:
    return "dkv_" + secrets.token_urlsafe(32)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def same_secret(presented: str, expected_hash: str) -> bool:
    """Constant-time check of a presented secret against a stored SHA-256."""
    return hmac.compare_digest(sha256_hex(presented), expected_hash)


class ResidentLinks:
    """Derives the capability token of an order's resident link from the link secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ConfigError("the resident link secret must be at least 32 bytes")
        self._secret = secret

    def token(self, order_id: str) -> str:
        digest = hmac.new(self._secret, b"resident-link:" + order_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:24]).decode("ascii")

    def token_hash(self, order_id: str) -> str:
        return sha256_hex(self.token(order_id))


def load_link_secret(path: Path, *, create: bool) -> bytes:
    """Read the hex secret from `path`; create it when missing and `create` is set, else ConfigError."""
    return load_secret_file(path, create=create, what="resident link secret")


def load_secret_file(path: Path, *, create: bool, what: str) -> bytes:
    """A 32-byte random secret kept as hex in `path` (created when missing and `create` is set, else ConfigError)."""
    if not path.is_file():
        if not create:
            raise ConfigError(f"{what} file {path} does not exist")
        secret = secrets.token_bytes(32)
        write_private_file(path, secret.hex() + "\n")
        log.warning("no %s at %s: generated a new one", what, path)
        return secret
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (ValueError, OSError) as exc:
        raise ConfigError(f"cannot read {what} {path}: it must hold hex digits ({exc})") from exc
