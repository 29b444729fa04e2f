"""Pickup and vendor code format: signing, every refusal reason, size budget, PIN helpers."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import base45
import cbor2
import pytest
import qrcode
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lockers import codes
from lockers.errors import CodeRejected
from lockers.protocol.messages import RejectReason

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()
KEYS = {1: KEY.public_key()}


def pickup(locker="demo-1", compartments=("B2", "C1"), start=NOW, hours=24, key_id=1):
    claims = codes.pickup_claims(
        key_id=key_id,
        locker=locker,
        order="K7M2Q9XH",
        compartments=list(compartments),
        not_before=start,
        valid_for=timedelta(hours=hours),
    )
    return claims, codes.issue_token(claims, KEY)


def test_round_trip_returns_the_signed_claims():
    claims, token = pickup()
    assert codes.verify_token(token, KEYS, "demo-1", NOW + timedelta(hours=1)) == claims
    assert claims.compartments == ("B2", "C1")
    assert claims.expires_at - claims.not_before == timedelta(hours=24)


@pytest.mark.parametrize(
    ("locker", "moment", "reason"),
    [
        ("demo-2", NOW, RejectReason.WRONG_LOCKER),
        ("demo-1", NOW - timedelta(seconds=1), RejectReason.NOT_YET_VALID),
        ("demo-1", NOW + timedelta(hours=24), RejectReason.EXPIRED),
        ("demo-1", NOW + timedelta(days=3), RejectReason.EXPIRED),
    ],
)
def test_time_and_place_are_enforced(locker, moment, reason):
    _, token = pickup()
    with pytest.raises(CodeRejected) as refused:
        codes.verify_token(token, KEYS, locker, moment)
    assert refused.value.reason == reason


def test_a_code_signed_by_another_key_is_forged():
    claims, _ = pickup()
    forged = codes.issue_token(claims, Ed25519PrivateKey.generate())
    with pytest.raises(CodeRejected) as refused:
        codes.verify_token(forged, KEYS, "demo-1", NOW)
    assert refused.value.reason == RejectReason.BAD_SIGNATURE


def test_unknown_key_id_is_refused():
    _, token = pickup(key_id=7)
    with pytest.raises(CodeRejected) as refused:
        codes.verify_token(token, KEYS, "demo-1", NOW)
    assert refused.value.reason == RejectReason.UNKNOWN_KEY


def test_every_single_bit_flip_is_refused():
    _, token = pickup()
    raw = bytearray(base45.b45decode(token))
    for index in range(len(raw)):
        for bit in (0, 7):
            mutated = bytearray(raw)
            mutated[index] ^= 1 << bit
            text = base45.b45encode(bytes(mutated)).decode()
            with pytest.raises(CodeRejected):
                codes.verify_token(text, KEYS, "demo-1", NOW)


def test_widening_the_compartments_breaks_the_signature():
    _, token = pickup(compartments=("B2",))
    raw = base45.b45decode(token)
    payload, signature = raw[:-64], raw[-64:]
    fields = cbor2.loads(payload)
    fields[5] = "B2B3"
    tampered = base45.b45encode(cbor2.dumps(fields) + signature).decode()
    with pytest.raises(CodeRejected) as refused:
        codes.verify_token(tampered, KEYS, "demo-1", NOW)
    assert refused.value.reason == RejectReason.BAD_SIGNATURE


@pytest.mark.parametrize(
    "text",
    ["", "hello", "123456", "DK:" + "A" * 10, "%%%%", "A" * 700, base45.b45encode(b"x" * 70).decode()],
)
def test_garbage_is_malformed(text):
    with pytest.raises(CodeRejected) as refused:
        codes.verify_token(text, KEYS, "demo-1", NOW)
    assert refused.value.reason == RejectReason.MALFORMED


def test_truncated_tokens_are_refused():
    _, token = pickup()
    for cut in range(1, len(token), 7):
        with pytest.raises(CodeRejected):
            codes.verify_token(token[:cut], KEYS, "demo-1", NOW)


def test_vendor_codes_are_valid_at_every_locker():
    claims = codes.vendor_claims(key_id=1, vendor="bakkerij-korenbloem", not_before=NOW, valid_for=timedelta(days=365))
    token = codes.issue_token(claims, KEY)
    for locker in ("demo-1", "zwartsluis-kerkplein"):
        decoded = codes.verify_token(token, KEYS, locker, NOW + timedelta(days=100))
        assert decoded.kind is codes.CodeKind.VENDOR
        assert decoded.subject == "bakkerij-korenbloem"
        assert decoded.compartments == ()


@pytest.mark.parametrize("compartments", [("B2",), ("B2", "C1"), ("A1", "B2", "C3")])
def test_pickup_codes_fit_qr_version_6_at_level_m(compartments):
    _, token = pickup(locker="zwartsluis-kerkplein-noord", compartments=compartments)
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(token)
    qr.make(fit=True)
    assert qr.version <= 6
    assert set(token) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")


def test_pin_hash_depends_on_pin_and_salt():
    salt, other_salt = codes.new_pin_salt(), codes.new_pin_salt()
    assert codes.hash_pin("482913", salt) == codes.hash_pin("482913", salt)
    assert codes.hash_pin("482913", salt) != codes.hash_pin("482914", salt)
    assert codes.hash_pin("482913", salt) != codes.hash_pin("482913", other_salt)


def test_pin_hash_carries_its_cost_and_old_hashes_still_match():
    salt = codes.new_pin_salt()
    new = codes.hash_pin("482913", salt)
    assert new.startswith("$scrypt$ln=10,r=8,p=1$") and len(new) <= 64  # fits the cloud's pin_hash column
    assert codes.pin_hash_cost(new) == codes.PIN_COST
    legacy = hashlib.scrypt(b"482913", salt=bytes.fromhex(salt), n=2**12, r=8, p=1, dklen=16).hex()
    assert codes.hash_pin("482913", salt, codes.LEGACY_PIN_COST) == legacy  # what older clouds stored
    assert codes.pin_hash_cost(legacy) == codes.LEGACY_PIN_COST
    typed = codes.TypedPin("482913", salt)
    assert typed.matches(new) and typed.matches(legacy) and typed.hashes_computed == 2
    assert not codes.TypedPin("482914", salt).matches(new)
    assert not codes.TypedPin("482914", salt).matches(legacy)


@pytest.mark.parametrize(
    "stored",
    [
        "$scrypt$ln=20,r=8,p=1$" + "ab" * 16,  # 128 MiB, seconds on a Pi: a hostile desired state
        "$scrypt$ln=16,r=16,p=1$" + "ab" * 16,  # over the memory limit
        "$scrypt$ln=10,r=8,p=9$" + "ab" * 16,
        "$scrypt$ln=0,r=8,p=1$" + "ab" * 16,
        "$scrypt$ln=10,r=8,p=1$" + "AB" * 16,
        "$scrypt$ln=10,r=8,p=1$" + "ab" * 15,
        "$argon2id$v=19$m=65536,t=3,p=4$" + "ab" * 16,
        "ab" * 15,
        "",
    ],
)
def test_pin_hashes_of_unknown_form_or_excessive_cost_match_nothing(stored):
    assert codes.pin_hash_cost(stored) is None
    typed = codes.TypedPin("482913", codes.new_pin_salt())
    assert not typed.matches(stored) and typed.hashes_computed == 0


def test_a_typed_pin_is_hashed_once_per_cost_and_for_few_costs():
    salt = codes.new_pin_salt()
    stored = [codes.hash_pin(f"48291{i}", salt) for i in range(5)]
    typed = codes.TypedPin("482919", salt)
    assert not any(typed.matches(h) for h in stored) and typed.hashes_computed == 1
    others = [codes.hash_pin("482913", salt, codes.ScryptCost(log_n)) for log_n in (4, 5, 6)]
    capped = codes.TypedPin("482913", salt, max_costs=2)
    assert [capped.matches(h) for h in others] == [True, True, False]  # a third cost is not computed


@pytest.mark.parametrize(
    ("pin", "weak"),
    [("000000", True), ("123456", True), ("987654", True), ("111111", True), ("482913", False), ("123457", False)],
)
def test_weak_pins(pin, weak):
    assert codes.is_weak_pin(pin) is weak


def test_new_pins_avoid_taken_and_weak_ones():
    taken = {f"{n:06d}" for n in range(0, 1_000_000, 3)}
    for _ in range(200):
        pin = codes.new_pin(taken)
        assert codes.is_pin(pin) and pin not in taken and not codes.is_weak_pin(pin)


@pytest.mark.parametrize(
    ("text", "expected"), [("123456", True), ("12345", False), ("12345a", False), ("１２３４５６", False)]
)
def test_is_pin(text, expected):
    assert codes.is_pin(text) is expected
