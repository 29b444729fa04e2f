"""Device accounts on the broker: the mosquitto password file, edited in place, and the broker told to reload.

Mosquitto reads its password and ACL files at start and on SIGHUP; at a reload it also disconnects clients
whose account is gone, so a revoked locker is off the broker at once and refused from then on.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path

from lockers.errors import ConfigError
from provisioning.passwords import (
    check_username,
    hash_password,
    parse_password_file,
    password_matches,
    render_password_file,
)

log = logging.getLogger(__name__)


class PasswordFileAccounts:
    """The accounts in one mosquitto password file; `pid_file` names the broker to signal after a change."""

    def __init__(self, path: Path, pid_file: Path | None = None) -> None:
        self.path = path
        self.pid_file = pid_file

    def usernames(self) -> list[str]:
        return list(self._read())

    def has(self, username: str, password: str | None = None) -> bool:
        """Whether the account exists (and, with `password`, whether that is its password)."""
        encoded = self._read().get(username)
        return encoded is not None and (password is None or password_matches(password, encoded))

    def set(self, username: str, password: str, *, reload: bool = True) -> None:
        """Create the account or give it a new password (the old one stops working at the reload)."""
        check_username(username)
        with self._editing(reload) as entries:
            entries[username] = hash_password(password)

    def set_many(self, passwords: dict[str, str]) -> None:
        """Create or change several accounts with one write and one reload (a fleet, a benchmark)."""
        for username in passwords:
            check_username(username)
        with self._editing() as entries:
            entries.update({username: hash_password(password) for username, password in passwords.items()})

    def ensure(self, username: str, password: str, *, reload: bool = True) -> bool:
        """Make `password` the account's password unless it already is; True when something changed.
        `reload=False` before the broker runs (it reads the file when it starts)."""
        if self.has(username, password):
            return False
        self.set(username, password, reload=reload)
        return True

    def remove(self, username: str) -> bool:
        """Delete the account; True when it existed."""
        with self._editing() as entries:
            return entries.pop(username, None) is not None

    def _read(self) -> dict[str, str]:
        try:
            return parse_password_file(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigError(f"cannot read the broker password file {self.path}: {exc.strerror}") from exc

    @contextlib.contextmanager
    def _editing(self, reload: bool = True) -> Iterator[dict[str, str]]:
        """Read, let the caller change, write atomically and reload the broker, under an exclusive lock
        (several cloud workers, or the CLI, may edit at once)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            entries = self._read()
            before = dict(entries)
            yield entries
            if entries == before:
                return
            temporary = self.path.with_name(self.path.name + ".new")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(render_password_file(entries))
            os.replace(temporary, self.path)  # mosquitto never sees a half-written file
        if reload:
            self.reload_broker()

    def reload_broker(self) -> bool:
        """SIGHUP the broker named by the pid file; False (and a warning saying what to do) when there is none."""
        if self.pid_file is None:
            log.warning("broker accounts changed in %s; no pid file configured: reload the broker (SIGHUP)", self.path)
            return False
        try:
            pid = int(self.pid_file.read_text().strip())
            os.kill(pid, signal.SIGHUP)
        except (OSError, ValueError) as exc:
            log.warning("could not tell the broker (pid file %s) to reload: %s; send it SIGHUP", self.pid_file, exc)
            return False
        return True
