"""`edge.main.run`, the Pi entry point, on mock pins: serves its socket, then stops cleanly on request."""

from __future__ import annotations

import threading

from edge.control import request, socket_path
from edge.main import run
from lockers.errors import ControlError
from lockers.protocol.topics import Channel
from tests.edge.codes_fixture import CodeBook
from tests.edge.harness import CloudSide, edge_config, new_locker_id
from tests.support import wait_until


def test_run_serves_until_stopped_then_goes_offline(broker, run_dir, tmp_path):
    locker = new_locker_id()
    cloud = CloudSide(broker, locker)
    config = edge_config(broker, CodeBook(locker=locker), locker, tmp_path / "state")
    assert config.hardware.pin_factory == "mock"  # gpiozero's MockFactory instead of the board's pins
    stop = threading.Event()
    runner = threading.Thread(target=run, args=(config, stop))
    runner.start()
    try:
        cloud.wait_for(Channel.STATE, lambda m: m.state == "online")
        status = wait_until(lambda: _status(locker), what="the control socket")
        assert status["connected"] is True
        # No simulated cabinet on a real locker: doors cannot be moved by command.
        answer = request(locker, {"cmd": "door", "compartment": "A1", "action": "open"})
        assert answer == {"ok": False, "message": "doors can only be moved on a simulated locker"}
    finally:
        stop.set()
        runner.join(15)
    assert not runner.is_alive()
    cloud.wait_for(Channel.STATE, lambda m: m.state == "offline")
    assert not socket_path(locker).exists()
    cloud.close()


def _status(locker: str) -> dict | None:
    try:
        return request(locker, {"cmd": "status"}, timeout=2)
    except ControlError:
        return None
