"""Rotating the code-signing key: new key id, the old one trusted by every locker for the rollover window,
vendor codes signed again; checked through the real cloud, broker and the edge's own key logic."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from cloud import schema
from cloud.app import create_app
from cloud.db import Database, utcnow
from cloud.keys import create_signing_key_file, load_key_ring, rotate_signing_key_file
from cloud.models import SigningKey
from cloud.settings import Settings
from edge.config import CodesConfig
from edge.keyring import trusted_keys
from lockers.codes import peek_claims, verify_token
from lockers.errors import CodeRejected, ConfigError
from tests.cloud.conftest import ADMIN, DEMO_LAYOUT, EdgeProbe, TestClient, cloud_settings, forget_session


def test_a_new_key_retires_the_old_one_after_the_rollover(tmp_path, sqlite_url):
    db = Database(sqlite_url)
    schema.prepare(db)
    first, second = create_signing_key_file(tmp_path / "a.pem"), create_signing_key_file(tmp_path / "b.pem")
    rollover = timedelta(days=7)
    with db.write() as session:
        load_key_ring(session, first, rollover)
    with db.write() as session:
        ring = load_key_ring(session, second, rollover)
    assert ring.key_id == 2 and sorted(ring.public) == [1, 2]
    assert ring.not_after[1] - utcnow() == pytest.approx(rollover, abs=timedelta(seconds=5))
    assert [(k.kid, k.not_after is None) for k in ring.trusted()] == [(1, False), (2, True)]
    with db.write() as session:  # the window has passed
        session.execute(update(SigningKey).where(SigningKey.kid == 1).values(retired_at=utcnow() - rollover))
    with db.write() as session:
        ring = load_key_ring(session, second, rollover)
    assert sorted(ring.public) == [2] and ring.not_after == {}
    with db.write() as session:  # going back to the old key (undoing a rotation) makes it active again
        ring = load_key_ring(session, first, rollover)
    assert ring.key_id == 1 and 2 in ring.not_after
    db.dispose()


def test_rotating_the_key_file_keeps_the_old_key_and_refuses_nonsense(tmp_path):
    with pytest.raises(ConfigError, match="no signing key"):
        rotate_signing_key_file(tmp_path / "missing.pem")
    path = tmp_path / "signing-key.pem"
    before = create_signing_key_file(path).public_key()
    retired = rotate_signing_key_file(path)
    assert retired.name.startswith("signing-key.pem.retired-") and retired.stat().st_mode & 0o077 == 0
    assert path.read_bytes() != retired.read_bytes()
    (tmp_path / "junk.pem").write_text("junk")
    with pytest.raises(ConfigError, match="cannot read"):
        rotate_signing_key_file(tmp_path / "junk.pem")
    del before


def test_lockers_learn_the_new_key_and_keep_the_old_one_for_the_rollover(database_url, broker, tmp_path, locker_id):
    settings = cloud_settings(database_url, broker, tmp_path / "data", key_rollover_days=3)
    with TestClient(create_app(settings)) as client:
        client.post("/api/v1/lockers", json={"id": locker_id, "name": "R", "layout": DEMO_LAYOUT}, headers=ADMIN)
        vendor = client.post("/api/v1/vendors", json={"id": "rot-vendor", "name": "V"}, headers=ADMIN).json()
        bundle_keys = CodesConfig(keys={k["kid"]: k["public_key"] for k in client.get("/api/v1/keys").json()["keys"]})
        old_code = vendor["code"]["token"]
    forget_session(broker, settings.mqtt_client_id)

    rotate_signing_key_file(settings.resolved_signing_key_file())
    with TestClient(create_app(settings)) as client, EdgeProbe(broker, locker_id) as edge:
        keys = client.get("/api/v1/keys").json()["keys"]
        assert [(k["kid"], k["not_after"] is not None) for k in keys] == [(1, True), (2, False)]
        desired = edge.latest_desired(2)  # republished at start-up, announcing both keys
        assert [(k.kid, k.not_after is not None) for k in desired.keys] == [(1, True), (2, False)]
        me = client.get("/api/v1/vendors/me", headers={"X-API-Key": vendor["api_key"]}).json()
        new_code = me["code"]["token"]
        assert peek_claims(new_code).key_id == 2 and me["code"]["code_id"] == vendor["code"]["code_id"]

        # The locker's bundle knows only key 1; what it trusts comes from the desired state.
        now = utcnow()
        trusted = trusted_keys(bundle_keys.trusted_keys(), desired, now)
        assert verify_token(new_code, trusted, locker_id, now).key_id == 2
        assert verify_token(old_code, trusted, locker_id, now).key_id == 1  # still inside the rollover
        after = desired.keys[0].not_after + timedelta(seconds=1)
        with pytest.raises(CodeRejected) as refused:
            verify_token(old_code, trusted_keys(bundle_keys.trusted_keys(), desired, after), locker_id, after)
        assert refused.value.reason == "unknown_key"
    forget_session(broker, settings.mqtt_client_id)


def test_the_rollover_must_outlive_every_pickup_code(tmp_path):
    with pytest.raises(ValueError, match="must cover the longest pickup time"):
        Settings(data_dir=tmp_path, key_rollover_days=1, expiry_hours_ambient=48)
