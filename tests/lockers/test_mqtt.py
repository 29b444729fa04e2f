"""The paho adapter against a real broker: birth and will, suspend/resume, re-subscription, queued QoS 1 in
order, per-message acknowledgements, guarded callbacks; and the jittered reconnect delays as a pure function."""

from __future__ import annotations

import queue
import random
import socket
import statistics
import threading
import time

import pytest

from lockers.errors import TransportError
from lockers.mqtt import BrokerAddress, Inbound, MqttSession, Outbound, _set_nodelay, reconnect_delay
from tests.support import wait_until


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


# --- reconnect delays (pure) ----------------------------------------------------------------------------


@pytest.mark.parametrize("attempt, ceiling", [(0, 1), (1, 2), (2, 4), (3, 8), (4, 16), (5, 30), (9, 30), (500, 30)])
def test_reconnect_delays_stay_under_a_doubling_ceiling(attempt, ceiling):
    rng = random.Random(attempt)
    delays = [reconnect_delay(attempt, rng) for _ in range(2000)]
    assert all(0.1 <= d <= ceiling for d in delays)
    assert max(delays) > 0.9 * ceiling  # the whole window is used, not just its start
    if ceiling > 1:
        assert min(delays) < 0.1 * ceiling


def test_the_delay_sequence_of_a_seeded_generator_is_reproducible():
    first = [reconnect_delay(a, rng) for rng in [random.Random(42)] for a in range(8)]
    again = [reconnect_delay(a, rng) for rng in [random.Random(42)] for a in range(8)]
    other = [reconnect_delay(a, rng) for rng in [random.Random(43)] for a in range(8)]
    assert first == again
    assert first != other
    assert [round(d, 3) for d in first] == [round(d, 3) for d in again]


def test_a_fleet_does_not_reconnect_in_lockstep():
    fleet = [random.Random(seed) for seed in range(500)]
    for attempt, ceiling in ((0, 1.0), (3, 8.0), (6, 30.0)):
        delays = [reconnect_delay(attempt, rng) for rng in fleet]
        assert len({round(d, 4) for d in delays}) > 450  # nearly every locker picks its own moment
        assert statistics.pstdev(delays) > 0.2 * ceiling  # spread over the window (uniform: ~0.29 × ceiling)
        assert abs(statistics.mean(delays) - ceiling / 2) < 0.1 * ceiling


def test_base_and_cap_are_configurable():
    rng = random.Random(1)
    assert all(0.005 <= reconnect_delay(a, rng, base_s=0.05, max_s=0.4) <= 0.4 for a in range(20))


# --- the session against a real broker ------------------------------------------------------------------


def test_birth_is_retained_and_a_suspend_makes_the_broker_publish_the_will(own_broker):
    state = "dk/v1/t-1/state"
    edge = session(
        own_broker,
        "t-1",
        will=Outbound(state, b"offline", retain=True),
        birth=[Outbound(state, b"online", retain=True)],
        reconnect_base_s=0.05,  # were it to reconnect on its own, it would within a second
    )
    box: queue.Queue = queue.Queue()
    watcher = session(own_broker, "watcher", on_message=box.put, subscriptions=[(state, 1), ("dk/v1/t-1/events", 1)])
    assert receive(box, state).payload == b"online"
    edge.suspend()  # the socket drops without DISCONNECT: a network failure as the broker sees it
    assert receive(box, state, timeout=10).payload == b"offline"
    wait_until(lambda: not edge.connected, 5, "the session noticing its own cut")  # may lag the broker's will
    assert edge.suspended
    delivery = edge.publish(Outbound("dk/v1/t-1/events", b"written while cut off"))
    assert not delivery.wait(1.5)  # nothing goes out, and no reconnect happens, while suspended
    assert box.empty()
    edge.resume()
    edge.wait_connected(10)
    assert receive(box, state).payload == b"online"
    assert receive(box, "dk/v1/t-1/events").payload == b"written while cut off"
    assert delivery.wait(5) and delivery.acknowledged
    edge.stop()
    watcher.stop()


