"""The paho adapter against a real broker: birth and will, re-subscription, queued QoS 1, guarded callbacks."""

from __future__ import annotations

import queue
import socket
import time

import pytest

from lockers.errors import TransportError
from lockers.mqtt import BrokerAddress, Inbound, MqttSession, Outbound, _set_nodelay


def receive(box: queue.Queue, topic: str, timeout: float = 10.0) -> Inbound:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = box.get(timeout=left)
        except queue.Empty:
            break
        if message.topic == topic:
            return message
    raise AssertionError(f"nothing arrived on {topic} within {timeout}s")


def session(broker, client_id, **kwargs) -> MqttSession:
    s = MqttSession(BrokerAddress(broker.host, broker.port), client_id, **kwargs)
    s.start()
    s.wait_connected(10)
    return s


def test_birth_is_retained_and_will_replaces_it_when_the_client_dies(own_broker):
    state = "dk/v1/t-1/state"
    edge = session(
        own_broker,
        "t-1",
        will=Outbound(state, b"offline", retain=True),
        birth=[Outbound(state, b"online", retain=True)],
    )
    box: queue.Queue = queue.Queue()
    watcher = session(own_broker, "watcher", on_message=box.put, subscriptions=[(state, 1)])
    first = receive(box, state)
    assert first.payload == b"online"
    # Simulate a crash: drop the socket without DISCONNECT, so the broker publishes the will.
    edge._client._sock.close()  # noqa: SLF001 - the only way to die uncleanly in-process
    edge._client.loop_stop()  # noqa: SLF001
    assert receive(box, state, timeout=70).payload == b"offline"
    watcher.stop()


def test_subscriptions_and_birth_are_renewed_after_a_broker_restart(own_broker):
    box: queue.Queue = queue.Queue()
    listener = session(own_broker, "listener", on_message=box.put, subscriptions=[("dk/v1/+/events", 1)])
    own_broker.kill()
    own_broker.start()
    listener.wait_connected(40)
    publisher = session(own_broker, "publisher")
    publisher.publish(Outbound("dk/v1/t-2/events", b"after restart")).wait(5)
    assert receive(box, "dk/v1/t-2/events", timeout=10).payload == b"after restart"
    listener.stop()
    publisher.stop()


def test_qos1_published_while_disconnected_arrives_after_reconnect(own_broker):
    box: queue.Queue = queue.Queue()
    publisher = session(own_broker, "queued-pub")
    own_broker.kill()
    deadline = time.monotonic() + 10
    while publisher.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    delivery = publisher.publish(Outbound("dk/v1/t-3/events", b"kept"))
    assert not delivery.wait(0.2)
    own_broker.start()
    listener = session(own_broker, "queued-sub", on_message=box.put, subscriptions=[("dk/v1/+/events", 1)])
    assert delivery.wait(40)
    assert receive(box, "dk/v1/t-3/events").payload == b"kept"
    publisher.stop()
    listener.stop()


@pytest.mark.allow_callback_errors
def test_a_failing_handler_is_counted_and_the_session_survives(broker):
    received: list[bytes] = []

    def handler(message: Inbound) -> None:
        if message.payload == b"boom":
            raise RuntimeError("handler bug")
        received.append(message.payload)

    listener = session(broker, "fragile", on_message=handler, subscriptions=[("dk/v1/t-4/events", 1)])
    publisher = session(broker, "sender")
    for payload in (b"boom", b"fine"):
        publisher.publish(Outbound("dk/v1/t-4/events", payload)).wait(5)
    deadline = time.monotonic() + 10
    while not received and time.monotonic() < deadline:
        time.sleep(0.02)
    assert received == [b"fine"]
    assert listener.callback_errors == 1
    listener.stop()
    publisher.stop()


def test_nodelay_is_set_on_the_socket():
    with socket.socket() as sock:
        _set_nodelay(sock)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


def test_wait_connected_reports_an_unreachable_broker(unused_port):
    lonely = MqttSession(BrokerAddress("127.0.0.1", unused_port), "lonely")
    lonely.start()
    with pytest.raises(TransportError, match=f"127.0.0.1:{unused_port}"):
        lonely.wait_connected(0.5)
    lonely.stop()
