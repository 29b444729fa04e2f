"""The local control socket: a real agent behind a real Unix socket in a private run dir."""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path

import pytest

from edge.control import ControlServer, request, runtime_dir, socket_path
from lockers.errors import ControlError
from lockers.protocol.topics import Channel
from tests.edge.codes_fixture import CodeBook, desired, grant
from tests.edge.harness import edge_config, running_rig
from tests.edge.simproc import cli

KEY = CodeBook().key


@pytest.fixture
def rig(broker, cloud, locker, tmp_path):
    config = edge_config(broker, CodeBook(locker=locker, key=KEY), locker, tmp_path / "state")
    cloud.publish_desired(desired(1, pickups=[grant("ord-1", "aa000001", "482913", ["B2", "C1"])]))
    with running_rig(config) as rig:
        cloud.wait_for(Channel.REPORTED, lambda m: m.desired_version == 1)
        yield rig


@pytest.fixture
def served(rig, run_dir):
    server = ControlServer(socket_path(rig.config.locker), rig.agent)
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"DK_RUN_DIR": "/srv/dk", "XDG_RUNTIME_DIR": "/run/user/7"}, Path("/srv/dk")),
        ({"XDG_RUNTIME_DIR": "/run/user/7"}, Path("/run/user/7/dorpskluis")),
        ({}, Path(f"/tmp/dorpskluis-{os.getuid()}")),
    ],
    ids=["dk-run-dir", "xdg", "fallback"],
)
def test_runtime_dir(monkeypatch, env, expected):
    for name in ("DK_RUN_DIR", "XDG_RUNTIME_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert runtime_dir() == expected
    assert socket_path("demo-1") == expected / "lockers" / "demo-1.sock"


def test_scan_round_trip(served, rig, cloud):
    locker = rig.config.locker
    answer = request(locker, {"cmd": "scan", "code": "482913"})
    assert answer["ok"] is True and answer["opened"] == ["B2", "C1"] and answer["reason"] is None
    assert "B2 and C1" in answer["message"] and answer["purpose"] == "collect"
    again = request(locker, {"cmd": "scan", "code": "482913"})
    assert again == {
        "ok": False,
        "opened": [],
        "reason": "already_used",
        "message": "This code has already been used.",
        "purpose": None,
        "wait_s": None,
    }


def test_status(served, rig):
    answer = request(rig.config.locker, {"cmd": "status"})
    assert answer["ok"] is True
    assert answer["locker"] == rig.config.locker
    assert answer["desired_version"] == 1
    assert answer["doors"]["A1"] == "closed" and len(answer["doors"]) == 12
    assert answer["locks_energised"] == []
    assert answer["stats"]["desired_applied"] == 1
    assert answer["uplink"] == "up" and answer["connected"] is True
    assert set(answer["outbox"]["depth"]) == {"events", "telemetry", "reported", "cmd/ack"}
    assert answer["outbox"]["bound"] == 50_000 and answer["outbox"]["thinned"] == 0


@pytest.mark.parametrize(
    "payload, message",
    [
        ({"cmd": "door", "compartment": "B2", "action": "open"}, "doors can only be moved on a simulated locker"),
        ({"cmd": "launch"}, "unknown command 'launch'"),
        ({"code": "482913"}, 'needs a "cmd": scan, status, door, fault or uplink'),
        (
            {"cmd": "fault", "zone": "chilled", "fault": "compressor-failure"},
            "faults can only be injected into a simulated locker",
        ),
        ({"cmd": "uplink", "state": "down"}, "the uplink can only be cut on a simulated locker"),
        ({"cmd": "scan"}, 'scan needs a non-empty "code"'),
        ({"cmd": "scan", "code": 482913}, 'scan needs a non-empty "code"'),
        ([1, 2], "must be a JSON object"),
    ],
    ids=[
        "door-on-real-locker",
        "unknown",
        "no-cmd",
        "fault-on-real-locker",
        "uplink-on-real-locker",
        "scan-without-code",
        "scan-number",
        "not-an-object",
    ],
)
def test_bad_requests_get_a_readable_refusal(served, rig, payload, message):
    answer = request(rig.config.locker, payload)
    assert answer["ok"] is False and message in answer["message"]


def test_non_json_and_oversized_lines(served):
    for raw, message in ((b"hello\n", "not JSON"), (b"x" * (70 * 1024) + b"\n", "limited to")):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(5)
            conn.connect(str(served.path))
            conn.sendall(raw)
            answer = json.loads(conn.makefile("rb").readline())
        assert answer["ok"] is False and message in answer["message"]


def test_socket_is_private_and_removed_on_stop(rig, run_dir):
    server = ControlServer(socket_path(rig.config.locker), rig.agent)
    server.start()
    assert stat.S_IMODE(server.path.stat().st_mode) == 0o600
    assert stat.S_ISSOCK(server.path.stat().st_mode)
    server.stop()
    assert not server.path.exists()
    with pytest.raises(ControlError, match=f"no locker '{rig.config.locker}' is running here"):
        request(rig.config.locker, {"cmd": "status"})


def test_a_second_server_for_the_same_locker_is_refused(served, rig):
    with pytest.raises(ControlError, match="already serves"):
        ControlServer(served.path, rig.agent).start()
    assert request(rig.config.locker, {"cmd": "status"})["ok"]  # the first one is untouched


def test_a_stale_socket_file_is_replaced(rig, run_dir):
    path = socket_path(rig.config.locker)
    path.parent.mkdir(parents=True)
    leftover = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    leftover.bind(str(path))  # bound but never listening: what a killed agent leaves behind
    leftover.close()
    server = ControlServer(path, rig.agent)
    server.start()
    try:
        assert request(rig.config.locker, {"cmd": "status"})["ok"]
    finally:
        server.stop()


def test_nothing_running(run_dir):
    with pytest.raises(ControlError, match=r"no locker 'ghost' is running here \(no control socket at .*ghost.sock\)"):
        request("ghost", {"cmd": "status"})


def test_overlong_socket_path_is_explained(rig, tmp_path):
    path = tmp_path / ("x" * 120) / "a.sock"
    with pytest.raises(ControlError, match="too long"):
        ControlServer(path, rig.agent).start()


def test_sim_fault_on_a_real_locker_is_a_refusal(served, rig):
    refused = cli("sim", "fault", rig.config.locker, "chilled", "power-cut")
    assert refused.returncode == 1, refused.stderr
    assert refused.stdout.strip() == "faults can only be injected into a simulated locker"


def test_sim_uplink_on_a_real_locker_is_a_refusal(served, rig):
    refused = cli("sim", "uplink", rig.config.locker, "down")
    assert refused.returncode == 1, refused.stderr
    assert refused.stdout.strip().startswith("the uplink can only be cut on a simulated locker")
    assert rig.agent.status()["uplink"] == "up"


def test_uplink_requests_need_a_state():
    from edge.control import handle_request

    switched: list[bool] = []

    def switch(up: bool) -> str:
        switched.append(up)
        return "done"

    for state in ("sideways", None, 1):
        answer = handle_request(json.dumps({"cmd": "uplink", "state": state}).encode(), None, None, None, switch)
        assert answer == {"ok": False, "message": 'uplink needs "state": "down" or "up"'}
    down = handle_request(b'{"cmd": "uplink", "state": "down"}', None, None, None, switch)
    up = handle_request(b'{"cmd": "uplink", "state": "up"}', None, None, None, switch)
    assert (down, up) == (
        {"ok": True, "message": "done", "uplink": "down"},
        {"ok": True, "message": "done", "uplink": "up"},
    )
    assert switched == [False, True]
