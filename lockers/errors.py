"""Exception hierarchy shared by edge and cloud; adapters translate library errors into these."""


class DorpskluisError(Exception):
    """Base of every error Dorpskluis raises on purpose."""


class LayoutError(DorpskluisError):
    """A locker layout is missing, unreadable or inconsistent."""


class MalformedMessage(DorpskluisError):
    """An MQTT payload or topic that does not match the wire protocol."""


class CodeRejected(DorpskluisError):
    """A pickup token, vendor code or PIN that must not open anything; `reason` says why."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail or reason


class TransportError(DorpskluisError):
    """The MQTT broker could not be reached or refused us."""


class ConfigError(DorpskluisError):
    """A configuration file is missing, unreadable or invalid."""


class ControlError(DorpskluisError):
    """The local control channel of a locker agent cannot be reached or answered nonsense."""
