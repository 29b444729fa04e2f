"""Test-side cloud (a real MQTT session on the test broker) and builders of real agents on mock pins."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from gpiozero.pins.mock import MockFactory

from dorpskluis.broker import RunningBroker
from edge.agent import Agent
from edge.config import CodesConfig, EdgeConfig, HardwareConfig, MqttConfig
from edge.link import mqtt_transport
from edge.store import EdgeStore
from lockers.hardware import LockerHardware
from lockers.layout import demo_layout
from lockers.mqtt import BrokerAddress, Inbound, MqttSession, Outbound
from lockers.protocol import codec
from lockers.protocol.messages import Command, CommandAck, DesiredState, Event, EventKind, Message
from lockers.protocol.topics import Channel, parse_topic, topic
from tests.edge.codes_fixture import NOW, CodeBook
from tests.support import wait_until

LAYOUT = demo_layout()


def new_locker_id() -> str:
    """Unique per test: the session broker keeps retained messages between tests."""
    return f"t-{uuid.uuid4().hex[:10]}"


class MovingClock:
    """Real seconds passing from a fixed start, so tokens issued for NOW stay valid and windows still lapse."""

    def __init__(self, start: datetime = NOW) -> None:
        self._start = start
        self._t0 = time.monotonic()

    def __call__(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._t0)


class CloudSide:
    """Plays the cloud for one locker: publishes desired states, records everything the edge sends."""

    def __init__(self, broker: RunningBroker, locker: str) -> None:
        self.broker = broker
        self.locker = locker
        self._lock = threading.Lock()
        self.received: list[Inbound] = []
        self.session = MqttSession(
            BrokerAddress(broker.host, broker.port),
            f"cloud-{locker}",
            on_message=self._got,
            subscriptions=[(f"dk/v1/{locker}/#", 1)],
            persistent=False,
        )
        self.session.start()
        self.session.wait_connected(10)

    def _got(self, message: Inbound) -> None:
        with self._lock:
            self.received.append(message)

    def publish_desired(self, desired: DesiredState | bytes) -> None:
        payload = desired if isinstance(desired, bytes) else codec.encode(desired)
        delivery = self.session.publish(Outbound(topic(self.locker, Channel.DESIRED), payload, retain=True))
        assert delivery.wait(5)

    def send_command(self, command: Command) -> None:
        """Publish a command to the locker, as the cloud does (QoS 1, not retained)."""
        assert self.session.publish(Outbound(topic(self.locker, Channel.CMD), codec.encode(command))).wait(5)

    def acks(self, command_id: str) -> list[CommandAck]:
        """The locker's acknowledgements of one command, in arrival order."""
        return [m for m in self.messages(Channel.CMD_ACK) if m.id == command_id]  # type: ignore[union-attr]

    def messages(self, channel: Channel) -> list[Message]:
        with self._lock:
            raw = [m for m in self.received if parse_topic(m.topic).channel is channel]
        return [codec.decode(channel, m.payload) for m in raw]

    def events(self, kind: EventKind | None = None) -> list[Event]:
        events = self.messages(Channel.EVENTS)
        return [e for e in events if kind is None or e.kind is kind]  # type: ignore[union-attr]

    def wait_events(self, kind: EventKind, count: int = 1, timeout: float = 10.0) -> list[Event]:
        return wait_until(
            lambda: len(self.events(kind)) >= count and self.events(kind),
            timeout,
            f"{count} {kind.value} event(s) from {self.locker}",
        )

    def wait_for(self, channel: Channel, probe: Callable[[Message], bool], timeout: float = 10.0) -> Message:
        def find():
            return next((m for m in reversed(self.messages(channel)) if probe(m)), None)

        return wait_until(find, timeout, f"a matching {channel.value} message from {self.locker}")

    def close(self) -> None:
        # Clear what this test left retained on the shared broker.
        for channel in (Channel.DESIRED, Channel.STATE, Channel.REPORTED):
            self.session.publish(Outbound(topic(self.locker, channel), b"", retain=True)).wait(5)
        self.session.stop()


def edge_config(broker: RunningBroker, book: CodeBook, locker: str, state_dir: Path, **changes) -> EdgeConfig:
    hardware = HardwareConfig(
        layout=Path("layout.json"), w1_base=changes.pop("w1_base", state_dir / "w1"), pin_factory="mock"
    )
    return EdgeConfig(
        locker=locker,
        state_dir=state_dir,
        mqtt=MqttConfig(host=broker.host, port=broker.port),
        codes=CodesConfig(keys={book.key_id: book.config_keys[str(book.key_id)]}),
        hardware=hardware,
        layout=LAYOUT,
        **changes,
    )


class EdgeRig:
    """A started agent on its own MockFactory, with its pins at hand."""

    def __init__(self, config: EdgeConfig, clock: Callable[[], datetime], **agent_options) -> None:
        self.config = config
        self.factory = MockFactory()
        self.hardware = LockerHardware.from_layout(config.layout, self.factory)
        for compartment in config.layout.compartments:
            self.door_pin(compartment.id).drive_low()  # every door shut before the agent starts
        self.store = EdgeStore.open(config.state_dir)
        self.agent = Agent(config, self.hardware, mqtt_transport(config), self.store, clock, **agent_options)

    def lock_pin(self, compartment: str):
        return self.factory.pin(self.config.layout.compartment(compartment).lock_pin)

    def door_pin(self, compartment: str):
        return self.factory.pin(self.config.layout.compartment(compartment).door_pin)

    def open_and_close(self, *compartments: str) -> None:
        for compartment in compartments:
            self.door_pin(compartment).drive_high()
        for compartment in compartments:
            self.door_pin(compartment).drive_low()

    def close(self) -> None:
        self.agent.stop()
        self.store.close()
        self.hardware.close()


@contextmanager
def running_rig(config: EdgeConfig, clock: Callable[[], datetime] | None = None, **options) -> Iterator[EdgeRig]:
    rig = EdgeRig(config, clock or MovingClock(), **options)
    rig.agent.start()
    try:
        yield rig
    finally:
        rig.close()
