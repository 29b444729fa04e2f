"""Which code-signing keys the locker trusts right now (pure): those of its edge.toml, plus those the desired
state announces, minus any whose rollover window has ended. The desired state can only be written by the
cloud's broker account (the ACL), so a rotation reaches every locker without a visit."""

from __future__ import annotations

import base64
import binascii
import functools
import logging
from collections.abc import Mapping
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from lockers.protocol.messages import DesiredState

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=64)
def _public_key(text: str) -> Ed25519PublicKey | None:
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        return None


def trusted_keys(
    configured: Mapping[int, Ed25519PublicKey], desired: DesiredState | None, now: datetime
) -> dict[int, Ed25519PublicKey]:
    """Key id → public key for checking codes at `now`. An announced key replaces a configured one with the same
    id; a key retired (its `not_after` passed) is dropped even when edge.toml still names it."""
    keys = dict(configured)
    for announced in desired.keys if desired else ():
        if announced.not_after is not None and announced.not_after <= now:
            keys.pop(announced.kid, None)
            continue
        key = _public_key(announced.public_key)
        if key is None:  # the message model checks this; a defect must not stop the other keys
            log.warning("desired state announces key %d that is not a valid Ed25519 key", announced.kid)
            continue
        keys[announced.kid] = key
    return keys
