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
from edge.store import LoadedPart
from lockers.codes import CodeClaims, CodeKind, TypedPin, is_pin, verify_token
from lockers.door import DropoffSession, PickupSession, Session
from lockers.errors import CodeRejected
from lockers.protocol.messages import DesiredState, DropoffGrant, EdgeSettings, Method, RejectReason

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


@dataclass(frozen=True, slots=True)
class Decision:
    """Release these compartments, each for its session."""

    method: Method
    sessions: tuple[tuple[str, Session], ...]  # (compartment, session), sorted by compartment
    message: str
    keypad: KeypadState
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
        return Refusal(reason, Method.QR, MESSAGES[reason], keypad, exc.detail)
    if claims.kind is CodeKind.VENDOR:
        return _vendor(claims, ctx)
    refusal = _unusable(claims.code_id, ctx, Method.QR, keypad)
    if refusal:
        return refusal
    return _pickup(claims.subject, claims.code_id, claims.compartments, Method.QR, ctx, keypad)


def _open(grant: DropoffGrant, now: datetime) -> bool:
    """Whether the grant's drop-off window is open (a few minutes early: the locker's clock may lag the cloud's)."""
    return (grant.opens is None or grant.opens - EARLY_DROPOFF <= now) and now < grant.until


def _vendor(claims: CodeClaims, ctx: CodeContext) -> Decision | Refusal:
    vendor = claims.subject
    if claims.code_id in ctx.revoked:
        return _refuse(RejectReason.REVOKED, Method.VENDOR, ctx.keypad, f"vendor code {claims.code_id} revoked")
    grants = [g for g in (ctx.desired.dropoffs if ctx.desired else []) if g.vendor == vendor and _open(g, ctx.now)]
    sessions: dict[str, Session] = {}
    for grant in grants:
        for compartment in grant.compartments:
            part = LoadedPart(compartment, grant.order, grant.vendor)
            if compartment in ctx.compartments and part not in ctx.loaded:
                sessions.setdefault(compartment, DropoffSession(order=grant.order, vendor=vendor))
    if not sessions:
        return _refuse(
            RejectReason.NOTHING_TO_OPEN,
            Method.VENDOR,
            ctx.keypad,
            f"no pending drop-offs for vendor {vendor}",
            f"Nothing to load here for {vendor}.",
        )
    ordered = tuple(sorted(sessions.items()))
    orders = {session.order for _, session in ordered}  # type: ignore[union-attr]
    return Decision(
        method=Method.VENDOR,
        sessions=ordered,
        message=f"{_opened(ordered)} Please close the door after loading.",
        keypad=ctx.keypad,
        order=orders.pop() if len(orders) == 1 else None,
        vendor=vendor,
        code_id=claims.code_id,
    )


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
) -> Decision | Refusal:
    known = sorted(c for c in set(compartments) if c in ctx.compartments)
    if not known:
        return _refuse(
            RejectReason.NOTHING_TO_OPEN, method, keypad, f"order {order} names no compartment of this locker"
        )
    session = PickupSession(order=order, code_id=code_id, method=method)
    sessions = tuple((compartment, session) for compartment in known)
    return Decision(
        method=method,
        sessions=sessions,
        message=f"{_opened(sessions)} Please close the door afterwards.",
        keypad=keypad,
        order=order,
        code_id=code_id,
        consume=code_id,
    )


def _refuse(reason: RejectReason, method: Method, keypad: KeypadState, detail: str, message: str = "") -> Refusal:
    return Refusal(reason, method, message or MESSAGES[reason], keypad, detail)


def _opened(sessions: tuple[tuple[str, Session], ...]) -> str:
    ids = [compartment for compartment, _ in sessions]
    if len(ids) == 1:
        return f"Compartment {ids[0]} is open."
    return f"Compartments {', '.join(ids[:-1])} and {ids[-1]} are open."


def _minutes(span: timedelta) -> str:
    minutes = max(1, -(-int(span.total_seconds()) // 60))  # round up: never promise less than the wait
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
