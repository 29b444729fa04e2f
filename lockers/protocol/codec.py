"""One decode per message: bytes of a channel to its frozen pydantic model, or MalformedMessage."""

from __future__ import annotations

from pydantic import ValidationError

from lockers.errors import MalformedMessage
from lockers.protocol.messages import (
    Command,
    CommandAck,
    DesiredState,
    Event,
    Message,
    Reported,
    StateMessage,
    Telemetry,
)
from lockers.protocol.topics import Channel

MAX_PAYLOAD_BYTES = 256 * 1024

MODELS: dict[Channel, type[Message]] = {
    Channel.STATE: StateMessage,
    Channel.TELEMETRY: Telemetry,
    Channel.EVENTS: Event,
    Channel.DESIRED: DesiredState,
    Channel.REPORTED: Reported,
    Channel.CMD: Command,
    Channel.CMD_ACK: CommandAck,
}


def encode(message: Message) -> bytes:
    """Serialise a message as compact JSON."""
    return message.model_dump_json(exclude_none=True).encode()


def decode(channel: Channel, payload: bytes) -> Message:
    """Parse the payload of `channel`; anything that is not a valid message raises MalformedMessage."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise MalformedMessage(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        return MODELS[channel].model_validate_json(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "payload"
        raise MalformedMessage(f"{channel.value}: {where}: {first['msg']} ({exc.error_count()} error(s))") from None


def preview(payload: bytes, limit: int = 120) -> str:
    """A short, printable excerpt of a payload for log lines."""
    text = payload[:limit].decode("utf-8", errors="replace")
    return text + ("…" if len(payload) > limit else "")
