"""Remote commands (admin unlock): recorded and audited first, then sent at QoS 1 (not retained) to the locker's
`cmd` topic with an expiry, so a late delivery opens nothing; the locker's `cmd/ack` answers it (audited too).
A command nobody answered before it expired shows `expired`: computed when read, so nothing has to sweep.

The cloud's own `resend` commands (asking a locker for missing events, cloud.services.watchdog) are recorded
in the same table with issued_by `cloud` and logged, but are no audit entries: no person did anything."""

from __future__ import annotations

import logging
import re
import uuid
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db import Database, utcnow
from cloud.errors import InvalidRequest, NotFound, ServiceUnavailable
from cloud.models_edge import RemoteCommand
from cloud.schemas_edge import CommandOut, CommandsOut, UnlockRequest
from cloud.services import audit
from cloud.services.lockers import find_locker
from lockers.errors import DorpskluisError, TransportError
from lockers.protocol.messages import Command, CommandAck

log = logging.getLogger(__name__)

SENT, ACKNOWLEDGED, REFUSED, EXPIRED, FAILED = "sent", "acknowledged", "refused", "expired", "failed"
SYSTEM_ISSUER = "cloud"
RESEND_EXPIRES = timedelta(minutes=10)
_COMMAND_ID = re.compile(r"^[0-9a-f]{32}$")


class CommandPublisher(Protocol):
    """Where commands go (the MQTT bridge)."""

    def publish_command(self, locker_id: str, command: Command) -> object: ...


class UnknownCommand(DorpskluisError):
    """A locker answered a command the cloud never sent it."""


def state_of(command: RemoteCommand, now: datetime) -> str:
    """The stored state, or `expired` for a command still unanswered after its expiry."""
    if command.state == SENT and now >= command.expires_at:
        return EXPIRED
    return command.state


def command_out(command: RemoteCommand, now: datetime) -> CommandOut:
    return CommandOut(
        id=command.id,
        locker=command.locker_id,
        kind=command.kind,
        compartments=list(command.compartments),
        state=state_of(command, now),
        reason=command.reason,
        issued_by=command.issued_by,
        issued_at=command.issued_at,
        expires_at=command.expires_at,
        answered_at=command.answered_at,
        opened=list(command.opened) if command.opened is not None else None,
        detail=command.detail,
    )


