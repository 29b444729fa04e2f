"""Offline code decisions (docs/protocol.md, "Codes at the locker") with real keys, tokens and PIN hashes."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.codecheck import CodeContext, Decision, Purpose, Refusal, check_code
from edge.keypad import KeypadState
from edge.store import LoadedPart
from lockers.codes import LEGACY_PIN_COST, hash_pin
from lockers.door import DepositSession, DropoffSession, PickupSession, RetrievalSession
from lockers.layout import demo_layout
from lockers.protocol.messages import DepositGrant, EdgeSettings, Method, PickupGrant, RejectReason, RetrievalGrant
from tests.edge.codes_fixture import NOW, CodeBook, desired, dropoff, grant

BOOK = CodeBook()
OTHER_KEY = Ed25519PrivateKey.generate()
COMPARTMENTS = frozenset(c.id for c in demo_layout().compartments)

DESIRED = desired(
    pickups=[
        grant("ord-multi", "aa000001", "482913", ["B2", "C1", "A2"]),
        grant("ord-single", "aa000002", "730551", ["B3"]),
        grant("ord-late", "aa000003", "615204", ["A1"], expires_at=NOW - timedelta(minutes=1)),
        grant("ord-gone", "aa000004", "902177", ["A3"]),
        grant("ord-nopin", "aa000005", None, ["A4"]),
    ],
    dropoffs=[
        dropoff("ord-7", "bakkerij-x", ["A1"]),
        dropoff("ord-8", "bakkerij-x", ["A3"]),
        dropoff("ord-8", "slagerij-y", ["B4"]),
        dropoff("ord-9", "slagerij-y", ["B5"], until=NOW - timedelta(seconds=1)),
        dropoff("ord-9", "kaas-z", ["B5"]),
    ],
    revoked=["aa000004", "bb00dead"],
    pin_max_attempts=3,
    pin_lockout_s=300,
)


def context(**changes) -> CodeContext:
    base = CodeContext(locker="demo-1", keys=BOOK.public_keys, desired=DESIRED, compartments=COMPARTMENTS, now=NOW)
    return replace(base, **changes)


# --- tokens -----------------------------------------------------------------------------------------------


def test_qr_pickup_opens_every_compartment_of_a_multi_zone_order():
    token = BOOK.pickup("ord-multi", ["B2", "C1", "A2"], code_id="aa000001")
    decision = check_code(token, context())
    assert isinstance(decision, Decision)
    assert decision.compartments == ("A2", "B2", "C1")
    session = PickupSession(order="ord-multi", code_id="aa000001", method=Method.QR)
    assert decision.sessions == (("A2", session), ("B2", session), ("C1", session))
    assert (decision.method, decision.order, decision.code_id, decision.consume) == (
        Method.QR,
        "ord-multi",
        "aa000001",
        "aa000001",
    )
    assert decision.message == "Compartments A2, B2 and C1 are open. Please close the door afterwards."


def test_a_pickup_token_works_without_any_desired_state():
    # Offline first: the token alone is enough, the desired state only adds revocations.
    token = BOOK.pickup("ord-new", ["B1"], code_id="aa0000ff")
    decision = check_code(token, context(desired=None))
    assert isinstance(decision, Decision) and decision.compartments == ("B1",)
    assert decision.message == "Compartment B1 is open. Please close the door afterwards."


@pytest.mark.parametrize(
    "make_token, ctx_changes, reason, message",
    [
        (
            lambda: BOOK.pickup("o", ["B2"], code_id="aa0000f1", key=OTHER_KEY),
            {},
            RejectReason.BAD_SIGNATURE,
            "This code is not genuine.",
        ),
        (
            lambda: BOOK.pickup("o", ["B2"], code_id="aa0000f1"),
            {"keys": {2: OTHER_KEY.public_key()}},
            RejectReason.UNKNOWN_KEY,
            "This code is not recognised here.",
        ),
        (
            lambda: BOOK.pickup("o", ["B2"], code_id="aa0000f1", start=NOW - timedelta(hours=25), hours=24),
            {},
            RejectReason.EXPIRED,
            "This code has expired.",
        ),
        (
            lambda: BOOK.pickup("o", ["B2"], code_id="aa0000f1", start=NOW + timedelta(minutes=5)),
            {},
            RejectReason.NOT_YET_VALID,
            "Too early: this code works in 5 minutes.",
        ),
        (
            lambda: BOOK.pickup("o", ["B2"], code_id="aa0000f1", locker="demo-2"),
            {},
            RejectReason.WRONG_LOCKER,
            "This code is for another locker.",
        ),
        (
            lambda: BOOK.pickup("o", ["B2"], code_id="aa0000f1"),
            {"consumed": frozenset({"aa0000f1"})},
            RejectReason.ALREADY_USED,
            "This code has already been used.",
        ),
        (
            lambda: BOOK.pickup("ord-gone", ["A3"], code_id="aa000004"),
            {},
            RejectReason.REVOKED,
            "This code has been cancelled.",
        ),
        (lambda: "HELLO WORLD", {}, RejectReason.MALFORMED, "This is not a Dorpskluis code."),
        (lambda: "", {}, RejectReason.MALFORMED, "This is not a Dorpskluis code."),
        (lambda: "12345", {}, RejectReason.MALFORMED, "This is not a Dorpskluis code."),
        (
            lambda: BOOK.pickup("o", ["Z1"], code_id="aa0000f1"),
            {},
            RejectReason.NOTHING_TO_OPEN,
            "There is nothing to open with this code.",
        ),
    ],
    ids=[
        "forged",
        "unknown-key",
        "expired",
        "not-yet-valid",
        "other-locker",
        "consumed",
        "revoked",
        "garbage",
        "empty",
        "five-digits",
        "no-such-compartment",
    ],
)
def test_token_refusals(make_token, ctx_changes, reason, message):
    refusal = check_code(make_token(), context(**ctx_changes))
    assert isinstance(refusal, Refusal)
    assert (refusal.reason, refusal.message, refusal.method) == (reason, message, Method.QR)
    assert refusal.keypad == KeypadState()  # tokens never count against the keypad


def test_tampering_with_a_token_breaks_it():
    token = BOOK.pickup("ord-x", ["B2"], code_id="aa0000f2")
    flipped = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
    refusal = check_code(flipped, context())
    assert isinstance(refusal, Refusal)
    assert refusal.reason in (RejectReason.BAD_SIGNATURE, RejectReason.MALFORMED)


def test_refusal_details_never_contain_the_code():
    token = BOOK.pickup("o", ["B2"], code_id="aa0000f1", locker="demo-2")
    refusal = check_code(token, context())
    assert token not in refusal.detail and token not in refusal.message


# --- vendor codes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "vendor, loaded, expected",
    [
        ("bakkerij-x", frozenset(), {"A1": "ord-7", "A3": "ord-8"}),
        ("bakkerij-x", frozenset({LoadedPart("A1", "ord-7", "bakkerij-x")}), {"A3": "ord-8"}),
        ("slagerij-y", frozenset(), {"B4": "ord-8"}),  # its ord-9 window has passed
        # another vendor loaded the shared compartment: this vendor may still add its part
        ("kaas-z", frozenset({LoadedPart("B5", "ord-9", "slagerij-y")}), {"B5": "ord-9"}),
    ],
    ids=["all-pending", "one-loaded", "window-passed", "shared-compartment"],
)
def test_vendor_code_opens_only_its_pending_dropoffs(vendor, loaded, expected):
    token = BOOK.vendor(vendor, code_id="cc000001")
    decision = check_code(token, context(loaded=loaded))
    assert isinstance(decision, Decision)
    assert decision.method is Method.VENDOR and decision.vendor == vendor
    assert dict(decision.sessions) == {c: DropoffSession(order=o, vendor=vendor) for c, o in expected.items()}
    assert decision.consume is None  # vendor codes are long-lived
    assert decision.order == (next(iter(expected.values())) if len(set(expected.values())) == 1 else None)


@pytest.mark.parametrize(
    "vendor, loaded, desired_state",
    [
        ("groenteboer-q", frozenset(), DESIRED),
        (
            "bakkerij-x",
            frozenset({LoadedPart("A1", "ord-7", "bakkerij-x"), LoadedPart("A3", "ord-8", "bakkerij-x")}),
            DESIRED,
        ),
        ("bakkerij-x", frozenset(), None),
    ],
    ids=["no-dropoffs", "all-loaded", "no-desired-state"],
)
def test_vendor_with_nothing_pending(vendor, loaded, desired_state):
    refusal = check_code(BOOK.vendor(vendor, code_id="cc000001"), context(loaded=loaded, desired=desired_state))
    assert isinstance(refusal, Refusal)
    assert (refusal.reason, refusal.method) == (RejectReason.NOTHING_TO_OPEN, Method.VENDOR)
    assert refusal.message == f"Nothing to load here for {vendor}."


@pytest.mark.parametrize(
    ("opens_in", "opens"),
    [(timedelta(hours=2), False), (timedelta(minutes=4), True), (timedelta(0), True), (-timedelta(hours=1), True)],
    ids=["two-hours-early", "a-few-minutes-early", "on-time", "window-open"],
)
def test_a_drop_off_booked_ahead_opens_with_its_window(opens_in, opens):
    # The compartment may hold another order until then; the locker's clock may lag the cloud's by minutes.
    ahead = dropoff("ord-9", "kaas-z", ["B5"], until=NOW + timedelta(hours=4)).model_copy(
        update={"opens": NOW + opens_in}
    )
    result = check_code(BOOK.vendor("kaas-z", code_id="cc000001"), context(desired=desired(dropoffs=[ahead])))
    assert isinstance(result, Decision) == opens
    if not opens:
        # Too early, not wrong: the vendor is told how long to wait (the 5 minutes' grace counted in).
        assert result.reason is RejectReason.NOT_YET_VALID
        assert result.message == "Too early: your drop-off here opens in 1 hour and 55 minutes."
        assert result.wait == timedelta(hours=1, minutes=55)


def test_vendor_code_opens_goods_to_take_back_beside_its_drop_offs():
    # An expired order and a resident's return wait for bakkerij-x; its drop-offs open as before.
    back = [
        RetrievalGrant(order="ord-old", vendor="bakkerij-x", compartments=["B1"], reason="expired"),
        RetrievalGrant(order="ret-1", vendor="bakkerij-x", compartments=["C2"], reason="return"),
        RetrievalGrant(order="ret-2", vendor="kaas-z", compartments=["C1"], reason="return"),
    ]
    state = DESIRED.model_copy(update={"retrievals": back})
    decision = check_code(BOOK.vendor("bakkerij-x", code_id="cc000001"), context(desired=state))
    assert isinstance(decision, Decision)
    assert dict(decision.sessions) == {
        "A1": DropoffSession(order="ord-7", vendor="bakkerij-x"),
        "A3": DropoffSession(order="ord-8", vendor="bakkerij-x"),
        "B1": RetrievalSession(order="ord-old", vendor="bakkerij-x"),
        "C2": RetrievalSession(order="ret-1", vendor="bakkerij-x"),
    }
    assert decision.purpose == Purpose.LOAD_AND_RETRIEVE
    assert decision.message == (
        "Compartments A1, A3, B1 and C2 are open. Load A1 and A3; take back what is in B1 and C2. "
        "Close the doors afterwards."
    )
    only_back = check_code(BOOK.vendor("kaas-z", code_id="cc000002"), context(desired=desired(retrievals=back)))
    assert isinstance(only_back, Decision) and only_back.purpose == Purpose.RETRIEVE
    assert only_back.message == "Compartment C1 is open. Please take the goods back and close the door."
    assert only_back.consume is None


def _deposit_grant(pin: str | None, *, opens=NOW - timedelta(hours=1), until=NOW + timedelta(hours=5)):
    return DepositGrant(
        order="ret-9",
        code_id="dd000001",
        pin_hash=hash_pin(pin, DESIRED.pin_salt) if pin else None,
        compartments=["C2"],
        opens=opens,
        until=until,
    )


def test_a_deposit_code_opens_the_booked_compartment_once_to_put_a_return_in():
    token = BOOK.deposit("ret-9", ["C2"], code_id="dd000001")
    decision = check_code(token, context(desired=None))  # self-contained, like a pickup code
    assert isinstance(decision, Decision)
    assert decision.sessions == (("C2", DepositSession(order="ret-9", code_id="dd000001", method=Method.QR)),)
    assert (decision.purpose, decision.consume) == (Purpose.DEPOSIT, "dd000001")
    assert decision.message == "Compartment C2 is open. Please put your return in and close the door."
    again = check_code(token, context(consumed=frozenset({"dd000001"})))
    assert isinstance(again, Refusal) and again.reason is RejectReason.ALREADY_USED


@pytest.mark.parametrize(
    ("opens", "until", "reason", "message"),
    [
        (NOW - timedelta(hours=1), NOW + timedelta(hours=5), None, None),
        (NOW + timedelta(hours=3), NOW + timedelta(hours=5), RejectReason.NOT_YET_VALID, "2 hours and 55 minutes"),
        (NOW - timedelta(hours=5), NOW - timedelta(minutes=1), RejectReason.EXPIRED, "This code has expired."),
    ],
    ids=["in-window", "too-early", "window-closed"],
)
def test_a_deposit_pin_opens_within_its_window(opens, until, reason, message):
    state = desired(deposits=[_deposit_grant("551234", opens=opens, until=until)])
    result = check_code("551234", context(desired=state, keypad=KeypadState(failures=2)))
    if reason is None:
        assert isinstance(result, Decision)
        assert result.sessions == (("C2", DepositSession(order="ret-9", code_id="dd000001", method=Method.PIN)),)
        assert result.keypad == KeypadState()  # a right PIN resets the count
    else:
        assert isinstance(result, Refusal) and result.reason is reason
        assert message in result.message
        assert result.keypad.failures == 2  # a right PIN at the wrong time is not a wrong guess


def test_revoked_vendor_code():
    refusal = check_code(BOOK.vendor("bakkerij-x", code_id="bb00dead"), context())
    assert isinstance(refusal, Refusal)
    assert (refusal.reason, refusal.method) == (RejectReason.REVOKED, Method.VENDOR)


# --- PINs -----------------------------------------------------------------------------------------------


def test_pin_opens_its_grant_and_consumes_the_shared_code_id():
    decision = check_code("482913", context())
    assert isinstance(decision, Decision)
    assert decision.compartments == ("A2", "B2", "C1")
    assert (decision.method, decision.order, decision.consume) == (Method.PIN, "ord-multi", "aa000001")
    # …so the QR of the same order is used up too
    token = BOOK.pickup("ord-multi", ["B2", "C1", "A2"], code_id="aa000001")
    again = check_code(token, context(consumed=frozenset({decision.consume})))
    assert isinstance(again, Refusal) and again.reason is RejectReason.ALREADY_USED


def test_pin_is_refused_once_the_qr_was_used():
    refusal = check_code("482913", context(consumed=frozenset({"aa000001"})))
    assert isinstance(refusal, Refusal)
    assert (refusal.reason, refusal.method, refusal.message) == (
        RejectReason.ALREADY_USED,
        Method.PIN,
        "This code has already been used.",
    )


def test_pin_of_a_collected_order_is_already_used_not_a_wrong_guess():
    gone = hash_pin("555123", DESIRED.pin_salt)  # its grant left the desired state after the pickup
    refusal = check_code("555123", context(used_pins=frozenset({gone})))
    assert isinstance(refusal, Refusal)
    assert (refusal.reason, refusal.message) == (RejectReason.ALREADY_USED, "This PIN has already been used.")
    assert refusal.keypad.failures == 0
    wrong = check_code("555124", context(used_pins=frozenset({gone})))
    assert isinstance(wrong, Refusal) and wrong.reason is RejectReason.WRONG_PIN


def test_pins_hashed_at_the_older_cost_still_open():
    legacy = hash_pin("730418", DESIRED.pin_salt, LEGACY_PIN_COST)  # from a cloud before the cost travelled
    grant = PickupGrant(order="o-legacy", code_id="aa0000ff", pin_hash=legacy, compartments=["A1"], expires_at=NOW)
    desired = DESIRED.model_copy(update={"pickups": [*DESIRED.pickups, grant]})
    decision = check_code("730418", context(desired=desired, now=NOW - timedelta(minutes=1)))
    assert isinstance(decision, Decision) and decision.order == "o-legacy"
    used = check_code("730418", context(used_pins=frozenset({legacy})))
    assert isinstance(used, Refusal) and used.reason is RejectReason.ALREADY_USED


@pytest.mark.parametrize(
    "pin, reason",
    [("615204", RejectReason.EXPIRED), ("902177", RejectReason.REVOKED)],
    ids=["expired-grant", "revoked-grant"],
)
def test_known_pin_that_may_not_open(pin, reason):
    refusal = check_code(pin, context())
    assert isinstance(refusal, Refusal) and refusal.reason is reason
    assert refusal.keypad.failures == 0  # the PIN was right: not a guessing attempt


def test_pin_before_any_desired_state():
    refusal = check_code("482913", context(desired=None))
    assert isinstance(refusal, Refusal)
    assert (refusal.reason, refusal.message) == (RejectReason.NOTHING_TO_OPEN, "This locker has no orders yet.")


def test_pin_with_surrounding_whitespace_is_still_a_pin():
    assert isinstance(check_code(" 730551\n", context()), Decision)


def test_wrong_pins_count_down_then_lock_the_keypad():
    ctx = context()
    messages = []
    for _ in range(3):
        refusal = check_code("111119", ctx)
        assert isinstance(refusal, Refusal) and refusal.reason is RejectReason.WRONG_PIN
        messages.append(refusal.message)
        ctx = replace(ctx, keypad=refusal.keypad)
    assert messages == [
        "Wrong PIN. 2 attempts left.",
        "Wrong PIN. 1 attempt left.",
        "Wrong PIN. The keypad is locked for 5 minutes.",
    ]
    assert ctx.keypad.locked(NOW)
    # Even the right PIN is refused while locked, and it does not extend the lockout.
    locked = check_code("730551", replace(ctx, now=NOW + timedelta(minutes=4)))
    assert isinstance(locked, Refusal)
    assert (locked.reason, locked.message) == (
        RejectReason.KEYPAD_LOCKED,
        "Too many wrong PINs. Try again in 1 minute.",
    )
    assert locked.keypad == ctx.keypad
    # Tokens still work during a keypad lockout.
    token = BOOK.pickup("ord-single", ["B3"], code_id="aa000002")
    assert isinstance(check_code(token, ctx), Decision)
    # After the lockout the counter starts afresh.
    later = replace(ctx, now=NOW + timedelta(seconds=300))
    decision = check_code("730551", later)
    assert isinstance(decision, Decision) and decision.keypad == KeypadState()


def test_a_right_pin_resets_the_count():
    first = check_code("000017", context())
    assert first.keypad.failures == 1
    decision = check_code("730551", context(keypad=first.keypad))
    assert isinstance(decision, Decision) and decision.keypad == KeypadState()


@pytest.mark.parametrize(
    "max_attempts, lockout_s, wrong, locked, left_after",
    [
        (1, 60, 1, True, 1),
        (5, 60, 4, False, 1),
        (5, 60, 5, True, 5),
        (3, 0, 3, False, 3),  # no lockout configured: the count just starts again
    ],
)
def test_keypad_limits_come_from_the_settings(max_attempts, lockout_s, wrong, locked, left_after):
    settings = EdgeSettings(pin_max_attempts=max_attempts, pin_lockout_s=lockout_s)
    keypad = KeypadState()
    for _ in range(wrong):
        keypad = keypad.wrong_pin(settings, NOW)
    assert keypad.locked(NOW) is locked
    if locked:
        assert keypad.locked(NOW + timedelta(seconds=lockout_s - 1))
    after = keypad.current(NOW + timedelta(seconds=lockout_s))
    assert not after.locked(NOW + timedelta(seconds=lockout_s))
    assert after.attempts_left(settings) == left_after
