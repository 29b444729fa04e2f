"""A real edge agent on timed mock pins, a test-side cloud publishing its desired states, and the kiosk process."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gpiozero.pins.mock import MockFactory, MockPin

from dorpskluis.broker import RunningBroker
from edge.config import CodesConfig, ControlConfig, EdgeConfig, HardwareConfig, MqttConfig
from edge.main import running_agent
from lockers import codes
from lockers.hardware import LockerHardware
from lockers.layout import demo_layout
from lockers.mqtt import BrokerAddress, MqttSession, Outbound
from lockers.protocol import codec
from lockers.protocol.messages import DesiredState, EdgeSettings, PickupGrant
from lockers.protocol.topics import Channel, topic

LOCKER = "bench-unlock"
KEY_ID = 1
PULSE_S = 0.05  # short pulses, so a compartment's relay is off again by the time its next code comes


class TimedPin(MockPin):
    """gpiozero's mock pin, also remembering when (time.monotonic) it turned on: `states` only keeps the
    seconds since the previous change."""

    def __init__(self, factory, info) -> None:
        self.on_times: list[float] = []
        super().__init__(factory, info)

    def _change_state(self, value):
        changed = super()._change_state(value)
        if changed and value:
            self.on_times.append(time.monotonic())
        return changed


def wait_for(probe: Callable[[], object], timeout: float, what: str, step: float = 0.0005):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(step)
    raise TimeoutError(f"gave up waiting for {what}")


class UnlockRig:
    """The agent of one demo cabinet (12 compartments), started; `close` stops everything."""

    def __init__(self, folder: Path, broker: RunningBroker) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.salt = codes.new_pin_salt()
        self.layout = demo_layout()
        self.compartments = [c.id for c in self.layout.compartments]
        self._version = 0
        self._pins_taken: set[str] = set()
        public = base64.b64encode(codes.public_raw(self.key.public_key())).decode()
        self.socket = folder / "ctl.sock"
        config = EdgeConfig(
            locker=LOCKER,
            state_dir=folder / "state",
            mqtt=MqttConfig(host=broker.host, port=broker.port),
            codes=CodesConfig(keys={KEY_ID: public}),
            hardware=HardwareConfig(layout=Path("layout.json"), w1_base=folder / "w1", pin_factory="mock"),
            layout=self.layout,
            control=ControlConfig(socket=self.socket),
        )
        self._stack = ExitStack()
        self.factory = MockFactory(pin_class=TimedPin)
        hardware = self._stack.enter_context(LockerHardware.from_layout(self.layout, self.factory))
        for compartment in self.layout.compartments:
            self.factory.pin(compartment.door_pin).drive_low()  # every door shut before the agent starts
        self.cloud = MqttSession(BrokerAddress(broker.host, broker.port), "bench-cloud", persistent=False)
        self.cloud.start()
        self._stack.callback(self.cloud.stop)
        self.cloud.wait_connected(10)
        self.agent = self._stack.enter_context(running_agent(config, hardware))
        self._kiosk: subprocess.Popen | None = None

    def relay(self, compartment: str) -> TimedPin:
        return self.factory.pin(self.layout.compartment(compartment).lock_pin)

    # --- codes and desired states -------------------------------------------------------------------

    def token(self, compartment: str) -> str:
        now = datetime.now(UTC)
        claims = codes.pickup_claims(
            key_id=KEY_ID,
            locker=LOCKER,
            order=f"qr-{codes.new_code_id()}",
            compartments=[compartment],
            not_before=now - timedelta(hours=1),
            valid_for=timedelta(days=1),
        )
        return codes.issue_token(claims, self.key)

    def load_pins(self, cost: codes.ScryptCost) -> list[tuple[str, str]]:
        """A new desired state with one ready order per compartment, PINs hashed at `cost`, delivered while the
        uplink is up for a moment, then the uplink is cut again; returns (PIN, compartment) pairs."""
        pins = [(self._new_pin(), compartment) for compartment in self.compartments]
        expires = datetime.now(UTC) + timedelta(days=1)
        grants = [
            PickupGrant(
                order=f"pin-{codes.new_code_id()}",
                code_id=codes.new_code_id(),
                pin_hash=codes.hash_pin(pin, self.salt, cost),
                compartments=[compartment],
                expires_at=expires,
            )
            for pin, compartment in pins
        ]
        self._version += 1
        desired = DesiredState(
            version=self._version,
            issued_at=datetime.now(UTC),
            pin_salt=self.salt,
            pickups=grants,
            settings=EdgeSettings(unlock_pulse_s=PULSE_S),
        )
        message = Outbound(topic(LOCKER, Channel.DESIRED), codec.encode(desired), retain=True)
        if not self.cloud.publish(message).wait(10):
            raise TimeoutError("the broker did not take the desired state")
        self.agent.set_uplink(True)
        wait_for(lambda: self.agent.status()["desired_version"] == self._version, 15, "the desired state", 0.01)
        self.cut_uplink()
        return pins

    def cut_uplink(self) -> None:
        self.agent.set_uplink(False)
        wait_for(lambda: not self.agent.status()["connected"], 10, "the uplink to drop", 0.01)

    def _new_pin(self) -> str:
        pin = codes.new_pin(self._pins_taken)
        self._pins_taken.add(pin)
        return pin

    # --- scanning -----------------------------------------------------------------------------------

    def in_process(self, code: str) -> float:
        """Agent.scan, as a kiosk built into the agent's process would call it; returns when it asked."""
        asked = time.monotonic()
        result = self.agent.scan(code)
        if not result.ok:
            raise RuntimeError(f"the agent refused a benchmark code: {result.message}")
        return asked

    def over_socket(self, code: str) -> float:
        """The control socket, from the kiosk process; returns when the kiosk asked."""
        if self._kiosk is None:
            argv = [sys.executable, "-m", "benchmarks.edge_kiosk", str(self.socket)]
            self._kiosk = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self._kiosk.stdin and self._kiosk.stdout
        self._kiosk.stdin.write(code + "\n")
        self._kiosk.stdin.flush()
        answer = json.loads(self._kiosk.stdout.readline() or "{}")
        if not answer.get("ok"):
            raise RuntimeError(f"the kiosk got a refusal or nothing: {answer}")
        return answer["asked"]

    def unlock_ms(self, code: str, compartment: str, send: Callable[[str], float]) -> float:
        """Milliseconds from asking to the compartment's lock relay turning on."""
        relay = self.relay(compartment)
        wait_for(lambda: not relay.state, 5, f"relay {compartment} to drop after its last pulse")
        before = len(relay.on_times)
        asked = send(code)
        wait_for(lambda: len(relay.on_times) > before, 5, f"relay {compartment} to turn on")
        return (relay.on_times[before] - asked) * 1000

    def close(self) -> None:
        if self._kiosk is not None:
            self._kiosk.stdin.close()  # type: ignore[union-attr]
            self._kiosk.wait(10)
        self._stack.close()
