"""The ingest benchmark's wire-level publisher: packets as MQTT 3.1.1 frames them, and a real mosquitto takes them."""

from __future__ import annotations

import queue
import time

import pytest

from benchmarks import mqtt_wire as wire
from lockers.errors import TransportError
from lockers.mqtt import BrokerAddress, MqttSession, Outbound
from tests.support import wait_until

# Outside dk/v1/: the session's broker is shared with cloud tests, which must never see these.
BIRTH_TOPIC = "test-wire/wire-1/state"


@pytest.mark.parametrize(
    ("length", "encoded"),
    [(0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16_383, b"\xff\x7f"), (16_384, b"\x80\x80\x01")],
)
def test_remaining_length_is_mqtts_variable_length_integer(length, encoded):
    assert wire.remaining_length(length) == encoded


def test_a_qos1_publish_is_framed_with_topic_packet_id_and_payload():
    topic = wire._string("dk/v1/a/telemetry")
    packet = wire.publish_packet(topic, 258, b"{}")
    assert packet == b"\x32\x17\x00\x11dk/v1/a/telemetry\x01\x02{}"


def test_messages_reach_a_subscriber_through_mosquitto_and_every_one_is_acknowledged(broker):
    box: queue.Queue = queue.Queue()
    listener = MqttSession(
        BrokerAddress(broker.host, broker.port), "wire-listener", on_message=box.put, subscriptions=[("test-wire/#", 1)]
    )
    listener.start()
    listener.wait_connected(10)
    locker = wire.connect(
        broker.host,
        broker.port,
        "wire-locker",
        "test-wire/wire-1/telemetry",
        tcp_nodelay=True,
        birth=(BIRTH_TOPIC, b"online"),
    )
    acks = wire.AckReader([locker])
    try:
        for n in range(300):
            locker.publish(str(n).encode())
        locker.flush()
        assert acks.wait_until(lambda: not locker.in_flight, 10)
        got = [box.get(timeout=5) for _ in range(301)]
        assert got[0].topic == BIRTH_TOPIC and got[0].payload == b"online"
        assert [m.payload for m in got[1:]] == [str(n).encode() for n in range(300)]
        assert locker.sent == 300
        time.sleep(0.2)
        assert box.empty()  # nothing twice
    finally:
        acks.close()
        wire.disconnect(locker)
        listener.publish(Outbound(BIRTH_TOPIC, b"", qos=1, retain=True)).wait(5)  # the broker is shared: no leftovers
        listener.stop()


def test_a_wire_locker_logs_in_with_its_account_on_a_secured_broker(secured_broker):
    secured_broker.accounts().set("wire-7", "wire-password-7")
    telemetry = "dk/v1/wire-7/telemetry"

    def login() -> wire.WireLocker | None:
        try:
            return wire.connect(
                secured_broker.host,
                secured_broker.port,
                "wire-7",
                telemetry,
                tcp_nodelay=True,
                credentials=("wire-7", "wire-password-7"),
            )
        except TransportError:
            return None

    # The reload is a SIGHUP the broker handles when it gets to it: until then the account is unknown to it.
    locker = wait_until(login, what="the broker to take the new account")
    locker.publish(b"{}")
    locker.flush()
    acks = wire.AckReader([locker])
    assert acks.wait_until(lambda: not locker.in_flight, 10)
    acks.close()
    wire.disconnect(locker)
    with pytest.raises(TransportError, match="refused"):
        wire.connect(secured_broker.host, secured_broker.port, "wire-7", telemetry, tcp_nodelay=True)
