"""Ingest of decoded edge messages: events and command acks each in their own transaction; state and reported
alone or in runs (one transaction, see presence_batch); telemetry in batches (several queued messages, one
transaction, one insert statement) that also feed the alarm rules."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud.db import Database, utcnow
from cloud.models import EdgeEvent, Locker
from cloud.services import presence_batch as presence_runs
from cloud.services import readings, streams
from cloud.services.aftercommit import AfterCommit, Waker
from cloud.services.commands import Commands, UnknownCommand
from cloud.services.desired import DesiredStates
from cloud.services.event_effects import EventEffects, set_door
from cloud.services.monitoring import Monitoring
from cloud.services.readings import LockerReading
from lockers.errors import DorpskluisError
from lockers.protocol.messages import CommandAck, Event, EventKind, Message, Reported, StateMessage, Telemetry
from lockers.protocol.messages import Reading as ReadingMessage
from lockers.protocol.topics import Channel, TopicAddress

log = logging.getLogger(__name__)


# Columns of their own in edge_events; the rest of an event goes into its `fields`.
_ENVELOPE = {"v", "id", "seq", "ts", "kind"}
_DOOR_OPEN = {EventKind.DOOR_OPENED: True, EventKind.TAMPER: True, EventKind.DOOR_CLOSED: False}
# Telemetry moves `last_seen` on at most this often (or a 20th of DK_OFFLINE_AFTER_S, if that is shorter): each
# write is a new version of the (wide) locker row, and presence needs minutes, not seconds.
LAST_SEEN_STEP_S = 5.0

# Called after commit, per locker, with the readings a batch stored (repeats left out): `sink(locker, readings)`.
# It must only hand them on (e.g. `InfluxExporter.submit` queues them), never block ingest.
ReadingSink = Callable[[str, Sequence[ReadingMessage]], None]


class Outcome(StrEnum):
    """What became of a message that was accepted."""

    PROCESSED = "processed"
    DUPLICATE = "duplicate"  # an event id we already stored (QoS 1 repeat)
    INCONSISTENT = "inconsistent"  # stored, but it did not fit the state we know


class Dropped(DorpskluisError):
    """A well-formed message the cloud will not take (e.g. from an unregistered locker); `reason` counts it."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class _Duplicate(Exception):
    """The event id is already stored: leave the transaction without applying anything."""


