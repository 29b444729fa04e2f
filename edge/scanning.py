"""The scanner and keypad at the locker: codes checked offline against the local desired state (edge.codecheck),
wrong PINs counted, and a code marked used in the store before anything opens, so it never opens twice."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.codecheck import CodeContext, Decision, Refusal, check_code
from edge.keypad import KeypadState
from edge.keyring import trusted_keys
from edge.store import EdgeStore
from lockers.protocol.messages import DesiredState

log = logging.getLogger(__name__)


class Scanner:
    """Checks what is typed or scanned; holds the keypad's attempt state (worker thread only)."""

    def __init__(
        self, locker: str, keys: Mapping[int, Ed25519PublicKey], store: EdgeStore, compartments: frozenset[str]
    ) -> None:
        self._locker = locker
        self._keys = keys
        self._store = store
        self._compartments = compartments
        self._keypad = KeypadState()

    def keypad_locked(self, now: datetime) -> bool:
        return self._keypad.locked(now)

    def check(self, text: str, desired: DesiredState | None, now: datetime) -> Decision | Refusal:
        """What `text` opens now; a code that opens something is consumed before this returns."""
        verdict = check_code(
            text,
            CodeContext(
                locker=self._locker,
                keys=trusted_keys(self._keys, desired, now),
                desired=desired,
                compartments=self._compartments,
                now=now,
                consumed=self._store.consumed_codes(),
                used_pins=self._store.used_pin_hashes(),
                loaded=self._store.loaded_parts(),
                keypad=self._keypad,
            ),
        )
        self._keypad = verdict.keypad
        if isinstance(verdict, Refusal):
            log.info("%s code refused: %s (%s)", verdict.method.value, verdict.reason.value, verdict.detail)
            return verdict
        log.info(
            "%s code opens %s (order %s, vendor %s)",
            verdict.method.value,
            ", ".join(verdict.compartments),
            verdict.order or "-",
            verdict.vendor or "-",
        )
        if verdict.consume:
            self._store.consume_code(verdict.consume, now, _pin_hash_of(desired, verdict.consume))
        return verdict


def _pin_hash_of(desired: DesiredState | None, code_id: str) -> str | None:
    grants = [*desired.pickups, *desired.deposits] if desired else []
    return next((g.pin_hash for g in grants if g.code_id == code_id), None)
