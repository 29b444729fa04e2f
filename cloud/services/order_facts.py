"""Facts about order parts that lockers report: loaded, collected and retrieved, each with its time and event.

Recording a fact commutes: whatever order events arrive in, a part ends up with the earliest event that
reported it (by the locker's time, then event id), so repeats and replays change nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cloud.models import OrderPart
from lockers.protocol.messages import Event


class Fact(StrEnum):
    LOADED = "loaded"
    COLLECTED = "collected"  # by the resident
    RETRIEVED = "retrieved"  # taken back by the vendor


@dataclass(frozen=True, slots=True)
class Known:
    """One part's fact: when (clamped to our clock), the locker's own time, the event, the compartment."""

    at: datetime
    ts: datetime | None
    event: str | None  # None for facts recorded before events were named
    compartment: str | None


def known(part: OrderPart, fact: Fact) -> Known | None:
    at = getattr(part, f"{fact}_at")
    return (
        None
        if at is None
        else Known(at, getattr(part, f"{fact}_ts"), getattr(part, f"{fact}_event"), part.compartment_id)
    )


def _store(part: OrderPart, fact: Fact, at: datetime, ts: datetime, event: str) -> None:
    setattr(part, f"{fact}_at", at)
    setattr(part, f"{fact}_ts", ts)
    setattr(part, f"{fact}_event", event)


def emptied(part: OrderPart) -> bool:
    """The part left the locker: the resident collected it or the vendor took it back."""
    return known(part, Fact.COLLECTED) is not None or known(part, Fact.RETRIEVED) is not None


def record(parts: Sequence[OrderPart], fact: Fact, event: Event, now: datetime) -> bool:
    """Record `fact` on `parts` from `event`; True when a part had no such fact before."""
    first = False
    # A late report (store-and-forward) must not make goods look fresher than they are, nor lie in our future.
    at = min(event.ts, now)
    for part in parts:
        current = known(part, fact)
        if current is None:
            first = True
        elif current.ts is None or current.event is None or (event.ts, event.id) >= (current.ts, current.event):
            continue  # an earlier (or the same) report stands
        _store(part, fact, at, event.ts, event.id)
    return first


def complete(parts: Sequence[OrderPart], fact: Fact) -> bool:
    return all(known(part, fact) is not None for part in parts)


def last(parts: Sequence[OrderPart], fact: Fact) -> Known:
    """The latest fact among `parts` (they all have it): the one that completed the set, in any arrival order."""
    facts = [fact_of for part in parts if (fact_of := known(part, fact)) is not None]
    return max(facts, key=lambda k: (k.ts or k.at, k.event or ""))
