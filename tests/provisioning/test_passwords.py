"""The mosquitto password-file format and the account store, without a broker."""

from __future__ import annotations

import base64
import hashlib
import stat

import pytest

from lockers.errors import ConfigError
from provisioning.accounts import PasswordFileAccounts
from provisioning.passwords import (
    hash_password,
    new_device_password,
    parse_password_file,
    password_matches,
    render_password_file,
)


def test_hash_is_mosquittos_pbkdf2_sha512_format():
    salt = b"0123456789ab"
    encoded = hash_password("secret", salt=salt)
    _, kind, iterations, salt_b64, digest_b64 = encoded.split("$")
    assert (kind, iterations, base64.b64decode(salt_b64)) == ("7", "101", salt)
    assert base64.b64decode(digest_b64) == hashlib.pbkdf2_hmac("sha512", b"secret", salt, 101)


@pytest.mark.parametrize(
    ("password", "encoded", "expected"),
    [
        ("secret", hash_password("secret"), True),
        ("Secret", hash_password("secret"), False),
        ("secret", "$6$abc$def", False),
        ("secret", "$7$101$not base64!$AAAA", False),
        ("secret", "plain", False),
    ],
)
def test_password_matches(password, encoded, expected):
    assert password_matches(password, encoded) is expected


def test_device_passwords_are_long_and_never_repeat():
    passwords = {new_device_password() for _ in range(100)}
    assert len(passwords) == 100
    assert all(len(p) >= 43 for p in passwords)


def test_file_round_trip_skips_comments_and_refuses_broken_lines():
    entries = {"dk-cloud": hash_password("a"), "locker-1": hash_password("b")}
    text = "# accounts\n\n" + render_password_file(entries)
    assert parse_password_file(text) == entries
    with pytest.raises(ConfigError, match="line 1"):
        parse_password_file("no colon here\n")
    with pytest.raises(ConfigError, match="cannot be a broker username"):
        render_password_file({"a:b": "x"})


def test_accounts_are_written_private_and_atomically(tmp_path):
    accounts = PasswordFileAccounts(tmp_path / "passwd")
    accounts.set("locker-1", "p1", reload=False)
    accounts.set("locker-2", "p2", reload=False)
    assert stat.S_IMODE((tmp_path / "passwd").stat().st_mode) == 0o600
    assert accounts.usernames() == ["locker-1", "locker-2"]
    assert accounts.has("locker-1", "p1") and not accounts.has("locker-1", "p2")
    assert accounts.ensure("locker-1", "p1", reload=False) is False
    assert accounts.remove("locker-1") is True
    assert accounts.remove("locker-1") is False
    assert accounts.usernames() == ["locker-2"]
    assert not (tmp_path / "passwd.new").exists()
    accounts.set_many({"locker-3": "p3", "locker-2": "new"})
    assert accounts.usernames() == ["locker-2", "locker-3"] and accounts.has("locker-2", "new")


def test_without_a_broker_to_reload_the_change_is_kept_and_the_operator_told(tmp_path, caplog):
    accounts = PasswordFileAccounts(tmp_path / "passwd", tmp_path / "missing.pid")
    accounts.set("locker-1", "p1")
    assert accounts.has("locker-1", "p1")
    assert "SIGHUP" in caplog.text
