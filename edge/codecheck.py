"""What a typed PIN or scanned token opens at this locker, decided offline; pure (docs/protocol.md).

`check_code` never touches hardware or storage: it returns a `Decision` (which compartments to release,
for which session, which code id to mark used) or a `Refusal` with a plain message for the person at the
locker, plus the keypad's new attempt state either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.keypad import KeypadState
from edge.kiosk_texts import wait_in_words
from edge.store import LoadedPart
from lockers.codes import CodeClaims, CodeKind, TypedPin, is_pin, peek_claims, verify_token
from lockers.door import DepositSession, DropoffSession, PickupSession, RetrievalSession, Session
from lockers.errors import CodeRejected
from lockers.protocol.messages import (
    DepositGrant,
    DesiredState,
    DropoffGrant,
    EdgeSettings,
    Method,
    RejectReason,
)

# A vendor may start a drop-off this much before its window opens by the locker's clock, which may run behind.
EARLY_DROPOFF = timedelta(minutes=5)

# What the person at the locker reads for each refusal (short, plain English for now).
MESSAGES: dict[RejectReason, str] = {
    RejectReason.MALFORMED: "This is not a Dorpskluis code.",
    RejectReason.BAD_SIGNATURE: "This code is not genuine.",
    RejectReason.UNKNOWN_KEY: "This code is not recognised here.",
    RejectReason.WRONG_LOCKER: "This code is for another locker.",
    RejectReason.NOT_YET_VALID: "This code is not valid yet.",
    RejectReason.EXPIRED: "This code has expired.",
    RejectReason.ALREADY_USED: "This code has already been used.",
    RejectReason.REVOKED: "This code has been cancelled.",
    RejectReason.WRONG_PIN: "Wrong PIN.",
    RejectReason.NOTHING_TO_OPEN: "There is nothing to open with this code.",
    RejectReason.KEYPAD_LOCKED: "Too many wrong PINs. The keypad is locked.",
}


@dataclass(frozen=True, slots=True)
class CodeContext:
    """Everything a code is checked against, as of `now`."""

    locker: str
    keys: Mapping[int, Ed25519PublicKey]
    desired: DesiredState | None
    compartments: frozenset[str]  # the cabinet's compartment ids
    now: datetime
    consumed: frozenset[str] = frozenset()
    used_pins: frozenset[str] = frozenset()  # hashes of PINs whose pickup already happened here
    loaded: frozenset[LoadedPart] = frozenset()
    keypad: KeypadState = KeypadState()

    @property
    def settings(self) -> EdgeSettings:
        return self.desired.settings if self.desired else EdgeSettings()

    @property
    def revoked(self) -> frozenset[str]:
        return frozenset(self.desired.revoked) if self.desired else frozenset()


class Purpose:
    """What the person at the locker came to do, for the words they are shown."""

    COLLECT = "collect"  # a resident takes an order
    DEPOSIT = "deposit"  # a resident puts a return in
    LOAD = "load"  # a vendor brings goods
    RETRIEVE = "retrieve"  # a vendor takes goods back
    LOAD_AND_RETRIEVE = "load_and_retrieve"


@dataclass(frozen=True, slots=True)
class Decision:
    """Release these compartments, each for its session."""

    method: Method
    sessions: tuple[tuple[str, Session], ...]  # (compartment, session), sorted by compartment
    message: str
    keypad: KeypadState
    purpose: str = Purpose.COLLECT
    order: str | None = None
    vendor: str | None = None
    code_id: str | None = None
    consume: str | None = None  # code id to record as used before releasing anything

    @property
    def compartments(self) -> tuple[str, ...]:
        return tuple(compartment for compartment, _ in self.sessions)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Open nothing; `message` is for the person, `detail` for the event log (never the code itself)."""

    reason: RejectReason
    method: Method
    message: str
    keypad: KeypadState
    detail: str = ""
    wait: timedelta | None = None  # how long until what this code is for opens (too early, not wrong)


