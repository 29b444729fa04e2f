"""Results and work items of the agent's queue: what other threads hand to the worker."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field

from lockers.errors import DorpskluisError
from lockers.protocol.messages import Method, RejectReason


class AgentError(DorpskluisError):
    """The agent is not running or did not answer in time."""


@dataclass(frozen=True, slots=True)
class ScanResult:
    """What the person at the locker is told after a scan or PIN."""

    ok: bool
    opened: list[str]
    reason: RejectReason | None
    message: str
    method: Method | None = None  # how it was opened: a vendor loads, a resident collects
    purpose: str | None = None  # what the person came to do (edge.codecheck.Purpose), when something opened
    wait_s: int | None = None  # refused as too early: seconds until the code works


# --- work items (the worker's only inputs; sensor rounds and inbound MQTT messages come as they are) ------


@dataclass(frozen=True, slots=True)
class Scan:
    text: str
    reply: Future = field(default_factory=Future)


@dataclass(frozen=True, slots=True)
class StatusRequest:
    reply: Future = field(default_factory=Future)


@dataclass(frozen=True, slots=True)
class DoorChange:
    compartment: str
    is_open: bool


@dataclass(frozen=True, slots=True)
class ConnectionChange:
    up: bool


class Tick:
    pass


class Heartbeat:
    """Time to re-send `reported`: the cloud tells a quiet locker from a silent one by it."""


class SyncDoors:
    """Tell the cold-chain rules the door positions the agent holds (once, at start)."""


class Stop:
    pass