class Ingest:
    """Applies what lockers report; the locker a message is about is always the one in its topic."""

    def __init__(
        self,
        db: Database,
        effects: EventEffects,
        desired: DesiredStates,
        monitoring: Monitoring,
        commands: Commands,
        notifier: Waker | None = None,
        seen_step_s: float = LAST_SEEN_STEP_S,
    ) -> None:
        self._db = db
        self._seen_step = timedelta(seconds=min(seen_step_s, LAST_SEEN_STEP_S))
        self._effects = effects
        self._desired = desired
        self._monitoring = monitoring
        self._commands = commands
        self._notifier = notifier
        self._sinks: list[ReadingSink] = []

    def add_reading_sink(self, sink: ReadingSink) -> None:
        """Also hand every newly stored reading to `sink` (e.g. the InfluxDB export), after commit."""
        self._sinks.append(sink)

    def handle(self, address: TopicAddress, message: Message, retained: bool = False) -> Outcome:
        """Apply one decoded message; raise Dropped for messages the cloud does not take.

        `retained`: the broker replayed its stored copy because we subscribed; it tells the locker's last
        known state but is no sign of life (it may be hours old)."""
        if address.channel is Channel.EVENTS and isinstance(message, Event):
            return self._event(address.locker, message)
        if address.channel is Channel.STATE and isinstance(message, StateMessage):
            return self._state(address.locker, message, retained)
        if address.channel is Channel.REPORTED and isinstance(message, Reported):
            return self._reported(address.locker, message, retained)
        if address.channel is Channel.TELEMETRY and isinstance(message, Telemetry):
            (result,) = self.telemetry_batch([(address, message)])
            if isinstance(result, Dropped):
                raise result
            return result
        if address.channel is Channel.CMD_ACK and isinstance(message, CommandAck):
            return self._command_ack(address.locker, message)
        raise Dropped("unexpected_channel", f"the cloud does not consume {address.channel.value} messages")

    @staticmethod
    def _locker(session: Session, locker_id: str) -> Locker:
        locker = session.get(Locker, locker_id)
        if locker is None:
            raise Dropped("unknown_locker", f"no locker {locker_id!r} is registered")
        return locker

    def _state(self, locker_id: str, message: StateMessage, retained: bool) -> Outcome:
        with self._db.write() as session:
            locker = self._locker(session, locker_id)
            locker.online = message.state == "online"
            if not retained:
                locker.last_seen = utcnow()
            if message.agent:
                locker.agent = message.agent
        log.info("locker %s is %s%s", locker_id, message.state, " (retained)" if retained else "")
        return Outcome.PROCESSED

    def _reported(self, locker_id: str, message: Reported, retained: bool) -> Outcome:
        with self._db.write() as session:
            locker = self._locker(session, locker_id)
            # Events numbered after the last one received may have been lost (trailing gap). Before the locker row
            # changes: the numbering is locked before the locker, as for events.
            streams.track_reported(session, locker_id, message.last_seq, utcnow())
            locker.reported_version = message.desired_version
            locker.agent = message.agent
            if not retained:  # the edge re-publishes `reported` as its heartbeat
                locker.last_seen = utcnow()
            by_id = {c.id: c for c in locker.compartments}
            for compartment_id, door in message.doors.items():
                if compartment_id in by_id:
                    set_door(by_id[compartment_id], door, message.ts)
        return Outcome.PROCESSED

    def presence_batch(self, items: Sequence[presence_runs.PresenceItem]) -> list[Outcome | Dropped]:
        """Apply a run of state and reported messages (address, message, retained) in one transaction, in arrival
        order, as `handle` would one by one; one result per message."""
        with self._db.write() as session:
            unknown = presence_runs.apply(session, items, utcnow())
        results: list[Outcome | Dropped] = []
        for (address, message, retained), locker_id in zip(items, unknown, strict=True):
            if locker_id is not None:
                results.append(Dropped("unknown_locker", f"no locker {locker_id!r} is registered"))
                continue
            if isinstance(message, StateMessage):
                log.info("locker %s is %s%s", address.locker, message.state, " (retained)" if retained else "")
            results.append(Outcome.PROCESSED)
        return results

    def _command_ack(self, locker_id: str, message: CommandAck) -> Outcome:
        try:
            with self._db.write() as session:
                locker = self._locker(session, locker_id)
                locker.last_seen = utcnow()
                fresh = self._commands.acknowledged(session, locker_id, message)
        except UnknownCommand as exc:
            raise Dropped("unknown_command", str(exc)) from None
        return Outcome.PROCESSED if fresh else Outcome.DUPLICATE

    def telemetry_batch(self, items: Sequence[tuple[TopicAddress, Telemetry]]) -> list[Outcome | Dropped]:
        """Store and monitor several telemetry messages in one transaction; one result per message."""
        results: list[Outcome | Dropped] = []
        after = AfterCommit()
        new: list[LockerReading] = []
        with self._monitoring.staged() as stage, self._db.write() as session:
            wanted = sorted({address.locker for address, _ in items})
            # Locked in id order: ingest processes sharing the telemetry (`$share/...`) take turns per locker,
            # without deadlocks, and each then reads what the other committed (monitors, limits).
            known = _lock_lockers(session, wanted, utcnow(), self._seen_step)
            batch: list[LockerReading] = []
            for address, message in items:
                if address.locker not in known:
                    results.append(Dropped("unknown_locker", f"no locker {address.locker!r} is registered"))
                    continue
                results.append(Outcome.PROCESSED)
                batch += [(address.locker, reading) for reading in message.readings]
            if batch:
                new = readings.store(session, batch)
                self._monitoring.observe_readings(session, after, stage, new)
        after.run(self._desired, self._notifier)
        self._hand_to_sinks(new)
        return results

    def _hand_to_sinks(self, new: Sequence[LockerReading]) -> None:
        per_locker: dict[str, list[ReadingMessage]] = defaultdict(list)
        for locker_id, reading in new:
            per_locker[locker_id].append(reading)
        for sink in self._sinks:
            for locker_id, stored in per_locker.items():
                try:
                    sink(locker_id, stored)
                except Exception:  # the readings are stored; a broken exporter must not undo ingest
                    log.exception("reading sink %r failed for %s", sink, locker_id)

    def _event(self, locker_id: str, event: Event) -> Outcome:
        now = utcnow()
        after = AfterCommit()
        try:
            with self._monitoring.staged() as stage, self._db.write() as session:
                locker = self._locker(session, locker_id)
                row = EdgeEvent(
                    event_id=event.id,
                    locker_id=locker_id,
                    seq=event.seq,
                    ts=event.ts,
                    kind=event.kind.value,
                    fields=event.model_dump(mode="json", exclude=_ENVELOPE, exclude_none=True),
                    received_at=now,
                )
                session.add(row)
                try:
                    # The unique event id decides, not a lookup: two deliveries can never both get in.
                    session.flush()
                except IntegrityError:
                    raise _Duplicate from None
                # Locks the locker's numbering row: one locker's events are applied one at a time.
                row.numbering = streams.track(session, locker_id, event.id, event.seq, now).numbering.epoch
                locker.last_seen = now
                effect = self._effects.apply(session, locker, event, now, after)
                if event.kind in _DOOR_OPEN and event.compartment:
                    is_open = _DOOR_OPEN[event.kind]
                    self._monitoring.observe_door(session, after, stage, locker, event.compartment, event.ts, is_open)
        except _Duplicate:
            log.debug("locker %s event %s is a repeat; ignored", locker_id, event.id)
            return Outcome.DUPLICATE
        if effect.republish:
            after.republish.add(locker_id)
        after.run(self._desired, self._notifier)
        return Outcome.PROCESSED if effect.consistent else Outcome.INCONSISTENT


def _lock_lockers(session: Session, wanted: Sequence[str], now: datetime, step: timedelta) -> set[str]:
    """Lock the registered ones of `wanted` (in id order) for this transaction and record that they were heard
    from, unless that was recorded less than `step` ago; returns their ids."""
    stale = now - step
    if session.get_bind().dialect.name == "postgresql":  # one round trip, prepared, no statement to build
        rows = readings.pg_execute(session, _LOCK_AND_SEE_PG, [readings.pg_text_array(wanted), now, stale])
        return {locker_id for (locker_id,) in rows}
    query = select(Locker.id).where(Locker.id.in_(wanted)).order_by(Locker.id).with_for_update()
    known = set(session.scalars(query))
    recent = Locker.last_seen.is_not(None) & (Locker.last_seen >= stale)
    session.execute(update(Locker).where(Locker.id.in_(known), ~recent).values(last_seen=now))
    return known


_LOCK_AND_SEE_PG = """
WITH locked AS (
    SELECT id, last_seen FROM lockers WHERE id = ANY(%s::text[]) ORDER BY id FOR UPDATE
), seen AS (
    UPDATE lockers SET last_seen = %s FROM locked
    WHERE lockers.id = locked.id AND (locked.last_seen IS NULL OR locked.last_seen < %s)
)
SELECT id FROM locked
"""