def test_resume_reconnects_at_once_whatever_the_backoff(broker):
    edge = session(broker, "t-resume", reconnect_base_s=20, reconnect_max_s=60)
    edge.suspend()
    wait_until(lambda: not edge.connected, 5, "the cut")
    started = time.monotonic()
    edge.resume()
    edge.wait_connected(5)
    assert time.monotonic() - started < 3
    assert not edge.suspended
    edge.stop()


def test_messages_queued_while_cut_off_arrive_in_order(broker):
    box: queue.Queue = queue.Queue()
    listener = session(broker, "order-sub", on_message=box.put, subscriptions=[("dk/v1/t-order/events", 1)])
    edge = session(broker, "t-order")
    edge.suspend()
    wait_until(lambda: not edge.connected, 5, "the cut")
    deliveries = [edge.publish(Outbound("dk/v1/t-order/events", str(n).encode())) for n in range(300)]
    edge.resume()
    assert all(d.wait(15) for d in deliveries)
    got = [int(receive(box, "dk/v1/t-order/events").payload) for _ in range(300)]
    assert got == list(range(300))
    edge.stop()
    listener.stop()


def test_every_publish_reports_its_own_acknowledgement(broker):
    edge = session(broker, "t-acks")
    acked: list[int] = []
    lock = threading.Lock()

    def done(n: int) -> None:
        with lock:
            acked.append(n)

    started = time.monotonic()
    deliveries = [
        edge.publish(Outbound("dk/v1/t-acks/telemetry", b"x" * 200), on_acked=lambda n=n: done(n)) for n in range(2000)
    ]
    wait_until(lambda: len(acked) == 2000, 20, "2000 acknowledgements")
    elapsed = time.monotonic() - started
    assert sorted(acked) == list(range(2000))
    assert all(d.acknowledged for d in deliveries)
    assert elapsed < 10, f"QoS 1 with TCP_NODELAY should take well under a second for 2000, took {elapsed:.1f}s"
    edge.stop()


def test_subscriptions_and_birth_are_renewed_after_a_broker_restart(own_broker):
    box: queue.Queue = queue.Queue()
    listener = session(own_broker, "listener", on_message=box.put, subscriptions=[("dk/v1/+/events", 1)])
    own_broker.kill()
    wait_until(lambda: not listener.connected, 10, "the listener noticing the crash")
    own_broker.start()
    listener.wait_connected(40)  # connected means subscribed again
    publisher = session(own_broker, "publisher")
    publisher.publish(Outbound("dk/v1/t-2/events", b"after restart")).wait(5)
    assert receive(box, "dk/v1/t-2/events", timeout=10).payload == b"after restart"
    listener.stop()
    publisher.stop()


def test_qos1_published_while_disconnected_arrives_after_reconnect(own_broker):
    box: queue.Queue = queue.Queue()
    publisher = session(own_broker, "queued-pub")
    own_broker.kill()
    wait_until(lambda: not publisher.connected, 10, "the publisher noticing the crash")
    delivery = publisher.publish(Outbound("dk/v1/t-3/events", b"kept"))
    assert not delivery.wait(0.2)
    publisher.suspend()  # held back until a subscriber is there: the crash took every session with it
    own_broker.start()
    listener = session(own_broker, "queued-sub", on_message=box.put, subscriptions=[("dk/v1/+/events", 1)])
    publisher.resume()
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


def test_manual_ack_leaves_unacknowledged_messages_with_the_broker(broker):
    events = "dk/v1/t-manual/events"
    box: queue.Queue = queue.Queue()
    receiver = session(broker, "t-manual", on_message=box.put, subscriptions=[(events, 1)], manual_ack=True)
    sender = session(broker, "t-manual-pub")

    def reconnect() -> None:
        receiver.suspend()
        wait_until(lambda: not receiver.connected, 5, "the cut")
        receiver.resume()
        receiver.wait_connected(10)

    assert sender.publish(Outbound(events, b"one")).wait(5)
    first = receive(box, events)
    assert first.payload == b"one" and first.ack is not None
    reconnect()  # never acknowledged: the broker delivers it again
    again = receive(box, events)
    assert again.payload == b"one"
    again.ack()
    # A publish queued after the acknowledgement and acknowledged by the broker: the broker has read ours too.
    assert receiver.publish(Outbound("dk/v1/t-manual/state", b"flush")).wait(5)
    reconnect()
    assert sender.publish(Outbound(events, b"two")).wait(5)
    assert receive(box, events).payload == b"two"  # "one" is not redelivered once acknowledged
    assert box.empty()
    receiver.stop()
    sender.stop()


