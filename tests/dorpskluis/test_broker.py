"""The broker runner: config rendering, and both broker kinds actually serving MQTT."""

from __future__ import annotations

import queue
import time

import pytest

from dorpskluis.broker import RunningBroker, broker_kind, free_port, mosquitto_binary, render_mosquitto_config
from lockers.errors import TransportError
from lockers.mqtt import BrokerAddress, MqttSession, Outbound
from provisioning import MOSQUITTO_CONF
from tests.support import service_missing


def test_rendered_config_keeps_project_settings_and_localises_places(tmp_path):
    text = render_mosquitto_config(
        MOSQUITTO_CONF.read_text(), host="127.0.0.1", port=18830, data_dir=tmp_path, log_file=tmp_path / "m.log"
    )
    lines = text.splitlines()
    assert "set_tcp_nodelay true" in lines
    assert "persistence true" in lines
    assert [line for line in lines if line.startswith("listener")] == ["listener 18830 127.0.0.1"]
    assert f"persistence_location {tmp_path}/" in lines
    assert "persistence_location /mosquitto/data/" not in lines


@pytest.mark.parametrize(("wanted", "expected"), [("mosquitto", "mosquitto"), ("AMQTT", "amqtt")])
def test_broker_kind_follows_the_environment(monkeypatch, wanted, expected):
    monkeypatch.setenv("DK_BROKER", wanted)
    assert broker_kind() == expected


def test_broker_kind_refuses_nonsense(monkeypatch):
    monkeypatch.setenv("DK_BROKER", "rabbit")
    with pytest.raises(TransportError, match="DK_BROKER"):
        broker_kind()


@pytest.mark.parametrize("kind", ["mosquitto", "amqtt"])
def test_each_broker_kind_carries_retained_qos1_messages(tmp_path, kind):
    if kind == "mosquitto" and mosquitto_binary() is None:
        service_missing("mosquitto binary not installed")
    broker = RunningBroker(kind=kind, host="127.0.0.1", port=free_port(), workdir=tmp_path, secured=False).start()
    try:
        address = BrokerAddress(broker.host, broker.port)
        publisher = MqttSession(address, f"pub-{kind}")
        publisher.start()
        publisher.wait_connected(10)
        assert publisher.publish(Outbound("dk/v1/b-1/desired", b"v7", retain=True)).wait(5)
        box: queue.Queue = queue.Queue()
        late = MqttSession(address, f"late-{kind}", on_message=box.put, subscriptions=[("dk/v1/+/desired", 1)])
        late.start()
        message = box.get(timeout=10)
        assert (message.topic, message.payload, message.retained) == ("dk/v1/b-1/desired", b"v7", True)
        publisher.stop()
        late.stop()
    finally:
        broker.stop()
    assert broker.process.poll() is not None


def drain(box: queue.Queue) -> list:
    items = []
    while not box.empty():
        items.append(box.get_nowait())
    return items


@pytest.mark.parametrize("kind", ["mosquitto", "amqtt"])
def test_retained_messages_reach_only_subscribers_of_their_topic(tmp_path, kind):
    """amqtt 0.12.1 replays every client's retained matches to each newcomer; our runner must not."""
    if kind == "mosquitto" and mosquitto_binary() is None:
        service_missing("mosquitto binary not installed")
    broker = RunningBroker(kind=kind, host="127.0.0.1", port=free_port(), workdir=tmp_path, secured=False).start()
    address = BrokerAddress(broker.host, broker.port)
    sessions = []
    try:
        for number in range(3):
            box: queue.Queue = queue.Queue()
            own = f"dk/v1/l-{number}/desired"
            session = MqttSession(address, f"locker-{number}", on_message=box.put, subscriptions=[(own, 1)])
            session.start()
            session.wait_connected(10)
            sessions.append(session)
            assert session.publish(Outbound(own, f"for {number}".encode(), retain=True)).wait(5)
            assert box.get(timeout=10).topic == own
            session.stop()
            session.start()  # reconnect: its own retained message comes back (maybe twice), nobody else's
            session.wait_connected(10)
            assert box.get(timeout=10).topic == own
            time.sleep(0.5)  # give a wrong replay the chance to arrive
            assert {message.topic for message in drain(box)} <= {own}
    finally:
        for session in sessions:
            session.stop()
        broker.stop()
