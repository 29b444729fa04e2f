"""Failed-authentication limits per client (pure, clock injected): after too many failures in a window the
client is refused with 429 until the window has passed, whether its next attempt would be right or not."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator

from cloud.errors import Forbidden, Gone, NotFound, TooManyRequests, Unauthorized

# A resident link is an order id and a token: guessing either is a failure.
LINK_FAILURES = (Forbidden, Gone, NotFound)

MAX_CLIENTS = 10_000  # clients remembered; the oldest is forgotten first, so a flood of addresses cannot eat memory


class FailureLimiter:
    """At most `allowed` failed attempts per client within `window_s` seconds."""

    def __init__(self, allowed: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.allowed = allowed
        self.window_s = window_s
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, client: str) -> None:
        """Raise TooManyRequests while `client` has used up its failures."""
        with self._lock:
            recent = self._recent(client)
            if recent is not None and len(recent) >= self.allowed:
                retry = max(1, int(recent[0] + self.window_s - self._clock()) + 1)
                raise TooManyRequests(
                    f"too many failed attempts from this client; try again in {retry} s", retry_after_s=retry
                )

    def fail(self, client: str) -> None:
        with self._lock:
            recent = self._recent(client)
            if recent is None:
                recent = self._failures[client] = deque(maxlen=self.allowed)
                while len(self._failures) > MAX_CLIENTS:
                    self._failures.popitem(last=False)
            recent.append(self._clock())
            self._failures.move_to_end(client)

    @contextlib.contextmanager
    def attempt(self, client: str, counted: tuple[type[Exception], ...] = (Unauthorized, Gone)) -> Iterator[None]:
        """Run an authentication: refused outright when over the limit; a `counted` refusal is a failure."""
        self.check(client)
        try:
            yield
        except counted:
            self.fail(client)
            raise

    def _recent(self, client: str) -> deque[float] | None:
        recent = self._failures.get(client)
        if recent is None:
            return None
        horizon = self._clock() - self.window_s
        while recent and recent[0] <= horizon:
            recent.popleft()
        if not recent:
            del self._failures[client]
            return None
        return recent
