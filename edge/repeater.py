"""A daemon thread that runs an action now and then every `interval()` seconds until stopped."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Repeater:
    """Calls `action` on its own thread; `poke` makes it re-read the interval at once (a new setting)."""

    def __init__(
        self, name: str, interval: Callable[[], float], action: Callable[[], None], *, immediate: bool
    ) -> None:
        self._interval = interval
        self._action = action
        self._immediate = immediate
        self._stopping = threading.Event()
        self._poked = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def poke(self) -> None:
        self._poked.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._poked.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        last = time.monotonic()
        if self._immediate:
            self._run_action()
        while not self._stopping.is_set():
            left = last + self._interval() - time.monotonic()
            if left > 0:
                self._poked.wait(left)
                self._poked.clear()
                continue  # woken early: stop, or re-read the interval against the same start
            if self._stopping.is_set():
                break
            last = time.monotonic()
            self._run_action()

    def _run_action(self) -> None:
        try:
            self._action()
        except Exception:  # keep repeating: one failed round must not end telemetry or ticks for good
            log.exception("%s failed", self._thread.name)
