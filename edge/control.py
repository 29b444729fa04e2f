"""Local control channel of a running agent: a Unix socket, one JSON request line in, one JSON line out.

Requests: {"cmd": "scan", "code": "…"}, {"cmd": "status"}, and on simulated cabinets only
{"cmd": "door", "compartment": "B2", "action": "open"|"close"},
{"cmd": "fault", "zone": "chilled", "fault": "compressor-failure"|…|"clear"} and
{"cmd": "uplink", "state": "down"|"up"} (cut or restore the broker connection; the locker works on).
Answers: {"ok": true|false, "message": "…", …}. Only the user who runs the agent can connect (mode 0600).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import socketserver
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from lockers.errors import ControlError, DorpskluisError

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 64 * 1024
MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes including the terminating NUL


def runtime_dir() -> Path:
    """DK_RUN_DIR, else $XDG_RUNTIME_DIR/dorpskluis, else /tmp/dorpskluis-<uid>."""
    if os.environ.get("DK_RUN_DIR"):
        return Path(os.environ["DK_RUN_DIR"])
    if os.environ.get("XDG_RUNTIME_DIR"):
        return Path(os.environ["XDG_RUNTIME_DIR"]) / "dorpskluis"
    return Path("/tmp") / f"dorpskluis-{os.getuid()}"


def socket_path(locker: str) -> Path:
    return runtime_dir() / "lockers" / f"{locker}.sock"


class ScanAnswer(Protocol):
    ok: bool
    opened: list[str]
    reason: object
    message: str
    method: object  # how it opened (lockers.protocol.messages.Method), None when refused
    purpose: str | None  # what the person came to do (edge.codecheck.Purpose), None when refused
    wait_s: int | None  # refused as too early: seconds until the code works


class AgentControls(Protocol):
    """What the channel needs of the agent."""

    def scan(self, text: str, timeout: float = 5.0) -> ScanAnswer: ...

    def status(self, timeout: float = 5.0) -> dict: ...


# A simulated cabinet's door mover: (compartment, "open"|"close") -> (ok, message).
DoorMover = Callable[[str, str], tuple[bool, str]]
# A simulated cabinet's fault injector: (zone, fault) -> (ok, message).
FaultInjector = Callable[[str, str], tuple[bool, str]]
# A simulated locker's uplink switch: up -> message (edge.agent.Agent.set_uplink).
UplinkSwitch = Callable[[bool], str]

COMMANDS = "scan, status, door, fault or uplink"


def handle_request(
    line: bytes,
    agent: AgentControls,
    doors: DoorMover | None,
    faults: FaultInjector | None = None,
    uplink: UplinkSwitch | None = None,
) -> dict:
    """Answer one request line; every failure becomes {"ok": false, "message": …}."""
    try:
        request = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return _refused("the request is not JSON")
    if not isinstance(request, dict):
        return _refused("the request must be a JSON object")
    command = request.get("cmd")
    if command is None:
        return _refused(f'the request needs a "cmd": {COMMANDS}')
    try:
        if command == "scan":
            return _scan(request, agent)
        if command == "status":
            return {"ok": True, **agent.status()}
        if command == "door":
            return _door(request, doors)
        if command == "fault":
            return _fault(request, faults)
        if command == "uplink":
            return _uplink(request, uplink)
    except DorpskluisError as exc:
        return _refused(str(exc))
    return _refused(f"unknown command {str(command)[:40]!r}; use {COMMANDS}")


def _scan(request: dict, agent: AgentControls) -> dict:
    code = request.get("code")
    if not isinstance(code, str) or not code.strip():
        return _refused('scan needs a non-empty "code"')
    result = agent.scan(code)
    reason = result.reason
    return {
        "ok": result.ok,
        "opened": list(result.opened),
        "reason": str(reason) if reason else None,
        "message": result.message,
        "purpose": result.purpose,
        "wait_s": result.wait_s,
    }


def _door(request: dict, doors: DoorMover | None) -> dict:
    if doors is None:
        return _refused("doors can only be moved on a simulated locker")
    compartment, action = request.get("compartment"), request.get("action")
    if not isinstance(compartment, str) or action not in ("open", "close"):
        return _refused('door needs "compartment" and "action": "open" or "close"')
    ok, message = doors(compartment, action)
    return {"ok": ok, "message": message}


def _fault(request: dict, faults: FaultInjector | None) -> dict:
    if faults is None:
        return _refused("faults can only be injected into a simulated locker")
    zone, fault = request.get("zone"), request.get("fault")
    if not isinstance(zone, str) or not isinstance(fault, str):
        return _refused('fault needs "zone" (ambient, chilled or frozen) and "fault" (e.g. "compressor-failure")')
    ok, message = faults(zone, fault)
    return {"ok": ok, "message": message}


def _uplink(request: dict, uplink: UplinkSwitch | None) -> dict:
    if uplink is None:
        return _refused("the uplink can only be cut on a simulated locker; unplug the network to test a real one")
    state = request.get("state")
    if state not in ("down", "up"):
        return _refused('uplink needs "state": "down" or "up"')
    return {"ok": True, "message": uplink(state == "up"), "uplink": state}


def _refused(message: str) -> dict:
    return {"ok": False, "message": message}


# --- server ---------------------------------------------------------------------------------------------


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        line = self.rfile.readline(MAX_REQUEST_BYTES + 1)
        if not line.strip():
            return
        if len(line) > MAX_REQUEST_BYTES:
            answer = _refused(f"requests are limited to {MAX_REQUEST_BYTES} bytes")
        else:
            server = self.server
            answer = handle_request(line, server.agent, server.doors, server.faults, server.uplink)
        self.wfile.write(json.dumps(answer).encode() + b"\n")


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(
        self,
        path: Path,
        agent: AgentControls,
        doors: DoorMover | None,
        faults: FaultInjector | None,
        uplink: UplinkSwitch | None,
    ) -> None:
        self.agent = agent
        self.doors = doors
        self.faults = faults
        self.uplink = uplink
        super().__init__(str(path), _Handler)


class ControlServer:
    """Serves one agent's socket from a daemon thread; `stop` removes the socket file."""

    def __init__(
        self,
        path: Path,
        agent: AgentControls,
        doors: DoorMover | None = None,
        faults: FaultInjector | None = None,
        uplink: UplinkSwitch | None = None,
    ) -> None:
        self.path = path
        self._agent = agent
        self._doors = doors
        self._faults = faults
        self._uplink = uplink
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        _check_path_length(self.path)
        _prepare_folder(self.path.parent)
        if self.path.exists() or self.path.is_symlink():
            if _someone_listens(self.path):
                raise ControlError(f"another process already serves {self.path}; is this locker running twice?")
            self.path.unlink()  # stale: left behind by an agent that died
        try:
            self._server = _Server(self.path, self._agent, self._doors, self._faults, self._uplink)
            os.chmod(self.path, 0o600)
        except OSError as exc:
            raise ControlError(f"cannot open control socket {self.path}: {exc.strerror or exc}") from exc
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="edge-control", daemon=True
        )
        self._thread.start()
        log.info("control socket at %s", self.path)

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self.path.unlink(missing_ok=True)


