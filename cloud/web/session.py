"""Signed session cookies for the pages (pure): who logged in (the admin, or a vendor by id) and until when, and a
CSRF token bound to the session. The cookie never holds an API key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

COOKIE = "dk_session"
MAX_AGE_S = 8 * 3600  # a working day; then log in again


class WebSessions:
    """Issues and reads `<payload>.<signature>` cookies under a secret derived for this purpose only."""

    def __init__(self, secret: bytes, clock=time.time) -> None:
        self._key = hmac.new(secret, b"dorpskluis web session", hashlib.sha256).digest()
        self._clock = clock

    def _sign(self, payload: bytes) -> str:
        return base64.urlsafe_b64encode(hmac.new(self._key, payload, hashlib.sha256).digest()).decode().rstrip("=")

    def issue(self, who: str) -> str:
        """A cookie value for `who` ("admin" or "vendor:<id>")."""
        payload = base64.urlsafe_b64encode(json.dumps({"who": who, "exp": int(self._clock()) + MAX_AGE_S}).encode())
        text = payload.decode().rstrip("=")
        return f"{text}.{self._sign(text.encode())}"

    def read(self, cookie: str | None) -> str | None:
        """Who the cookie names, or None when it is missing, forged or expired."""
        if not cookie or "." not in cookie:
            return None
        text, signature = cookie.rsplit(".", 1)
        if not hmac.compare_digest(signature, self._sign(text.encode())):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        except (ValueError, TypeError):
            return None
        if not isinstance(data, dict) or data.get("exp", 0) < self._clock():
            return None
        who = data.get("who")
        return who if isinstance(who, str) else None

    def csrf(self, cookie: str) -> str:
        """The token every form of this session carries; a form posted from elsewhere cannot know it."""
        return self._sign(b"csrf:" + cookie.encode())

    def csrf_ok(self, cookie: str | None, token: str | None) -> bool:
        return bool(cookie and token) and hmac.compare_digest(self.csrf(cookie), token)
