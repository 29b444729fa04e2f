"""Ids, resident links, signing keys and QR rendering."""

from __future__ import annotations

import base64
import io
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

from cloud import qr, schema
from cloud.db import Database
from cloud.keys import create_signing_key_file, load_key_ring, load_signing_key_file
from cloud.tokens import ResidentLinks, is_order_id, load_link_secret, new_order_id, normalize_order_id
from lockers.codes import issue_token, pickup_claims
from lockers.errors import ConfigError


def test_order_ids_are_short_and_unambiguous():
    ids = {new_order_id() for _ in range(500)}
    assert len(ids) == 500 and all(is_order_id(i) for i in ids)
    assert not any(ch in "".join(ids) for ch in "ILOU")


@pytest.mark.parametrize(("typed", "meant"), [("7k2m0o1l", "7K2M0011"), (" abcdefgh ", "ABCDEFGH"), ("i0O1", "1001")])
def test_order_ids_as_people_type_them(typed, meant):
    assert normalize_order_id(typed) == meant


def test_resident_tokens_depend_on_order_and_secret():
    links = ResidentLinks(b"s" * 32)
    assert links.token("AAAA1111") == links.token("AAAA1111")
    assert links.token("AAAA1111") != links.token("AAAA1112")
    assert ResidentLinks(b"t" * 32).token("AAAA1111") != links.token("AAAA1111")
    assert len(links.token("AAAA1111")) == 32 and "=" not in links.token("AAAA1111")
    with pytest.raises(ConfigError):
        ResidentLinks(b"short")


def test_secret_files_are_created_once_and_private(tmp_path):
    secret = load_link_secret(tmp_path / "link-secret", create=True)
    assert load_link_secret(tmp_path / "link-secret", create=False) == secret
    assert (tmp_path / "link-secret").stat().st_mode & 0o077 == 0
    with pytest.raises(ConfigError, match="does not exist"):
        load_link_secret(tmp_path / "missing", create=False)
    (tmp_path / "bad").write_text("not hex")
    with pytest.raises(ConfigError, match="hex digits"):
        load_link_secret(tmp_path / "bad", create=False)


def test_key_ids_count_up_and_old_keys_stay_published(tmp_path, sqlite_url):
    db = Database(sqlite_url)
    schema.prepare(db)
    first = create_signing_key_file(tmp_path / "one.pem")
    with db.write() as session:
        ring = load_key_ring(session, first)
    assert ring.key_id == 1
    with db.write() as session:
        assert load_key_ring(session, first).key_id == 1  # the same key keeps its id
    second = create_signing_key_file(tmp_path / "two.pem")
    with db.write() as session:
        ring = load_key_ring(session, second)
    assert ring.key_id == 2 and [k["kid"] for k in ring.public_keys()] == [1, 2]
    assert load_signing_key_file(tmp_path / "two.pem", create=False).public_key() == second.public_key()
    (tmp_path / "junk.pem").write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigError, match="cannot read signing key"):
        load_signing_key_file(tmp_path / "junk.pem", create=False)
    db.dispose()


def test_pickup_qr_codes_stay_small(tmp_path):
    key = create_signing_key_file(tmp_path / "k.pem")
    claims = pickup_claims(
        key_id=1,
        locker="demo-1",
        order="7K2M0011",
        compartments=["A4", "B5", "C3"],
        not_before=datetime.now(UTC),
        valid_for=timedelta(hours=24),
    )
    token = issue_token(claims, key)
    assert qr._qr(token, 8).version <= 6  # what cheap scanners and old phones read reliably
    png = base64.b64decode(qr.png_data_url(token).removeprefix("data:image/png;base64,"))
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size[0] == image.size[1] >= 200
    root = ET.fromstring(qr.svg(token))
    assert root.tag.endswith("svg")
