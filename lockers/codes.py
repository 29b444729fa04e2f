"""Pickup and vendor codes: Ed25519-signed CBOR tokens in base45 for QR, and 6-digit PINs. Pure, no I/O.

Token text: base45(payload || signature), where payload is the CBOR array
``[version, kind, key_id, locker_tag, subject, compartments, not_before, valid_minutes, code_id]``
and the signature is Ed25519 over ``DOMAIN + payload``. ``locker_tag`` is the first 4 bytes of
SHA-256(locker id), or empty for a vendor code valid at every locker; ``compartments`` is the sorted ids
run together ("B2C1"), ``not_before`` Unix seconds. Every field is chosen for size: base45 keeps the text
in the QR alphanumeric alphabet, and a pickup code for up to three compartments fits QR version 6 at
level M (at most 154 characters), which phone cameras and cheap scanners read easily.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum

import base45
import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from lockers.errors import CodeRejected
from lockers.protocol.messages import RejectReason

FORMAT_VERSION = 1
DOMAIN = b"dorpskluis-code-v1\x00"
SIGNATURE_BYTES = 64
MAX_TOKEN_CHARS = 600
_COMPARTMENT_RUN = re.compile(r"[A-Z][0-9]{1,2}")
PIN_LENGTH = 6
_PIN_HASH_BYTES = 16


class CodeKind(IntEnum):
    """What a token is for."""

    PICKUP = 1
    VENDOR = 2
    DEPOSIT = 3  # a resident puts a return in (crates, jars, packaging)


@dataclass(frozen=True, slots=True)
class CodeClaims:
    """The signed content of a token."""

    kind: CodeKind
    key_id: int
    locker_tag: bytes  # empty: valid at every locker (vendor codes)
    subject: str  # order id for pickups and deposits, vendor id for vendor codes
    compartments: tuple[str, ...]
    not_before: datetime
    expires_at: datetime
    code_id: str

    def valid_for(self, locker: str) -> bool:
        return not self.locker_tag or self.locker_tag == locker_tag(locker)


def locker_tag(locker: str) -> bytes:
    """Short, fixed-size stand-in for a locker id inside a token."""
    return hashlib.sha256(locker.encode()).digest()[:4]


def new_code_id() -> str:
    """A random id by which a code can be consumed or revoked (unique among a locker's live codes)."""
    return secrets.token_hex(4)


def key_fingerprint(public_key: Ed25519PublicKey) -> str:
    return hashlib.sha256(public_raw(public_key)).hexdigest()[:16]


def public_raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def issue_token(claims: CodeClaims, private_key: Ed25519PrivateKey) -> str:
    """Sign `claims` and return the QR-ready token text."""
    payload = cbor2.dumps(
        [
            FORMAT_VERSION,
            int(claims.kind),
            claims.key_id,
            claims.locker_tag,
            claims.subject,
            "".join(claims.compartments),
            _epoch(claims.not_before),
            (_epoch(claims.expires_at) - _epoch(claims.not_before)) // 60,
            bytes.fromhex(claims.code_id),
        ]
    )
    signature = private_key.sign(DOMAIN + payload)
    return base45.b45encode(payload + signature).decode("ascii")


def verify_token(
    text: str,
    keys: Mapping[int, Ed25519PublicKey],
    locker: str,
    now: datetime,
) -> CodeClaims:
    """Decode and check a token for `locker` at time `now`; raise CodeRejected with the reason otherwise."""
    claims, payload, signature = _decode(text)
    key = keys.get(claims.key_id)
    if key is None:
        raise CodeRejected(RejectReason.UNKNOWN_KEY, f"code signed with unknown key {claims.key_id}")
    try:
        key.verify(signature, DOMAIN + payload)
    except InvalidSignature:
        raise CodeRejected(RejectReason.BAD_SIGNATURE, "code signature does not verify") from None
    if not claims.valid_for(locker):
        raise CodeRejected(RejectReason.WRONG_LOCKER, "code belongs to another locker")
    if now < claims.not_before:
        raise CodeRejected(RejectReason.NOT_YET_VALID, f"code valid from {claims.not_before:%Y-%m-%d %H:%M} UTC")
    if now >= claims.expires_at:
        raise CodeRejected(RejectReason.EXPIRED, f"code expired at {claims.expires_at:%Y-%m-%d %H:%M} UTC")
    return claims


def peek_claims(text: str) -> CodeClaims:
    """The claims of a token WITHOUT checking its signature: for the issuer's own bookkeeping (which key signed
    a code it stored), never to decide whether something opens; raise CodeRejected when malformed."""
    return _decode(text)[0]


def _decode(text: str) -> tuple[CodeClaims, bytes, bytes]:
    """Parse token text into claims, signed payload and signature, without checking the signature."""
    malformed = CodeRejected(RejectReason.MALFORMED, "not a Dorpskluis code")
    if len(text) > MAX_TOKEN_CHARS:
        raise malformed
    try:
        raw = base45.b45decode(text)
    except (ValueError, TypeError):
        raise malformed from None
    payload, signature = raw[:-SIGNATURE_BYTES], raw[-SIGNATURE_BYTES:]
    if len(payload) < 1 or len(signature) != SIGNATURE_BYTES:
        raise malformed
    try:
        fields = cbor2.loads(payload)
        version, kind, key_id, tag, subject, compartments, nbf, minutes, code_id = fields
        if version != FORMAT_VERSION:
            raise CodeRejected(RejectReason.MALFORMED, f"code format version {version} is not supported")
        claims = CodeClaims(
            kind=CodeKind(kind),
            key_id=_checked(key_id, int),
            locker_tag=_checked(tag, bytes),
            subject=_checked(subject, str),
            compartments=_split_compartments(_checked(compartments, str)),
            not_before=datetime.fromtimestamp(_checked(nbf, int), UTC),
            expires_at=datetime.fromtimestamp(nbf + 60 * _checked(minutes, int), UTC),
            code_id=_checked(code_id, bytes).hex(),
        )
    except CodeRejected:
        raise
    except Exception:  # cbor2 raises a zoo of errors on hostile input; all of them mean "malformed"
        raise malformed from None
    return claims, payload, signature


def _split_compartments(run: str) -> tuple[str, ...]:
    ids = tuple(_COMPARTMENT_RUN.findall(run))
    if "".join(ids) != run:
        raise ValueError("compartment run does not parse")
    return ids


def _checked(value, kind):
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError(f"expected {kind.__name__}")
    return value


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def pickup_claims(
    *,
    key_id: int,
    locker: str,
    order: str,
    compartments: list[str],
    not_before: datetime,
    valid_for: timedelta,
    code_id: str | None = None,
    kind: CodeKind = CodeKind.PICKUP,
) -> CodeClaims:
    """Claims of a single-use code for one order at one locker: a pickup, or (kind DEPOSIT) a return's deposit."""
    return CodeClaims(
        kind=kind,
        key_id=key_id,
        locker_tag=locker_tag(locker),
        subject=order,
        compartments=tuple(sorted(compartments)),
        not_before=not_before.replace(microsecond=0),
        expires_at=not_before.replace(microsecond=0) + _whole_minutes(valid_for),
        code_id=code_id or new_code_id(),
    )


def _whole_minutes(span: timedelta) -> timedelta:
    return timedelta(minutes=int(span.total_seconds() // 60))


def vendor_claims(
    *, key_id: int, vendor: str, not_before: datetime, valid_for: timedelta, code_id: str | None = None
) -> CodeClaims:
    """Claims of a long-lived vendor code, valid at every locker for that vendor's pending drop-offs."""
    return CodeClaims(
        kind=CodeKind.VENDOR,
        key_id=key_id,
        locker_tag=b"",
        subject=vendor,
        compartments=(),
        not_before=not_before.replace(microsecond=0),
        expires_at=not_before.replace(microsecond=0) + _whole_minutes(valid_for),
        code_id=code_id or new_code_id(),
    )


# --- PINs -----------------------------------------------------------------------------------------------


def is_pin(text: str) -> bool:
    return len(text) == PIN_LENGTH and text.isascii() and text.isdigit()


def new_pin_salt() -> str:
    """Per-locker salt for PIN hashes, hex."""
    return secrets.token_hex(16)


@dataclass(frozen=True, slots=True)
class ScryptCost:
    """scrypt parameters of a PIN hash; they travel with the hash (`$scrypt$ln=10,r=8,p=1$<hex>`)."""

    log_n: int
    r: int = 8
    p: int = 1

    @property
    def memory(self) -> int:
        return 128 * self.r * 2**self.log_n

    @property
    def prefix(self) -> str:
        return f"$scrypt$ln={self.log_n},r={self.r},p={self.p}$"


# New PIN hashes: ~3 ms on the x86 benchmark machine, ~10-15 ms on a Raspberry Pi 4, inside the 20 ms unlock
# budget; no edge-affordable cost makes brute force of a million PINs expensive (docs/security.md, "PINs").
PIN_COST = ScryptCost(log_n=10)
# Hashes without a prefix (bare 32 hex digits) are from before the cost travelled with them: N=2^12.
LEGACY_PIN_COST = ScryptCost(log_n=12)
# What an edge agrees to compute for a stored hash: a hostile desired state must not make it hash for seconds.
_MAX_LOG_N, _MAX_R, _MAX_P, _MAX_MEMORY = 16, 16, 4, 32 * 2**20
_PIN_HASH = re.compile(r"\$scrypt\$ln=([0-9]{1,2}),r=([0-9]{1,2}),p=([0-9])\$([0-9a-f]{32})|([0-9a-f]{32})")


def hash_pin(pin: str, salt_hex: str, cost: ScryptCost = PIN_COST) -> str:
    """Salted scrypt hash of a PIN with its cost; the same salt for a whole locker so a typed PIN is hashed once."""
    digest = hashlib.scrypt(
        pin.encode("ascii"),
        salt=bytes.fromhex(salt_hex),
        n=2**cost.log_n,
        r=cost.r,
        p=cost.p,
        dklen=_PIN_HASH_BYTES,
        maxmem=2 * cost.memory,
    ).hex()
    return digest if cost == LEGACY_PIN_COST else cost.prefix + digest


def pin_hash_cost(stored: str) -> ScryptCost | None:
    """The cost a stored PIN hash was made with, or None when it is malformed or costs more than an edge allows."""
    match = _PIN_HASH.fullmatch(stored)
    if match is None:
        return None
    if match[5]:
        return LEGACY_PIN_COST
    cost = ScryptCost(int(match[1]), int(match[2]), int(match[3]))
    limits = 1 <= cost.log_n <= _MAX_LOG_N and 1 <= cost.r <= _MAX_R and 1 <= cost.p <= _MAX_P
    return cost if limits and cost.memory <= _MAX_MEMORY else None


class TypedPin:
    """A PIN as typed at the keypad, hashed at most once per cost it is compared under (and for at most
    `max_costs` costs: one normally, two while hashes of an older cost are still live)."""

    def __init__(self, pin: str, salt_hex: str, *, max_costs: int = 2) -> None:
        self._pin = pin
        self._salt = salt_hex
        self._max_costs = max_costs
        self._hashes: dict[ScryptCost, str] = {}

    @property
    def hashes_computed(self) -> int:
        return len(self._hashes)

    def matches(self, stored: str | None) -> bool:
        """Whether `stored` is the hash of this PIN (constant-time compare)."""
        cost = pin_hash_cost(stored) if stored else None
        if cost is None:
            return False
        mine = self._hashes.get(cost)
        if mine is None:
            if len(self._hashes) >= self._max_costs:
                return False
            mine = self._hashes[cost] = hash_pin(self._pin, self._salt, cost)
        return hmac.compare_digest(mine, stored)


def is_weak_pin(pin: str) -> bool:
    """PINs people guess first: one repeated digit, or a straight run up or down."""
    digits = [int(d) for d in pin]
    steps = {b - a for a, b in zip(digits, digits[1:], strict=False)}
    return len(set(digits)) == 1 or steps in ({1}, {-1})


def new_pin(taken: set[str]) -> str:
    """A random 6-digit PIN that is not weak and not already in use at the locker."""
    while True:
        pin = f"{secrets.randbelow(10**PIN_LENGTH):0{PIN_LENGTH}d}"
        if pin not in taken and not is_weak_pin(pin):
            return pin
