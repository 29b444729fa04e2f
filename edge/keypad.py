"""Wrong-PIN counting and keypad lockout: a small immutable value the agent carries between scans."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from lockers.protocol.messages import EdgeSettings


@dataclass(frozen=True, slots=True)
class KeypadState:
    """Wrong PINs typed in a row, and until when the keypad refuses every PIN."""

    failures: int = 0
    locked_until: datetime | None = None

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def current(self, now: datetime) -> KeypadState:
        """This state, or a fresh one once a lockout has run out."""
        if self.locked_until is not None and now >= self.locked_until:
            return KeypadState()
        return self

    def wrong_pin(self, settings: EdgeSettings, now: datetime) -> KeypadState:
        """After one more wrong PIN: the `pin_max_attempts`-th in a row locks the keypad."""
        failures = self.failures + 1
        if failures >= settings.pin_max_attempts:
            return KeypadState(failures=failures, locked_until=now + timedelta(seconds=settings.pin_lockout_s))
        return KeypadState(failures=failures)

    def succeeded(self) -> KeypadState:
        return KeypadState()

    def attempts_left(self, settings: EdgeSettings) -> int:
        return max(0, settings.pin_max_attempts - self.failures)
