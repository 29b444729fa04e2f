"""Property-based checks of code verification (hypothesis): whatever is done to a token, or whatever text is
typed or scanned, `verify_token` never accepts it unless it is the genuine code, in its time, at its locker, and
never fails with anything but a refusal that names its reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import base45
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lockers import codes
from lockers.errors import CodeRejected
from lockers.protocol.messages import RejectReason

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()
OTHER_KEY = Ed25519PrivateKey.generate()
KEYS = {1: KEY.public_key(), 2: OTHER_KEY.public_key()}
PROPERTIES = settings(max_examples=300, deadline=None)

locker_ids = st.from_regex(r"[a-z0-9][a-z0-9-]{0,31}", fullmatch=True)
compartment_ids = st.from_regex(r"[A-Z][0-9]{1,2}", fullmatch=True)
compartment_sets = st.lists(compartment_ids, min_size=1, max_size=3, unique=True)
hours_valid = st.integers(min_value=1, max_value=24 * 14)


def issued(locker: str, compartments: list[str], hours: int, key=KEY, key_id: int = 1):
    claims = codes.pickup_claims(
        key_id=key_id,
        locker=locker,
        order="K7M2Q9XH",
        compartments=compartments,
        not_before=NOW,
        valid_for=timedelta(hours=hours),
    )
    return claims, codes.issue_token(claims, key)


def refusal(text: str, locker: str, moment: datetime) -> RejectReason | None:
    """The reason the code is refused, or None when it is accepted; anything else raised fails the test."""
    try:
        codes.verify_token(text, KEYS, locker, moment)
    except CodeRejected as refused:
        return refused.reason
    return None


@PROPERTIES
@given(locker_ids, compartment_sets, hours_valid, st.data())
def test_the_genuine_code_opens_only_in_its_time_and_at_its_locker(locker, compartments, hours, data):
    claims, token = issued(locker, compartments, hours)
    inside = data.draw(st.integers(min_value=0, max_value=hours * 3600 - 1))
    assert refusal(token, locker, NOW + timedelta(seconds=inside)) is None
    before = data.draw(st.integers(min_value=1, max_value=10**7))
    assert refusal(token, locker, NOW - timedelta(seconds=before)) is RejectReason.NOT_YET_VALID
    after = data.draw(st.integers(min_value=0, max_value=10**8))
    assert refusal(token, locker, claims.expires_at + timedelta(seconds=after)) is RejectReason.EXPIRED
    elsewhere = data.draw(locker_ids.filter(lambda other: codes.locker_tag(other) != codes.locker_tag(locker)))
    assert refusal(token, elsewhere, NOW) is RejectReason.WRONG_LOCKER


@PROPERTIES
@given(locker_ids, compartment_sets, st.data())
def test_any_flipped_bit_is_refused(locker, compartments, data):
    _, token = issued(locker, compartments, 24)
    raw = bytearray(base45.b45decode(token))
    bit = data.draw(st.integers(min_value=0, max_value=len(raw) * 8 - 1))
    raw[bit // 8] ^= 1 << (bit % 8)
    assert refusal(base45.b45encode(bytes(raw)).decode(), locker, NOW + timedelta(minutes=1)) is not None


@PROPERTIES
@given(locker_ids, compartment_sets, st.data())
def test_a_truncated_or_extended_code_is_refused(locker, compartments, data):
    _, token = issued(locker, compartments, 24)
    cut = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    assert refusal(token[:cut], locker, NOW) is not None
    tail = data.draw(st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:", min_size=1, max_size=40))
    assert refusal(token + tail, locker, NOW) is not None


@PROPERTIES
@given(locker_ids, compartment_sets, st.sampled_from([1, 2]))
def test_claims_signed_by_a_key_not_behind_their_key_id_are_forged(locker, compartments, key_id):
    signer = OTHER_KEY if key_id == 1 else KEY  # the wrong private key for the id in the claims
    _, forged = issued(locker, compartments, 24, key=signer, key_id=key_id)
    assert refusal(forged, locker, NOW) is RejectReason.BAD_SIGNATURE


@PROPERTIES
@given(locker_ids, compartment_sets, st.integers(min_value=3, max_value=2**31))
def test_a_key_id_the_locker_does_not_know_is_refused(locker, compartments, key_id):
    _, token = issued(locker, compartments, 24, key_id=key_id)
    assert refusal(token, locker, NOW) is RejectReason.UNKNOWN_KEY


@PROPERTIES
@given(st.one_of(st.text(max_size=700), st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")))
def test_arbitrary_text_is_refused_with_a_reason(text):
    assert refusal(text, "demo-1", NOW) is not None


@PROPERTIES
@given(locker_ids, st.binary(max_size=300), st.binary(min_size=64, max_size=64))
def test_arbitrary_payloads_under_a_random_signature_are_refused(locker, payload, signature):
    text = base45.b45encode(payload + signature).decode()
    assume(len(text) <= codes.MAX_TOKEN_CHARS)
    assert refusal(text, locker, NOW) is not None
