"""Runs of `state` and `reported` messages (births, Last Wills, heartbeats) applied in one transaction.

The same rules as one message at a time (Ingest._state, Ingest._reported), in arrival order per locker, with one
lookup for the whole run: a fleet of 10,000 lockers sends 20,000 of these at connect and ~170 heartbeats a second,
far more than one transaction each can keep up with."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from cloud.models import Locker
from cloud.models_edge import EventStream
from cloud.services import streams
from cloud.services.event_effects import set_door
from lockers.protocol.messages import Message, Reported, StateMessage
from lockers.protocol.topics import Channel, TopicAddress

PresenceItem = tuple[TopicAddress, Message, bool]  # (address, message, retained)
CHANNELS = (Channel.STATE, Channel.REPORTED)


def is_presence(address: TopicAddress, message: Message) -> bool:
    """Whether a message belongs in a presence run."""
    return (address.channel is Channel.STATE and isinstance(message, StateMessage)) or (
        address.channel is Channel.REPORTED and isinstance(message, Reported)
    )


def apply(session: Session, items: Sequence[PresenceItem], now: datetime) -> list[str | None]:
    """Apply the run inside the caller's transaction; per message None (applied) or the id of an unknown locker."""
    wanted = sorted({address.locker for address, _, _ in items})
    known = set(session.scalars(select(Locker.id).where(Locker.id.in_(wanted))))
    reported = [(address.locker, message) for address, message, _ in items if isinstance(message, Reported)]
    # Event numbering first, before any locker row is locked: the same lock order as events and one-by-one
    # `reported`. Prefetching the numbering rows lets track_reported answer the usual "nothing new" from memory.
    numbered = sorted({locker for locker, message in reported if locker in known and message.last_seq >= 1})
    if numbered:
        session.scalars(select(EventStream).where(EventStream.locker_id.in_(numbered))).all()
    for locker_id, message in reported:
        if locker_id in known:
            streams.track_reported(session, locker_id, message.last_seq, now)
    query = select(Locker).where(Locker.id.in_(sorted(known))).order_by(Locker.id).with_for_update()
    if any(message.doors for _, message in reported):
        query = query.options(selectinload(Locker.compartments))
    # Locked in id order, as telemetry batches do: nodes sharing telemetry take turns per locker, no deadlock.
    lockers = {locker.id: locker for locker in session.scalars(query)}
    results: list[str | None] = []
    for address, message, retained in items:
        locker = lockers.get(address.locker)
        if locker is None:
            results.append(address.locker)
            continue
        if isinstance(message, StateMessage):
            locker.online = message.state == "online"
            if message.agent:
                locker.agent = message.agent
        else:
            locker.reported_version = message.desired_version
            locker.agent = message.agent
            if message.doors:
                by_id = {compartment.id: compartment for compartment in locker.compartments}
                for compartment_id, door in message.doors.items():
                    if compartment_id in by_id:
                        set_door(by_id[compartment_id], door, message.ts)
        if not retained:  # retained copies replayed on subscribing are no sign of life
            locker.last_seen = now
        results.append(None)
    return results
