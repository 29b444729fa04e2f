"""Remote commands (operator unlocks): pure decision of what to open and what to answer, no I/O.

A command is answered once and the answer remembered (edge.store): a redelivered command id gets the same
acknowledgement again and opens nothing. Expiry is judged on the wall clock, like every code, so a command
that reaches a locker after its uplink came back late does nothing.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

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
    if previous is not None:
        return CommandVerdict(previous, repeated=True)
    if command.expires_at <= now:
        detail = f"expired at {command.expires_at.isoformat()} (locker time {now.isoformat(timespec='seconds')})"
        return CommandVerdict(CommandAck(id=command.id, ok=False, detail=detail[:300]))
    unknown = [c for c in dict.fromkeys(command.compartments) if c not in compartments]
    if unknown:
        detail = f"no compartment {', '.join(unknown)} in this locker; nothing opened"
        return CommandVerdict(CommandAck(id=command.id, ok=False, detail=detail[:300]))
    opened = tuple(dict.fromkeys(command.compartments))
    return CommandVerdict(CommandAck(id=command.id, ok=True, opened=list(opened)), open=opened)