def check_code(text: str, ctx: CodeContext) -> Decision | Refusal:
    """Decide what `text` (a 6-digit PIN or a token) opens."""
    code = text.strip()
    if is_pin(code):
        return _check_pin(code, ctx)
    return _check_token(code, ctx)


# --- PINs -----------------------------------------------------------------------------------------------


def _check_pin(pin: str, ctx: CodeContext) -> Decision | Refusal:
    settings = ctx.settings
    keypad = ctx.keypad.current(ctx.now)
    if keypad.locked(ctx.now):
        wait = _minutes(keypad.locked_until - ctx.now)  # type: ignore[operator]
        message = f"Too many wrong PINs. Try again in {wait}."
        return Refusal(RejectReason.KEYPAD_LOCKED, Method.PIN, message, keypad, "keypad locked")
    if ctx.desired is None:
        return _refuse(
            RejectReason.NOTHING_TO_OPEN, Method.PIN, keypad, "no desired state yet", "This locker has no orders yet."
        )
    # Hashed once per scrypt cost among the stored hashes (one, or two while older hashes are live).
    typed = TypedPin(pin, ctx.desired.pin_salt)
    grant = next((g for g in ctx.desired.pickups if typed.matches(g.pin_hash)), None)
    deposit = None if grant else next((g for g in ctx.desired.deposits if typed.matches(g.pin_hash)), None)
    if deposit is not None:
        return _deposit(deposit.order, deposit.code_id, deposit.compartments, Method.PIN, ctx, keypad, deposit)
    if grant is None and any(typed.matches(used) for used in ctx.used_pins):
        return _refuse(
            RejectReason.ALREADY_USED, Method.PIN, keypad, "PIN of a collected order", "This PIN has already been used."
        )
    if grant is None:
        keypad = keypad.wrong_pin(settings, ctx.now)
        if keypad.locked(ctx.now):
            message = f"Wrong PIN. The keypad is locked for {_minutes(timedelta(seconds=settings.pin_lockout_s))}."
            detail = f"keypad locked for {settings.pin_lockout_s} s after {settings.pin_max_attempts} wrong PINs"
        else:
            left = keypad.attempts_left(settings)
            message = f"Wrong PIN. {left} attempt{'s' if left != 1 else ''} left."
            detail = f"wrong PIN ({keypad.failures} in a row)"
        return Refusal(RejectReason.WRONG_PIN, Method.PIN, message, keypad, detail)
    refusal = _unusable(grant.code_id, ctx, Method.PIN, keypad)
    if refusal:
        return refusal
    if ctx.now >= grant.expires_at:
        return _refuse(
            RejectReason.EXPIRED, Method.PIN, keypad, f"pickup of order {grant.order} expired", "This PIN has expired."
        )
    return _pickup(grant.order, grant.code_id, grant.compartments, Method.PIN, ctx, keypad.succeeded())


# --- tokens ---------------------------------------------------------------------------------------------


def _check_token(text: str, ctx: CodeContext) -> Decision | Refusal:
    keypad = ctx.keypad
    try:
        claims = verify_token(text, ctx.keys, ctx.locker, ctx.now)
    except CodeRejected as exc:
        # The kind is unknown until a token verifies; scanned tokens are QR codes as far as anyone knows.
        reason = RejectReason(exc.reason)
        if reason is RejectReason.NOT_YET_VALID:
            return _too_early(text, ctx, exc.detail)
        return Refusal(reason, Method.QR, MESSAGES[reason], keypad, exc.detail)
    if claims.kind is CodeKind.VENDOR:
        return _vendor(claims, ctx)
    if claims.kind is CodeKind.DEPOSIT:  # self-contained like a pickup code: works before the grant arrives
        return _deposit(claims.subject, claims.code_id, claims.compartments, Method.QR, ctx, keypad)
    refusal = _unusable(claims.code_id, ctx, Method.QR, keypad)
    if refusal:
        return refusal
    return _pickup(claims.subject, claims.code_id, claims.compartments, Method.QR, ctx, keypad)


