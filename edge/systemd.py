"""Telling systemd how the agent is (sd_notify): READY=1 once it works, WATCHDOG=1 from the worker loop while it
keeps working, STOPPING=1 on the way out. Under `Type=notify` and `WatchdogSec=` (firmware/dorpskluis-edge.service)
systemd restarts an agent whose worker stopped turning, not only one whose process died.

The protocol is one datagram per message to the Unix socket named in NOTIFY_SOCKET (a leading "@" means the
abstract namespace); without NOTIFY_SOCKET (not started by systemd) every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)

DEFAULT_PING_S = 5.0  # between WATCHDOG=1 pings when systemd names no interval (WATCHDOG_USEC)


class SystemdNotifier:
    """Sends sd_notify messages; never raises (a lost message is logged once and the agent works on)."""

    def __init__(self, environ: Mapping[str, str] | None = None, clock=time.monotonic) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET") or None
        self._address = "\0" + address[1:] if address and address.startswith("@") else address
        usec = env.get("WATCHDOG_USEC", "")
        # Ping at a quarter of systemd's timeout: two lost or late pings still leave time.
        self.ping_every_s = int(usec) / 4e6 if usec.isdigit() and int(usec) > 0 else DEFAULT_PING_S
        self._clock = clock
        self._last_ping: float | None = None
        self._lock = threading.Lock()
        self._warned = False

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def ready(self, status: str = "") -> None:
        self._send("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def stopping(self) -> None:
        self._send("STOPPING=1")

    def watchdog(self) -> None:
        """Ping the watchdog, at most every `ping_every_s` however often it is called."""
        now = self._clock()
        with self._lock:
            if self._last_ping is not None and now - self._last_ping < self.ping_every_s:
                return
            self._last_ping = now
        self._send("WATCHDOG=1")

    def _send(self, message: str) -> None:
        if self._address is None:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(message.encode(), self._address)
        except OSError as exc:
            if not self._warned:
                self._warned = True
                log.warning("systemd notification %r not sent to %s: %s", message.split("\n")[0], self._address, exc)