def test_acknowledging_a_batch_at_once_settles_those_and_no_others(broker):
    events = "dk/v1/t-batch-ack/events"
    box: queue.Queue = queue.Queue()
    receiver = session(broker, "t-batch-ack", on_message=box.put, subscriptions=[(events, 1)], manual_ack=True)
    sender = session(broker, "t-batch-ack-pub")
    for n in range(6):
        assert sender.publish(Outbound(events, f"m{n}".encode())).wait(5)
    received = [receive(box, events) for _ in range(6)]
    assert [m.payload for m in received] == [f"m{n}".encode() for n in range(6)]
    receiver.acknowledge(received[:4])  # one write of four PUBACKs; m4 and m5 stay unacknowledged
    assert receiver.publish(Outbound("dk/v1/t-batch-ack/state", b"flush")).wait(5)
    receiver.suspend()
    wait_until(lambda: not receiver.connected, 5, "the cut")
    receiver.resume()
    receiver.wait_connected(10)
    again = [receive(box, events) for _ in range(2)]
    assert [m.payload for m in again] == [b"m4", b"m5"]
    receiver.acknowledge(again)
    assert receiver.publish(Outbound("dk/v1/t-batch-ack/state", b"flush")).wait(5)
    time.sleep(0.2)
    assert box.empty()
    receiver.stop()
    sender.stop()


def test_automatic_ack_needs_nothing_from_the_receiver(broker):
    box: queue.Queue = queue.Queue()
    receiver = session(broker, "t-auto", on_message=box.put, subscriptions=[("dk/v1/t-auto/events", 1)])
    sender = session(broker, "t-auto-pub")
    assert sender.publish(Outbound("dk/v1/t-auto/events", b"x")).wait(5)
    assert receive(box, "dk/v1/t-auto/events").ack is None
    receiver.stop()
    sender.stop()


def test_tcp_nodelay_can_be_left_off_for_the_benchmark_baseline(broker):
    tuned = MqttSession(BrokerAddress(broker.host, broker.port), "tuned", persistent=False)
    plain = MqttSession(BrokerAddress(broker.host, broker.port), "plain", persistent=False, tcp_nodelay=False)
    for one in (tuned, plain):
        one.start()
        one.wait_connected(10)
    try:
        options = [s._client.socket().getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in (tuned, plain)]
        assert options == [1, 0]
    finally:
        tuned.stop()
        plain.stop()


def test_a_shared_subscription_hands_each_message_to_one_member(broker):
    received: dict[str, list[bytes]] = {"a": [], "b": []}
    members = [
        MqttSession(
            BrokerAddress(broker.host, broker.port),
            f"member-{name}-{time.monotonic_ns()}",
            persistent=False,
            on_message=lambda inbound, name=name: received[name].append(inbound.payload),
            subscriptions=[("$share/pair/dk/v1/+/telemetry", 1)],
        )
        for name in received
    ]
    for member in members:
        member.start()
        member.wait_connected(10)
    publisher = MqttSession(BrokerAddress(broker.host, broker.port), "share-sender", persistent=False)
    publisher.start()
    publisher.wait_connected(10)
    try:
        for n in range(20):
            assert publisher.publish(Outbound(f"dk/v1/t-{n % 3}/telemetry", str(n).encode())).wait(5)
        deadline = time.monotonic() + 10
        while sum(map(len, received.values())) < 20 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sorted(int(p) for p in received["a"] + received["b"]) == list(range(20))
        assert received["a"] and received["b"]
    finally:
        for session in (*members, publisher):
            session.stop()
