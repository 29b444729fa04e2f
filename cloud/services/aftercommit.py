"""Work that must wait until a transaction has committed: republishing desired states, waking the notifier."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


class Republisher(Protocol):
    def publish(self, locker_id: str) -> object: ...

    def publish_all(self) -> int: ...


class Waker(Protocol):
    def wake(self) -> None: ...


@dataclass
class AfterCommit:
    """Collected while a transaction runs; `run` it only once the transaction committed."""

    republish: set[str] = field(default_factory=set)
    notify: bool = False

    def run(self, desired: Republisher, notifier: Waker | None) -> None:
        for locker_id in sorted(self.republish):
            desired.publish(locker_id)
        if self.notify and notifier is not None:
            notifier.wake()
