"""Which signing keys the edge trusts: edge.toml's, plus those the desired state announces, until retired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud.keys import encode_public
from edge.keyring import trusted_keys
from lockers.codes import public_raw
from lockers.protocol.messages import DesiredState, TrustedKey

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
OLD, NEW = Ed25519PrivateKey.generate().public_key(), Ed25519PrivateKey.generate().public_key()


def desired(*keys: TrustedKey) -> DesiredState:
    return DesiredState(version=3, issued_at=NOW, pin_salt="0" * 32, keys=list(keys))


def announced(kid: int, key, not_after: datetime | None = None) -> TrustedKey:
    return TrustedKey(kid=kid, public_key=encode_public(key), not_after=not_after)


def raw(keys: dict) -> dict[int, bytes]:
    return {kid: public_raw(key) for kid, key in keys.items()}


@pytest.mark.parametrize(
    ("configured", "state", "expected"),
    [
        ({1: OLD}, None, {1: OLD}),  # no desired state yet: the bundle's keys
        ({1: OLD}, desired(), {1: OLD}),  # a state that announces nothing changes nothing
        ({1: OLD}, desired(announced(1, OLD, NOW + timedelta(days=7)), announced(2, NEW)), {1: OLD, 2: NEW}),
        ({1: OLD}, desired(announced(1, OLD, NOW), announced(2, NEW)), {2: NEW}),  # rollover over: retired
        ({1: OLD}, desired(announced(1, OLD, NOW - timedelta(days=1))), {}),  # even the configured key goes
        ({1: OLD}, desired(announced(1, NEW)), {1: NEW}),  # the announced key wins over a stale configuration
    ],
    ids=["no-state", "nothing-announced", "rollover", "rollover-ended", "retired-configured", "replaced"],
)
def test_trusted_keys(configured, state, expected):
    assert raw(trusted_keys(configured, state, NOW)) == raw(expected)


def test_an_announced_key_must_look_like_an_ed25519_key():
    with pytest.raises(ValueError, match="public_key"):
        TrustedKey(kid=1, public_key="not a key")
