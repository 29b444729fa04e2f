"""The agent's Prometheus metrics: served by `edge.main.run` when edge.toml has a `[metrics]` section, parsed
with Prometheus' own parser, and what they say follows what the agent does."""

from __future__ import annotations

import socket
import threading
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from dorpskluis import __version__
from edge.config import MetricsConfig
from edge.control import request
from edge.main import run
from lockers.errors import ControlError
from lockers.protocol.topics import Channel
from tests.edge.codes_fixture import CodeBook
from tests.edge.harness import CloudSide, edge_config, new_locker_id
from tests.support import wait_until


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_run_serves_metrics_that_follow_the_agent(broker, run_dir, tmp_path):
    locker, port = new_locker_id(), free_port()
    cloud = CloudSide(broker, locker)
    config = edge_config(broker, CodeBook(locker=locker), locker, tmp_path / "state")
    config = config.model_copy(update={"metrics": MetricsConfig(port=port)})
    stop = threading.Event()
    runner = threading.Thread(target=run, args=(config, stop))
    runner.start()
    try:
        cloud.wait_for(Channel.STATE, lambda m: m.state == "online")
        status = wait_until(lambda: _answers(locker), what="the control socket")
        first = wait_until(lambda: _scraped(port), what="the metrics")
        mine = (("locker", locker),)
        assert first[("dorpskluis_agent_info", (("locker", locker), ("version", __version__)))] == 1
        assert first[("dorpskluis_agent_connected", mine)] == 1
        opened = sum(1 for door in status["doors"].values() if door == "open")  # bare mock pins read "open"
        assert first[("dorpskluis_agent_doors_open", mine)] == opened
        scans = ("dorpskluis_agent_total", (("locker", locker), ("what", "scans")))
        rejections = ("dorpskluis_agent_total", (("locker", locker), ("what", "rejections")))
        request(locker, {"cmd": "scan", "code": "000000"})  # a wrong PIN: one scan, one rejection
        later = scrape(port)
        assert later[scans] == first[scans] + 1 and later[rejections] == first[rejections] + 1
    finally:
        stop.set()
        runner.join(15)
        cloud.close()
    assert not runner.is_alive()
    assert _scraped(port) is None  # stopped with the agent


def _answers(locker: str) -> dict | None:
    try:
        return request(locker, {"cmd": "status"}, timeout=2)
    except ControlError:
        return None


def _scraped(port: int) -> dict | None:
    try:
        return scrape(port)
    except OSError:
        return None