def _check_path_length(path: Path) -> None:
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise ControlError(f"control socket path {path} is too long for a Unix socket; set DK_RUN_DIR shorter")


def _prepare_folder(folder: Path) -> None:
    """Create the socket folder private to us; refuse one that another user owns (e.g. in /tmp)."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ControlError(f"cannot create control folder {folder}: {exc.strerror or exc}") from exc
    if folder.stat().st_uid != os.getuid():
        raise ControlError(f"control folder {folder} belongs to another user")


def _someone_listens(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


# --- client ---------------------------------------------------------------------------------------------


def request(locker: str, payload: dict, timeout: float = 10.0, *, path: Path | None = None) -> dict:
    """Send one request to the locker agent running on this machine and return its answer."""
    where = path or socket_path(locker)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        try:
            conn.connect(str(where))
        except (FileNotFoundError, ConnectionRefusedError):
            raise ControlError(f"no locker {locker!r} is running here (no control socket at {where})") from None
        except OSError as exc:
            raise ControlError(f"cannot reach locker {locker!r} at {where}: {exc.strerror or exc}") from None
        try:
            conn.sendall(json.dumps(payload).encode() + b"\n")
            answer = _read_line(conn)
        except TimeoutError:
            raise ControlError(f"locker {locker!r} did not answer within {timeout:g}s") from None
        except OSError as exc:
            raise ControlError(f"lost the connection to locker {locker!r}: {exc.strerror or exc}") from None
    try:
        decoded = json.loads(answer)
    except ValueError:
        decoded = None
    if not isinstance(decoded, dict):
        raise ControlError(f"locker {locker!r} answered something that is not a JSON object")
    return decoded


def _read_line(conn: socket.socket) -> bytes:
    chunks = []
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        if chunk.endswith(b"\n"):
            break
    return b"".join(chunks)
