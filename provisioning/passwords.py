"""Mosquitto's password-file format (`user:$7$iterations$salt$hash`, PBKDF2-SHA512), pure functions.

We write the file ourselves so that the cloud can add and remove device accounts without the
`mosquitto_passwd` binary on its host; mosquitto itself verifies the hashes on CONNECT.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets

from lockers.errors import ConfigError

# Mosquitto's own default. Device passwords are 256-bit random tokens, not words a person chose, so a slow
# hash buys nothing against guessing, while every (re)connect of 10,000 lockers pays for it on the broker.
ITERATIONS = 101
SALT_BYTES = 12
_USERNAME = re.compile(r"^[^:\s]{1,64}$")


def new_device_password() -> str:
    """A fresh random device password (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """The `$7$` hash mosquitto 2.x accepts in its password file."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def password_matches(password: str, encoded: str) -> bool:
    """Whether `password` is the one `encoded` (a `$7$` hash) was made from."""
    parts = encoded.split("$")
    if len(parts) != 5 or parts[1] != "7":
        return False
    try:
        iterations = int(parts[2])
        salt, digest = base64.b64decode(parts[3], validate=True), base64.b64decode(parts[4], validate=True)
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations), digest)


def check_username(username: str) -> str:
    """A username the password file can hold (no colon, no whitespace), or ConfigError."""
    if not _USERNAME.fullmatch(username):
        raise ConfigError(f"{username[:70]!r} cannot be a broker username (1-64 characters, no ':' or spaces)")
    return username


def parse_password_file(text: str) -> dict[str, str]:
    """username → hash, in file order; comments and blank lines are skipped."""
    entries: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        username, sep, encoded = line.partition(":")
        if not sep or not encoded:
            raise ConfigError(f"password file line {number} is not `user:hash`")
        entries[username] = encoded
    return entries


def render_password_file(entries: dict[str, str]) -> str:
    return "".join(f"{check_username(user)}:{encoded}\n" for user, encoded in entries.items())
