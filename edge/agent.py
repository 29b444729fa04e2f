"""The edge agent: one worker thread owns all state and works through a queue; every other thread enqueues.

Producers: paho (inbound messages, connection changes), gpiozero (door switches), the ticker, the sensor
sampler, and callers of `scan`/`status` (control socket, kiosk), who wait on a Future for the answer.

Two clocks: `clock` (wall time) decides everything about people and codes: code validity, door release
windows, keypad lockout; `event_clock` stamps what the locker measures and reports (events, readings,
`reported`), which the cold-chain rules run on. They are the same clock on a real locker; a simulator running
`time_scale` times faster passes an `edge.clock.SimClock` and samples its sensors every telemetry interval of
simulated time.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime
from uuid import uuid4

from edge.clock import Clock, utc_now
from edge.codecheck import CodeContext, Decision, check_code
from edge.config import EdgeConfig
from edge.keypad import KeypadState
from edge.link import AGENT_VERSION, TransportFactory, offline, outbound
from edge.repeater import Repeater
from edge.sensing import Sensing
from edge.store import EdgeStore, LoadedPart
from edge.telemetry import DEFAULT_INTERVAL_S, SensorRound
from edge.work import AgentError, ConnectionChange, DoorChange, Scan, ScanResult, StatusRequest, Stop, SyncDoors, Tick
from lockers.door import DEFAULT_RELEASE_WINDOW_S, DoorMachine, DoorOutcome
from lockers.errors import MalformedMessage, TransportError
from lockers.hardware import LockerHardware
from lockers.layout import Zone
from lockers.mqtt import Inbound
from lockers.protocol import codec
from lockers.protocol.messages import (
    Command,
    CommandAck,
    DesiredState,
    Event,
    EventKind,
    Message,
    Reported,
)
from lockers.protocol.topics import Channel, parse_topic
from sensors.rules import ZoneLimits

log = logging.getLogger(__name__)

DEFAULT_PULSE_S = 0.5
TICK_S = 0.5


class Agent:
    """Edge agent of one locker; construct, `start`, and `stop` when done (hardware and store stay open)."""

    def __init__(
        self,
        config: EdgeConfig,
        hardware: LockerHardware,
        transport_factory: TransportFactory,
        store: EdgeStore,
        clock: Clock = utc_now,
        *,
        release_window_s: float = DEFAULT_RELEASE_WINDOW_S,
        event_clock: Clock | None = None,
        time_scale: float = 1.0,
        limits: Mapping[Zone, ZoneLimits] | None = None,
    ) -> None:
        if not time_scale > 0:
            raise ValueError(f"time_scale must be positive, not {time_scale!r}")
        self.config = config
        self.locker = config.locker
        self._hardware = hardware
        self._store = store
        self._clock = clock
        self._event_clock = event_clock or clock
        self.time_scale = time_scale  # simulated seconds per wall-clock second of `event_clock`
        self._queue: queue.Queue = queue.Queue()
        self._transport = transport_factory(self._queue.put, lambda up: self._queue.put(ConnectionChange(up)))
        self._release_window_s = release_window_s
        self._keys = config.trusted_keys()
        # Placeholder until `start` reads the real switch positions.
        self._doors = DoorMachine(dict.fromkeys(hardware.compartments, False), release_window_s=release_window_s)
        self._desired: DesiredState | None = store.desired()
        self._keypad = KeypadState()
        self._sensing = Sensing(config.layout, config.w1_base, store, limits)
        # Fixed keys: other threads may read the dict while the worker counts.
        self.stats: dict[str, int] = dict.fromkeys(
            (
                "malformed",
                "desired_applied",
                "desired_ignored",
                "scans",
                "unlocks",
                "rejections",
                "events",
                "telemetry_batches",
                "commands_refused",
                "publish_failures",
            ),
            0,
        )
        self._telemetry_interval_s = self._pick_telemetry_interval()
        self._worker = threading.Thread(target=self._work, name=f"edge-agent-{self.locker}", daemon=True)
        self._ticker = Repeater(
            f"edge-tick-{self.locker}", lambda: TICK_S, lambda: self._queue.put(Tick()), immediate=False
        )
        self._sampler = Repeater(
            f"edge-sensors-{self.locker}", lambda: self.sampling_period_s, self._sample_sensors, immediate=True
        )

    # --- lifecycle (caller's thread) ------------------------------------------------------------------

    def start(self) -> None:
        # Listen before reading the switches, so no change falls between the two (repeats are no-ops).
        self._hardware.set_door_callback(self._door_changed)
        self._doors = DoorMachine(self._hardware.doors(), release_window_s=self._release_window_s)
        self._queue.put(SyncDoors())  # the rules may remember doors that moved while the agent was down
        self._worker.start()
        self._transport.start()
        self._ticker.start()
        if self._sensing:
            self._sampler.start()
        log.info("edge agent %s started (desired version %s)", self.locker, self._desired_version())

    def stop(self, timeout: float = 10.0) -> None:
        """Stop threads, publish the retained `offline` state and disconnect."""
        self._hardware.set_door_callback(None)
        self._sampler.stop(timeout)
        self._ticker.stop(timeout)
        if self._worker.is_alive():
            self._queue.put(Stop())
            self._worker.join(timeout)
        self._fail_waiting_callers()
        self._transport.stop(final=[offline(self.locker)])
        log.info("edge agent %s stopped", self.locker)

    # --- thread-safe API ------------------------------------------------------------------------------

    def scan(self, text: str, timeout: float = 5.0) -> ScanResult:
        """Check a scanned token or typed PIN and open what it grants."""
        return self._ask(Scan(text), timeout)

    def status(self, timeout: float = 5.0) -> dict:
        """Locker, connection, desired version, doors, energised locks and counters."""
        return self._ask(StatusRequest(), timeout)

    def _ask(self, item: Scan | StatusRequest, timeout: float):
        if not self._worker.is_alive():
            raise AgentError(f"the edge agent of {self.locker} is not running")
        self._queue.put(item)
        try:
            return item.reply.result(timeout)
        except FutureTimeout:
            raise AgentError(f"the edge agent of {self.locker} did not answer within {timeout:g}s") from None

    def _door_changed(self, compartment: str, is_open: bool) -> None:
        self._queue.put(DoorChange(compartment, is_open))  # gpiozero thread: hand over only

    def _sample_sensors(self) -> None:
        self._queue.put(self._sensing.read_round(self._event_clock()))  # sampler thread: slow reads stay here

    @property
    def sampling_period_s(self) -> float:
        """Wall-clock seconds between sensor rounds: the telemetry interval is in event (simulated) time."""
        return self._telemetry_interval_s / self.time_scale

    # --- worker thread --------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if isinstance(item, Stop):
                return
            try:
                self._handle(item)
            except Exception as exc:  # one bad item must not stop the locker; the log (and tests) see it
                log.exception("edge agent %s failed handling %s", self.locker, type(item).__name__)
                if isinstance(item, (Scan, StatusRequest)) and not item.reply.done():
                    item.reply.set_exception(AgentError(f"the edge agent failed: {exc}"))

    def _handle(self, item: object) -> None:
        if isinstance(item, Scan):
            item.reply.set_result(self._scan(item.text))
        elif isinstance(item, DoorChange):
            outcomes = self._doors.door_changed(item.compartment, item.is_open, self._clock())
            self._publish_outcomes(outcomes)
            if self._watch_doors() or outcomes:
                self._publish_reported()
        elif isinstance(item, SyncDoors):
            if self._watch_doors():
                self._publish_reported()
        elif isinstance(item, Tick):
            self._publish_outcomes(self._doors.tick(self._clock()))
        elif isinstance(item, Inbound):
            self._inbound(item)
        elif isinstance(item, SensorRound):
            self._telemetry(item)
        elif isinstance(item, ConnectionChange):
            if item.up:
                self._publish_reported()
        elif isinstance(item, StatusRequest):
            item.reply.set_result(self._status())
        else:
            raise TypeError(f"unknown work item {item!r}")

    def _fail_waiting_callers(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, (Scan, StatusRequest)) and not item.reply.done():
                item.reply.set_exception(AgentError(f"the edge agent of {self.locker} stopped"))

    # --- scans ----------------------------------------------------------------------------------------

    def _scan(self, text: str) -> ScanResult:
        self.stats["scans"] += 1
        now = self._clock()
        verdict = check_code(
            text,
            CodeContext(
                locker=self.locker,
                keys=self._keys,
                desired=self._desired,
                compartments=frozenset(self._hardware.compartments),
                now=now,
                consumed=self._store.consumed_codes(),
                used_pins=self._store.used_pin_hashes(),
                loaded=self._store.loaded_parts(),
                keypad=self._keypad,
            ),
        )
        self._keypad = verdict.keypad
        if isinstance(verdict, Decision):
            log.info(
                "%s code opens %s (order %s, vendor %s)",
                verdict.method.value,
                ", ".join(verdict.compartments),
                verdict.order or "-",
                verdict.vendor or "-",
            )
            return self._open(verdict, now)
        log.info("%s code refused: %s (%s)", verdict.method.value, verdict.reason.value, verdict.detail)
        self.stats["rejections"] += 1
        self._emit(
            EventKind.CODE_REJECTED, reason=verdict.reason, method=verdict.method, detail=verdict.detail[:300] or None
        )
        return ScanResult(ok=False, opened=[], reason=verdict.reason, message=verdict.message)

    def _open(self, decision: Decision, now: datetime) -> ScanResult:
        if decision.consume:  # used before anything opens: never twice
            self._store.consume_code(decision.consume, now, self._pin_hash_of(decision.consume))
        pulse_s = self._desired.settings.unlock_pulse_s if self._desired else DEFAULT_PULSE_S
        for compartment, session in decision.sessions:
            self._publish_outcomes(self._doors.unlock(compartment, session, now))
            self._hardware.compartment(compartment).pulse(pulse_s)
            self.stats["unlocks"] += 1
        return ScanResult(ok=True, opened=list(decision.compartments), reason=None, message=decision.message)

    def _pin_hash_of(self, code_id: str) -> str | None:
        grants = self._desired.pickups if self._desired else []
        return next((g.pin_hash for g in grants if g.code_id == code_id), None)

    # --- inbound --------------------------------------------------------------------------------------

    def _inbound(self, message: Inbound) -> None:
        try:
            address = parse_topic(message.topic)
            if address.locker != self.locker:
                raise MalformedMessage(f"topic {message.topic[:80]!r} is not about locker {self.locker}")
            decoded = codec.decode(address.channel, message.payload)
        except MalformedMessage as exc:
            log.warning(
                "dropped malformed message on %s: %s; payload %s",
                message.topic[:80],
                exc,
                codec.preview(message.payload),
            )
            self.stats["malformed"] += 1
            return
        if isinstance(decoded, DesiredState):
            self._apply_desired(decoded)
        elif isinstance(decoded, Command):
            self._refuse_command(decoded)

    def _apply_desired(self, desired: DesiredState) -> None:
        held = self._desired_version()
        if desired.version <= held:
            self.stats["desired_ignored"] += 1
            log.info("ignored desired state version %s (holding %s)", desired.version, held)
            return
        self._store.save_desired(desired)
        self._desired = desired
        self.stats["desired_applied"] += 1
        log.info("applied desired state version %s", desired.version)
        self._telemetry_interval_s = self._pick_telemetry_interval()
        self._sampler.poke()
        self._publish_reported()

    def _refuse_command(self, command: Command) -> None:
        # Remote commands arrive with a later issue; say so instead of leaving the cloud waiting.
        self.stats["commands_refused"] += 1
        ack = CommandAck(id=command.id, ok=False, detail="remote commands are not supported by this agent version")
        self._publish(Channel.CMD_ACK, ack)

    # --- telemetry ------------------------------------------------------------------------------------

    def _telemetry(self, sensor_round: SensorRound) -> None:
        news = self._sensing.observe_round(sensor_round)
        if news.telemetry is not None:
            self._publish(Channel.TELEMETRY, news.telemetry)
            self.stats["telemetry_batches"] += 1
        for detail in news.new_faults:
            self._emit(EventKind.SENSOR_FAULT, detail=detail)
        if news.alarms_changed:
            self._publish_reported()

    def _watch_doors(self) -> bool:
        """Tell the cold-chain rules where the doors are; whether the local alarms changed."""
        return self._sensing.observe_doors(self._doors.doors(), self._event_clock())

    def _pick_telemetry_interval(self) -> float:
        if self.config.telemetry_interval_s is not None:
            return self.config.telemetry_interval_s
        return self._desired.settings.telemetry_interval_s if self._desired else DEFAULT_INTERVAL_S

    # --- publishing -----------------------------------------------------------------------------------

    def _publish_outcomes(self, outcomes: list[DoorOutcome]) -> None:
        now = self._clock()
        for outcome in outcomes:
            if outcome.kind is EventKind.LOADED and outcome.order and outcome.vendor:
                self._store.mark_loaded(LoadedPart(outcome.compartment, outcome.order, outcome.vendor), now)
            self._emit(
                outcome.kind,
                compartment=outcome.compartment,
                order=outcome.order,
                vendor=outcome.vendor,
                code_id=outcome.code_id,
                method=outcome.method,
            )

    def _emit(self, kind: EventKind, **fields) -> None:
        event = Event(id=uuid4().hex, seq=self._store.next_seq(), ts=self._event_clock(), kind=kind, **fields)
        self._publish(Channel.EVENTS, event)
        self.stats["events"] += 1

    def _publish_reported(self) -> None:
        doors = {cid: "open" if is_open else "closed" for cid, is_open in self._doors.doors().items()}
        reported = Reported(
            desired_version=self._desired_version(),
            agent=AGENT_VERSION,
            doors=doors,
            ts=self._event_clock(),
            alarms=self._sensing.alarms(),
        )
        self._publish(Channel.REPORTED, reported)

    def _publish(self, channel: Channel, message: Message) -> None:
        try:
            self._transport.publish(outbound(self.locker, channel, message))
        except TransportError as exc:
            # Until the outbox lands, a message paho refuses to queue is lost; count it so it shows.
            self.stats["publish_failures"] += 1
            log.warning("could not publish %s: %s", channel.value, exc)

    def _desired_version(self) -> int:
        return self._desired.version if self._desired else 0

    def _status(self) -> dict:
        return {
            "locker": self.locker,
            "connected": self._transport.connected,
            "desired_version": self._desired_version(),
            "doors": {cid: "open" if is_open else "closed" for cid, is_open in self._doors.doors().items()},
            "locks_energised": self._hardware.energised(),
            "keypad_locked": self._keypad.locked(self._clock()),
            "alarms": [alarm.model_dump(mode="json", exclude={"v"}) for alarm in self._sensing.alarms()],
            "stats": dict(self.stats),
        }
