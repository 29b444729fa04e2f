"""The failed-authentication limiter on its own, with a hand-driven clock."""

from __future__ import annotations

import pytest

from cloud import ratelimit
from cloud.errors import Gone, NotFound, TooManyRequests, Unauthorized
from cloud.ratelimit import FailureLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail(limiter: FailureLimiter, client: str, error: Exception) -> None:
    with pytest.raises(type(error)), limiter.attempt(client):
        raise error


def test_failures_block_the_client_until_the_window_passed():
    clock = Clock()
    limiter = FailureLimiter(allowed=3, window_s=60, clock=clock)
    for _ in range(3):
        fail(limiter, "10.0.0.1", Unauthorized("no"))
    with pytest.raises(TooManyRequests) as blocked, limiter.attempt("10.0.0.1"):
        pass
    assert 1 <= blocked.value.retry_after_s <= 61
    with limiter.attempt("10.0.0.2"):  # others are not affected
        pass
    clock.now += 61
    with limiter.attempt("10.0.0.1"):
        pass


@pytest.mark.parametrize(("error", "counts"), [(Gone("used"), True), (NotFound("no"), False), (ValueError("x"), False)])
def test_only_refused_credentials_count(error, counts):
    limiter = FailureLimiter(allowed=1, window_s=60, clock=Clock())
    fail(limiter, "c", error)
    if counts:
        with pytest.raises(TooManyRequests):
            limiter.check("c")
    else:
        limiter.check("c")


def test_a_flood_of_addresses_cannot_grow_memory_without_bound(monkeypatch):
    monkeypatch.setattr(ratelimit, "MAX_CLIENTS", 50)
    limiter = FailureLimiter(allowed=2, window_s=60, clock=Clock())
    for number in range(500):
        limiter.fail(f"10.0.{number // 256}.{number % 256}")
    assert len(limiter._failures) == 50  # noqa: SLF001 - the bound is the point