def _open(grant: DropoffGrant, now: datetime) -> bool:
    """Whether the grant's drop-off window is open (a few minutes early: the locker's clock may lag the cloud's)."""
    return (grant.opens is None or grant.opens - EARLY_DROPOFF <= now) and now < grant.until


def _vendor(claims: CodeClaims, ctx: CodeContext) -> Decision | Refusal:
    """A vendor's code opens its drop-offs whose window is open, and the goods it is to take back."""
    vendor = claims.subject
    if claims.code_id in ctx.revoked:
        return _refuse(RejectReason.REVOKED, Method.VENDOR, ctx.keypad, f"vendor code {claims.code_id} revoked")
    mine = [g for g in (ctx.desired.dropoffs if ctx.desired else []) if g.vendor == vendor]
    sessions: dict[str, Session] = {}
    for grant in (g for g in mine if _open(g, ctx.now)):
        for compartment in grant.compartments:
            part = LoadedPart(compartment, grant.order, grant.vendor)
            if compartment in ctx.compartments and part not in ctx.loaded:
                sessions.setdefault(compartment, DropoffSession(order=grant.order, vendor=vendor))
    for retrieval in (g for g in (ctx.desired.retrievals if ctx.desired else []) if g.vendor == vendor):
        for compartment in retrieval.compartments:
            if compartment in ctx.compartments:
                sessions.setdefault(compartment, RetrievalSession(order=retrieval.order, vendor=vendor))
    if not sessions:
        return _nothing_for_vendor(vendor, mine, ctx)
    ordered = tuple(sorted(sessions.items()))
    orders = {session.order for _, session in ordered}  # type: ignore[union-attr]
    loading = [c for c, s in ordered if isinstance(s, DropoffSession)]
    taking = [c for c, s in ordered if isinstance(s, RetrievalSession)]
    if loading and taking:
        purpose = Purpose.LOAD_AND_RETRIEVE
        todo = f"Load {_listed(loading)}; take back what is in {_listed(taking)}. Close the doors afterwards."
    elif taking:
        purpose, todo = Purpose.RETRIEVE, "Please take the goods back and close the door."
    else:
        purpose, todo = Purpose.LOAD, "Please close the door after loading."
    return Decision(
        method=Method.VENDOR,
        sessions=ordered,
        message=f"{_opened(ordered)} {todo}",
        keypad=ctx.keypad,
        order=orders.pop() if len(orders) == 1 else None,
        vendor=vendor,
        code_id=claims.code_id,
        purpose=purpose,
    )


def _nothing_for_vendor(vendor: str, grants: list[DropoffGrant], ctx: CodeContext) -> Refusal:
    """Nothing to open: say when the vendor's next drop-off window opens, when one is still to come."""
    later = [g.opens for g in grants if g.opens is not None and ctx.now < g.opens - EARLY_DROPOFF < g.until]
    if later:
        wait = min(later) - EARLY_DROPOFF - ctx.now
        return Refusal(
            RejectReason.NOT_YET_VALID,
            Method.VENDOR,
            f"Too early: your drop-off here opens in {_duration(wait)}.",
            ctx.keypad,
            f"vendor {vendor}'s drop-off window opens in {int(wait.total_seconds())} s",
            wait=wait,
        )
    return _refuse(
        RejectReason.NOTHING_TO_OPEN,
        Method.VENDOR,
        ctx.keypad,
        f"no pending drop-offs for vendor {vendor}",
        f"Nothing to load here for {vendor}.",
    )


