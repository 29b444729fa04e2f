"""Remote commands (operator unlocks, the cloud's resend requests): pure decisions of what to do and answer.

A command is answered once and the answer remembered (edge.store): a redelivered command id gets the same
acknowledgement again and opens or re-queues nothing. Expiry is judged on the wall clock, like every code, so
a command that reaches a locker after its uplink came back late does nothing. A resend never opens anything.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from edge.archive import Resent
from lockers.protocol.messages import Command, CommandAck


@dataclass(frozen=True, slots=True)
class CommandVerdict:
    """The acknowledgement to send, the compartments to pulse, and whether this id was answered before."""

    ack: CommandAck
    open: tuple[str, ...] = ()
    repeated: bool = False


def answer_command(
    command: Command, now: datetime, compartments: Collection[str], previous: CommandAck | None
) -> CommandVerdict:
    """Decide a remote unlock: repeat a previous answer, refuse (expired, unknown compartments), or open."""
    early = _repeated_or_expired(command, now, previous)
    if early is not None:
        return early
    if command.kind != "unlock":
        raise ValueError(f"not an unlock: {command.kind}")
    unknown = [c for c in dict.fromkeys(command.compartments) if c not in compartments]
    if unknown:
        detail = f"no compartment {', '.join(unknown)} in this locker; nothing opened"
        return CommandVerdict(CommandAck(id=command.id, ok=False, detail=detail[:300]))
    opened = tuple(dict.fromkeys(command.compartments))
    return CommandVerdict(CommandAck(id=command.id, ok=True, opened=list(opened)), open=opened)


def answer_resend(command: Command, now: datetime, previous: CommandAck | None) -> CommandVerdict | None:
    """Decide a resend before any work: repeat a previous answer or refuse an expired one; None: re-queue."""
    return _repeated_or_expired(command, now, previous)


def resend_ack(command_id: str, resent: Resent) -> CommandAck:
    """The answer to a resend that was carried out."""
    detail = f"resent {resent.resent} events; {resent.gone} no longer kept"
    if resent.queued:
        detail += f"; {resent.queued} still queued"
    if resent.unnumbered:
        detail += f"; {resent.unnumbered} not numbered yet"
    return CommandAck(id=command_id, ok=True, detail=detail)


def _repeated_or_expired(command: Command, now: datetime, previous: CommandAck | None) -> CommandVerdict | None:
    if previous is not None:
        return CommandVerdict(previous, repeated=True)
    if command.expires_at <= now:
        detail = f"expired at {command.expires_at.isoformat()} (locker time {now.isoformat(timespec='seconds')})"
        return CommandVerdict(CommandAck(id=command.id, ok=False, detail=detail[:300]))
    return None
