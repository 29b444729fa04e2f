"""Ingest of decoded edge messages: state, reported, telemetry and events, each in its own transaction."""

from __future__ import annotations

import logging
from enum import StrEnum

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud.db import Database, utcnow
from cloud.models import EdgeEvent, LatestReading, Locker, Reading
from cloud.services.desired import DesiredStates
from cloud.services.event_effects import EventEffects, set_door
from lockers.errors import DorpskluisError
from lockers.protocol.messages import CommandAck, Event, Message, Reported, StateMessage, Telemetry
from lockers.protocol.messages import Reading as ReadingMessage
from lockers.protocol.topics import Channel, TopicAddress

log = logging.getLogger(__name__)


# Columns of their own in edge_events; the rest of an event goes into its `fields`.
_ENVELOPE = {"v", "id", "seq", "ts", "kind"}


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

    def __init__(self, db: Database, effects: EventEffects, desired: DesiredStates) -> None:
        self._db = db
        self._effects = effects
        self._desired = desired

    def handle(self, address: TopicAddress, message: Message) -> Outcome:
        """Apply one decoded message; raise Dropped for messages the cloud does not take."""
        if address.channel is Channel.EVENTS and isinstance(message, Event):
            return self._event(address.locker, message)
        if address.channel is Channel.STATE and isinstance(message, StateMessage):
            return self._state(address.locker, message)
        if address.channel is Channel.REPORTED and isinstance(message, Reported):
            return self._reported(address.locker, message)
        if address.channel is Channel.TELEMETRY and isinstance(message, Telemetry):
            return self._telemetry(address.locker, message)
        if address.channel is Channel.CMD_ACK and isinstance(message, CommandAck):
            self._known(address.locker)
            log.info(
                "locker %s acknowledged command %s: ok=%s %s", address.locker, message.id, message.ok, message.detail
            )
            return Outcome.PROCESSED
        raise Dropped("unexpected_channel", f"the cloud does not consume {address.channel.value} messages")

    @staticmethod
    def _locker(session: Session, locker_id: str) -> Locker:
        locker = session.get(Locker, locker_id)
        if locker is None:
            raise Dropped("unknown_locker", f"no locker {locker_id!r} is registered")
        return locker

    def _known(self, locker_id: str) -> None:
        with self._db.read() as session:
            self._locker(session, locker_id)

    def _state(self, locker_id: str, message: StateMessage) -> Outcome:
        with self._db.write() as session:
            locker = self._locker(session, locker_id)
            locker.online = message.state == "online"
            locker.last_seen = utcnow()
            if message.agent:
                locker.agent = message.agent
        log.info("locker %s is %s", locker_id, message.state)
        return Outcome.PROCESSED

    def _reported(self, locker_id: str, message: Reported) -> Outcome:
        with self._db.write() as session:
            locker = self._locker(session, locker_id)
            locker.reported_version = message.desired_version
            locker.agent = message.agent
            locker.last_seen = utcnow()
            by_id = {c.id: c for c in locker.compartments}
            for compartment_id, door in message.doors.items():
                if compartment_id in by_id:
                    set_door(by_id[compartment_id], door, message.ts)
        return Outcome.PROCESSED

    def _telemetry(self, locker_id: str, message: Telemetry) -> Outcome:
        with self._db.write() as session:
            locker = self._locker(session, locker_id)
            locker.last_seen = utcnow()
            newest: dict[str, ReadingMessage] = {}
            for reading in message.readings:
                session.add(Reading(**_columns(locker_id, reading)))
                if reading.sensor not in newest or reading.ts > newest[reading.sensor].ts:
                    newest[reading.sensor] = reading
            for reading in newest.values():
                _update_latest(session, locker_id, reading)
        return Outcome.PROCESSED

    def _event(self, locker_id: str, event: Event) -> Outcome:
        now = utcnow()
        try:
            with self._db.write() as session:
                locker = self._locker(session, locker_id)
                session.add(
                    EdgeEvent(
                        event_id=event.id,
                        locker_id=locker_id,
                        seq=event.seq,
                        ts=event.ts,
                        kind=event.kind.value,
                        fields=event.model_dump(mode="json", exclude=_ENVELOPE, exclude_none=True),
                        received_at=now,
                    )
                )
                try:
                    # The unique event id decides, not a lookup: two deliveries can never both get in.
                    session.flush()
                except IntegrityError:
                    raise _Duplicate from None
                locker.last_seen = now
                effect = self._effects.apply(session, locker, event, now)
        except _Duplicate:
            log.debug("locker %s event %s is a repeat; ignored", locker_id, event.id)
            return Outcome.DUPLICATE
        if effect.republish:
            self._desired.publish(locker_id)
        return Outcome.PROCESSED if effect.consistent else Outcome.INCONSISTENT


def _update_latest(session: Session, locker_id: str, reading: ReadingMessage) -> None:
    latest = session.get(LatestReading, (locker_id, reading.sensor))
    if latest is None:
        session.add(LatestReading(**_columns(locker_id, reading)))
    elif reading.ts >= latest.ts:
        latest.zone, latest.ts = reading.zone.value, reading.ts
        latest.celsius, latest.quality = reading.celsius, reading.quality.value


def _columns(locker_id: str, reading: ReadingMessage) -> dict:
    """A reading message as the columns shared by `readings` and `latest_readings`."""
    return {
        "locker_id": locker_id,
        "sensor": reading.sensor,
        "zone": reading.zone.value,
        "ts": reading.ts,
        "celsius": reading.celsius,
        "quality": reading.quality.value,
    }