def _deposit(
    order: str,
    code_id: str,
    compartments: tuple[str, ...] | list[str],
    method: Method,
    ctx: CodeContext,
    keypad: KeypadState,
    grant: DepositGrant | None = None,
) -> Decision | Refusal:
    """A resident's code for a return opens the booked compartment, once, within the window (a token carries
    its window; a PIN's comes from its grant)."""
    refusal = _unusable(code_id, ctx, method, keypad)
    if refusal:
        return refusal
    if grant is not None and ctx.now < grant.opens - EARLY_DROPOFF:
        wait = grant.opens - EARLY_DROPOFF - ctx.now
        return Refusal(RejectReason.NOT_YET_VALID, method, _early(wait), keypad, f"opens in {wait}", wait=wait)
    if grant is not None and ctx.now >= grant.until:
        return _refuse(RejectReason.EXPIRED, method, keypad, f"return window of order {order} closed")
    if method is Method.PIN:
        keypad = keypad.succeeded()
    return _pickup(order, code_id, compartments, method, ctx, keypad, Purpose.DEPOSIT)


def _too_early(text: str, ctx: CodeContext, detail: str) -> Refusal:
    """A genuine code scanned before its window: say how long to wait (the signature was checked already)."""
    wait = peek_claims(text).not_before - ctx.now
    return Refusal(RejectReason.NOT_YET_VALID, Method.QR, _early(wait), ctx.keypad, detail, wait=wait)


def _early(wait: timedelta) -> str:
    return f"Too early: this code works in {_duration(wait)}."


# --- shared ---------------------------------------------------------------------------------------------


def _unusable(code_id: str, ctx: CodeContext, method: Method, keypad: KeypadState) -> Refusal | None:
    if code_id in ctx.revoked:
        return _refuse(RejectReason.REVOKED, method, keypad, f"code {code_id} revoked")
    if code_id in ctx.consumed:
        return _refuse(RejectReason.ALREADY_USED, method, keypad, f"code {code_id} already used here")
    return None


def _pickup(
    order: str,
    code_id: str,
    compartments: tuple[str, ...] | list[str],
    method: Method,
    ctx: CodeContext,
    keypad: KeypadState,
    purpose: str = Purpose.COLLECT,
) -> Decision | Refusal:
    """Open an order's compartments of this locker for a resident's single-use code: to collect, or to deposit."""
    known = sorted(c for c in set(compartments) if c in ctx.compartments)
    if not known:
        return _refuse(
            RejectReason.NOTHING_TO_OPEN, method, keypad, f"order {order} names no compartment of this locker"
        )
    if purpose == Purpose.DEPOSIT:
        session: Session = DepositSession(order=order, code_id=code_id, method=method)
        todo = "Please put your return in and close the door."
    else:
        session, todo = PickupSession(order=order, code_id=code_id, method=method), "Please close the door afterwards."
    sessions = tuple((compartment, session) for compartment in known)
    return Decision(
        method=method,
        sessions=sessions,
        message=f"{_opened(sessions)} {todo}",
        keypad=keypad,
        order=order,
        code_id=code_id,
        consume=code_id,
        purpose=purpose,
    )


def _refuse(reason: RejectReason, method: Method, keypad: KeypadState, detail: str, message: str = "") -> Refusal:
    return Refusal(reason, method, message or MESSAGES[reason], keypad, detail)


def _opened(sessions: tuple[tuple[str, Session], ...]) -> str:
    ids = [compartment for compartment, _ in sessions]
    if len(ids) == 1:
        return f"Compartment {ids[0]} is open."
    return f"Compartments {', '.join(ids[:-1])} and {ids[-1]} are open."


def _listed(ids: list[str]) -> str:
    return ids[0] if len(ids) == 1 else f"{', '.join(ids[:-1])} and {ids[-1]}"


def _duration(span: timedelta) -> str:
    return wait_in_words(int(span.total_seconds()), "en")


def _minutes(span: timedelta) -> str:
    minutes = max(1, -(-int(span.total_seconds()) // 60))  # round up: never promise less than the wait
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
