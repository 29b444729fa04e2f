"""Helpers shared by tests: skipping for absent servers (failing in CI) and polling with a deadline."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

T = TypeVar("T")


def service_missing(reason: str) -> None:
    """Skip a test whose server is absent; in CI, where every server must be present, fail instead."""
    if IN_CI:
        pytest.fail(f"CI must provide this server: {reason}")
    pytest.skip(reason)


def wait_until(probe: Callable[[], T], timeout: float = 10.0, what: str = "condition", interval: float = 0.02) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)