class Commands:
    """Issuing remote unlocks, taking in their acknowledgements, and showing them."""

    def __init__(self, db: Database, publisher: CommandPublisher) -> None:
        self._db = db
        self._publisher = publisher

    def unlock(self, actor: str, locker_id: str, request: UnlockRequest) -> CommandOut:
        """Record and audit the command, then send it; 404 for an unknown locker, 422 for unknown compartments."""
        now = utcnow()
        with self._db.write() as session:
            locker = find_locker(session, locker_id)
            compartments = _known_compartments(locker.id, [c.id for c in locker.compartments], request.compartments)
            command = RemoteCommand(
                id=uuid.uuid4().hex,
                locker_id=locker.id,
                kind="unlock",
                compartments=compartments,
                reason=request.reason,
                issued_by=actor[:80],
                issued_at=now,
                expires_at=now + timedelta(seconds=request.expires_in_s),
                state=SENT,
            )
            session.add(command)
            new = {"locker": locker.id, "kind": "unlock", "compartments": compartments, "reason": request.reason}
            new["expires_at"] = command.expires_at.isoformat()
            audit.record(session, actor, "command.issued", f"command:{command.id}", None, new, now)
            message = Command(
                id=command.id,
                kind="unlock",
                compartments=compartments,
                expires_at=command.expires_at,
                issued_by=command.issued_by,
            )
            result = command_out(command, now)
        try:
            self._publisher.publish_command(locker_id, message)
        except TransportError as exc:
            self._failed(message.id, str(exc))
            raise ServiceUnavailable(f"command {message.id} could not be sent to locker {locker_id}: {exc}") from exc
        log.info("remote unlock %s of %s at %s by %s: %s", message.id, compartments, locker_id, actor, request.reason)
        return result

    def record_resend(
        self, session: Session, locker_id: str, first: int, last: int, why: str, now: datetime
    ) -> Command:
        """Record a resend request inside the caller's transaction; `send` it after commit."""
        command = RemoteCommand(
            id=uuid.uuid4().hex,
            locker_id=locker_id,
            kind="resend",
            compartments=[],
            reason=f"resend events {first}-{last}: {why}"[:1000],
            issued_by=SYSTEM_ISSUER,
            issued_at=now,
            expires_at=now + RESEND_EXPIRES,
            state=SENT,
        )
        session.add(command)
        return Command(
            id=command.id,
            kind="resend",
            from_seq=first,
            to_seq=last,
            expires_at=command.expires_at,
            issued_by=SYSTEM_ISSUER,
        )

    def send(self, locker_id: str, message: Command) -> bool:
        """Publish a recorded system command; a refused publish marks it failed (the next round asks again)."""
        try:
            self._publisher.publish_command(locker_id, message)
        except TransportError as exc:
            self._failed(message.id, str(exc))
            log.warning("could not send %s command %s to locker %s: %s", message.kind, message.id, locker_id, exc)
            return False
        return True

    def _failed(self, command_id: str, why: str) -> None:
        with self._db.write() as session:
            command = session.get(RemoteCommand, command_id, with_for_update=True)
            command.state, command.detail = FAILED, why[:300]
            if command.kind != "unlock":
                return  # a system command: logged by the caller, no audit entry
            audit.record(
                session,
                audit.SYSTEM,
                "command.failed",
                f"command:{command_id}",
                {"state": SENT},
                {"state": FAILED, "detail": command.detail},
            )

    def acknowledged(self, session: Session, locker_id: str, ack: CommandAck) -> bool:
        """Record the locker's answer inside the caller's transaction; False for a repeated answer."""
        command = session.get(RemoteCommand, ack.id, with_for_update=True)
        if command is None or command.locker_id != locker_id:
            raise UnknownCommand(f"locker {locker_id} answered command {ack.id}, which the cloud never sent it")
        if command.answered_at is not None:
            return False  # a QoS 1 repeat
        now = utcnow()
        old = {"state": state_of(command, now)}
        command.state = ACKNOWLEDGED if ack.ok else REFUSED
        command.answered_at = now
        command.opened = list(ack.opened)
        command.detail = ack.detail or None
        new = {"state": command.state, "opened": command.opened, "detail": ack.detail}
        if command.kind == "unlock":
            audit.record(
                session, f"locker {locker_id}", f"command.{command.state}", f"command:{command.id}", old, new, now
            )
        log.info("locker %s answered command %s: %s %s", locker_id, ack.id, command.state, ack.detail)
        return True

    def get(self, session: Session, command_id: str) -> CommandOut:
        command = session.get(RemoteCommand, command_id) if _COMMAND_ID.match(command_id) else None
        if command is None:
            raise NotFound(f"no command {command_id!r}")
        return command_out(command, utcnow())

    def of_locker(self, session: Session, locker_id: str, limit: int) -> CommandsOut:
        """The locker's commands, newest first."""
        locker = find_locker(session, locker_id)
        query = (
            select(RemoteCommand)
            .where(RemoteCommand.locker_id == locker.id)
            .order_by(RemoteCommand.issued_at.desc(), RemoteCommand.id)
            .limit(limit)
        )
        now = utcnow()
        return CommandsOut(locker=locker.id, commands=[command_out(c, now) for c in session.scalars(query)])


def _known_compartments(locker_id: str, existing: list[str], wanted: list[str]) -> list[str]:
    """`wanted` without repeats, in the order given; InvalidRequest names those the locker does not have."""
    unknown = [c for c in dict.fromkeys(wanted) if c not in existing]
    if unknown:
        raise InvalidRequest(
            f"compartments: locker {locker_id} has no compartment {', '.join(unknown)} (it has {', '.join(existing)})"
        )
    return list(dict.fromkeys(wanted))
