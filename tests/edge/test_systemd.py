"""sd_notify over a real Unix datagram socket, as systemd listens for it: READY, watchdog pings from the agent's
worker loop while it turns, STOPPING; silent without NOTIFY_SOCKET; a lost message never stops the agent."""

from __future__ import annotations

import logging
import socket
import time
import uuid
from collections.abc import Iterator

import pytest

from edge.agent import TICK_S
from edge.systemd import DEFAULT_PING_S, SystemdNotifier
from tests.edge.codes_fixture import CodeBook
from tests.edge.harness import edge_config, running_rig


class Listener:
    """What systemd would receive on its notification socket."""

    def __init__(self, sock: socket.socket, name: str) -> None:
        self.sock, self.name = sock, name

    def next(self, timeout: float = 5.0) -> str:
        self.sock.settimeout(timeout)
        return self.sock.recv(4096).decode()

    def drain(self) -> list[str]:
        messages = []
        self.sock.settimeout(0.05)
        try:
            while True:
                messages.append(self.sock.recv(4096).decode())
        except TimeoutError:
            return messages


@pytest.fixture
def listener(tmp_path) -> Iterator[Listener]:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        yield Listener(sock, str(path))


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_ready_pings_at_a_quarter_of_the_timeout_and_stopping(listener):
    ticks = Ticks()
    notifier = SystemdNotifier({"NOTIFY_SOCKET": listener.name, "WATCHDOG_USEC": "2000000"}, clock=ticks)
    assert notifier.enabled and notifier.ping_every_s == 0.5
    notifier.ready("locker demo-1")
    assert listener.next() == "READY=1\nSTATUS=locker demo-1"
    notifier.watchdog()
    ticks.now += 0.2
    notifier.watchdog()  # too soon: not sent
    ticks.now += 0.3
    notifier.watchdog()
    notifier.stopping()
    assert listener.drain() == ["WATCHDOG=1", "WATCHDOG=1", "STOPPING=1"]


def test_the_abstract_namespace_is_spelled_with_an_at_sign():
    name = f"dk-test-{uuid.uuid4().hex[:8]}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        SystemdNotifier({"NOTIFY_SOCKET": "@" + name}).ready()
        sock.settimeout(5)
        assert sock.recv(100) == b"READY=1"


def test_without_systemd_nothing_is_sent_and_the_default_interval_holds():
    notifier = SystemdNotifier({})
    assert not notifier.enabled and notifier.ping_every_s == DEFAULT_PING_S
    notifier.ready()
    notifier.watchdog()  # no socket, no error


def test_a_lost_message_is_logged_once_and_never_raised(tmp_path, caplog):
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens.sock")})
    with caplog.at_level(logging.WARNING, logger="edge.systemd"):
        notifier.ready()
        notifier.stopping()
    assert len(caplog.records) == 1 and "READY=1" in caplog.records[0].getMessage()


def test_the_running_agent_reports_ready_pings_from_its_worker_and_stops(
    listener, monkeypatch, broker, locker, tmp_path
):
    monkeypatch.setenv("NOTIFY_SOCKET", listener.name)
    monkeypatch.setenv("WATCHDOG_USEC", "400000")  # ping every 0.1 s: every tick of the worker (0.5 s)
    config = edge_config(broker, CodeBook(locker=locker), locker, tmp_path / "state")
    with running_rig(config):
        assert listener.next().startswith(f"READY=1\nSTATUS=locker {locker}")
        assert listener.next() == "WATCHDOG=1"
        assert listener.next() == "WATCHDOG=1"
    assert "STOPPING=1" in listener.drain()
    time.sleep(2 * TICK_S)
    assert listener.drain() == []  # the worker has stopped: no more pings
