"""The edge agent: one worker thread owns all state and works through a queue; every other thread enqueues.

Producers: paho (inbound messages, connection changes), gpiozero (door switches), the ticker, the heartbeat,
the sensor sampler, and callers of `scan`/`status` (control socket, kiosk), who wait on a Future for the answer.
Everything the agent reports goes through `edge.uplink`: written to the outbox in SQLite, then sent by the
publisher's own thread, so the worker never waits on the network and nothing is lost while the uplink is down.

Two clocks: `clock` (wall time) decides everything about people, codes and commands: code validity, door
release windows and jams, keypad lockout, remote command expiry; `event_clock` stamps what the locker measures
and reports (events, readings, `reported`), which the cold-chain rules run on. They are the same clock on a
real locker; a simulator running `time_scale` times faster passes an `edge.clock.SimClock` and samples its
sensors every telemetry interval of simulated time.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime

from dorpskluis import __version__
from edge.clock import Clock, utc_now
from edge.codecheck import Decision
from edge.commands import answer_command, answer_resend, resend_ack
from edge.config import EdgeConfig
from edge.link import AGENT_VERSION, TransportFactory, offline, receive
from edge.locks import Locks
from edge.repeater import Repeater
from edge.scanning import Scanner
from edge.sensing import Sensing
from edge.store import EdgeStore, remember_answer
from edge.systemd import SystemdNotifier
from edge.telemetry import DEFAULT_INTERVAL_S, SensorRound
from edge.uplink import Uplink
from edge.work import (
    AgentError,
    ConnectionChange,
    DoorChange,
    Heartbeat,
    Scan,
    ScanResult,
    StatusRequest,
    Stop,
    SyncDoors,
    Tick,
)
from lockers.door import DEFAULT_RELEASE_WINDOW_S, RemoteSession, Session
from lockers.hardware import LockerHardware
from lockers.layout import Zone
from lockers.mqtt import Inbound
from lockers.protocol.messages import Command, CommandAck, DesiredState, EventKind, RejectReason, Reported
from lockers.protocol.topics import Channel
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
        systemd: SystemdNotifier | None = None,
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
        self._systemd = systemd or SystemdNotifier()  # NOTIFY_SOCKET from the environment, else silent
        self._transport = transport_factory(self._queue.put, lambda up: self._queue.put(ConnectionChange(up)))
        self._uplink = Uplink(
            self.locker,
            store,
            self._transport,
            self._event_clock,
            max_rows=config.outbox_max_rows,
            archive_rows=config.sent_archive_rows,
        )
        self._locks = Locks(
            hardware, store, self._emit, release_window_s=release_window_s, jam_after_s=config.jam_after_s
        )
        self._scanner = Scanner(self.locker, config.trusted_keys(), store, self._locks.compartments)
        self._desired: DesiredState | None = store.desired()
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
                "commands_done",
                "commands_refused",
                "commands_repeated",
                "events_resent",
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
        # Wall clock even in a fast simulator: the cloud judges silence by the time messages arrive.
        self._heartbeat = Repeater(
            f"edge-heartbeat-{self.locker}",
            lambda: config.heartbeat_s,
            lambda: self._queue.put(Heartbeat()),
            immediate=False,
        )

    # --- lifecycle (caller's thread) ------------------------------------------------------------------

    def start(self) -> None:
        # Listen before reading the switches, so no change falls between the two (repeats are no-ops).
        self._hardware.set_door_callback(self._door_changed)
        self._locks.read_switches()
        self._queue.put(SyncDoors())  # the rules may remember doors that moved while the agent was down
        self._worker.start()
        self._uplink.start()
        self._transport.start()
        self._ticker.start()
        self._heartbeat.start()
        if self._sensing:
            self._sampler.start()
        self._systemd.ready(f"locker {self.locker}, desired version {self._desired_version()}")
        log.info("edge agent %s started (desired version %s)", self.locker, self._desired_version())

    def stop(self, timeout: float = 10.0) -> None:
        """Stop threads, send what the outbox holds (briefly), publish the retained `offline` and disconnect."""
        self._systemd.stopping()
        self._hardware.set_door_callback(None)
        self._sampler.stop(timeout)
        self._ticker.stop(timeout)
        self._heartbeat.stop(timeout)
        if self._worker.is_alive():
            self._queue.put(Stop())
            self._worker.join(timeout)
        self._fail_waiting_callers()
        self._uplink.stop()  # what is left stays in the outbox for the next start
        self._transport.stop(final=[offline(self.locker)])
        log.info("edge agent %s stopped", self.locker)

    # --- thread-safe API ------------------------------------------------------------------------------

    def scan(self, text: str, timeout: float = 5.0) -> ScanResult:
        """Check a scanned token or typed PIN and open what it grants."""
        return self._ask(Scan(text), timeout)

    def status(self, timeout: float = 5.0) -> dict:
        """Locker, connection, desired version, doors, energised locks, outbox and counters."""
        return self._ask(StatusRequest(), timeout)

    def set_uplink(self, up: bool) -> str:
        """Cut the broker connection as a network failure would, or restore it (edge.uplink); the locker works on."""
        return self._uplink.switch(up)

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
            moved = self._locks.door_changed(item.compartment, item.is_open, self._clock())
            if self._watch_doors() or moved:
                self._publish_reported()
        elif isinstance(item, SyncDoors):
            if self._watch_doors():
                self._publish_reported()
        elif isinstance(item, Tick):
            self._locks.tick(self._clock())
            self._systemd.watchdog()  # from the worker: systemd restarts an agent whose worker stopped turning
        elif isinstance(item, Heartbeat):
            self._publish_reported()
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
        verdict = self._scanner.check(text, self._desired, now)
        if isinstance(verdict, Decision):
            self._release(verdict.sessions, now)
            return ScanResult(
                ok=True,
                opened=list(verdict.compartments),
                reason=None,
                message=verdict.message,
                method=verdict.method,
                purpose=verdict.purpose,
            )
        self.stats["rejections"] += 1
        self._emit(
            EventKind.CODE_REJECTED, reason=verdict.reason, method=verdict.method, detail=verdict.detail[:300] or None
        )
        if verdict.reason is RejectReason.WRONG_PIN and verdict.keypad.locked(now):  # this wrong PIN locked it
            self._emit(EventKind.KEYPAD_LOCKED, count=verdict.keypad.failures, detail=verdict.detail[:300] or None)
        wait_s = int(verdict.wait.total_seconds()) if verdict.wait is not None else None
        return ScanResult(ok=False, opened=[], reason=verdict.reason, message=verdict.message, wait_s=wait_s)

    def _release(self, sessions: Sequence[tuple[str, Session]], now: datetime) -> None:
        pulse_s = self._desired.settings.unlock_pulse_s if self._desired else DEFAULT_PULSE_S
        self._locks.release(sessions, pulse_s, now)
        self.stats["unlocks"] += len(sessions)

    # --- inbound --------------------------------------------------------------------------------------

    def _inbound(self, message: Inbound) -> None:
        decoded = receive(self.locker, message)
        if decoded is None:
            self.stats["malformed"] += 1
            return
        if isinstance(decoded, DesiredState):
            self._apply_desired(decoded)
        elif isinstance(decoded, Command):
            self._command(decoded)

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

    def _command(self, command: Command) -> None:
        """A remote command: answered once (remembered before anything opens or is queued), acknowledged on every
        delivery."""
        now = self._clock()
        previous = self._store.command_answer(command.id)
        ack = self._resend(command, now, previous) if command.kind == "resend" else self._unlock(command, now, previous)
        self._uplink.send(Channel.CMD_ACK, ack)

    def _unlock(self, command: Command, now: datetime, previous: CommandAck | None) -> CommandAck:
        verdict = answer_command(command, now, self._locks.compartments, previous)
        self._count_command(command, verdict.ack, verdict.repeated)
        if not verdict.repeated:
            self._store.save_command_answer(verdict.ack, now)
        session = RemoteSession(command=command.id, issued_by=command.issued_by)
        self._release([(compartment, session) for compartment in verdict.open], now)
        return verdict.ack

    def _resend(self, command: Command, now: datetime, previous: CommandAck | None) -> CommandAck:
        """The cloud misses events: queue the kept ones of the range again (answer saved in the same transaction)."""
        verdict = answer_resend(command, now, previous)
        if verdict is not None:
            if not verdict.repeated:
                self._store.save_command_answer(verdict.ack, now)
            self._count_command(command, verdict.ack, verdict.repeated)
            return verdict.ack
        resent = self._uplink.resend(
            command.from_seq, command.to_seq, lambda db, done: remember_answer(db, resend_ack(command.id, done), now)
        )
        ack = resend_ack(command.id, resent)
        self.stats["events_resent"] += resent.resent
        self._count_command(command, ack, False)
        return ack

    def _count_command(self, command: Command, ack: CommandAck, repeated: bool) -> None:
        if repeated:
            self.stats["commands_repeated"] += 1
            return
        self.stats["commands_done" if ack.ok else "commands_refused"] += 1
        what = f"{command.kind} {command.from_seq}-{command.to_seq}" if command.kind == "resend" else command.kind
        log.info("remote command %s (%s) by %s: %s", command.id, what, command.issued_by, ack.detail or "opened")

    # --- telemetry ------------------------------------------------------------------------------------

    def _telemetry(self, sensor_round: SensorRound) -> None:
        news = self._sensing.observe_round(sensor_round)
        if news.telemetry is not None:
            self._uplink.send(Channel.TELEMETRY, news.telemetry)
            self.stats["telemetry_batches"] += 1
        for detail in news.new_faults:
            self._emit(EventKind.SENSOR_FAULT, detail=detail)
        if news.alarms_changed:
            self._publish_reported()

    def _watch_doors(self) -> bool:
        """Tell the cold-chain rules where the doors are; whether the local alarms changed."""
        return self._sensing.observe_doors(self._locks.doors(), self._event_clock())

    def _pick_telemetry_interval(self) -> float:
        if self.config.telemetry_interval_s is not None:
            return self.config.telemetry_interval_s
        return self._desired.settings.telemetry_interval_s if self._desired else DEFAULT_INTERVAL_S

    # --- publishing -----------------------------------------------------------------------------------

    def _emit(self, kind: EventKind, **fields) -> None:
        self._uplink.emit(kind, **fields)
        self.stats["events"] += 1

    def _publish_reported(self) -> None:
        reported = Reported(
            desired_version=self._desired_version(),
            agent=AGENT_VERSION,
            doors=self._locks.positions(),
            ts=self._event_clock(),
            alarms=self._sensing.alarms(),
            last_seq=self._store.last_seq("events"),  # only this thread numbers events: none can slip in between
        )
        self._uplink.send(Channel.REPORTED, reported)

    def _desired_version(self) -> int:
        return self._desired.version if self._desired else 0

    def _status(self) -> dict:
        return {
            "locker": self.locker,
            "agent": __version__,  # the updater checks that the version it installed is the one running
            "connected": self._transport.connected,
            "uplink": "down" if self._transport.suspended else "up",
            "desired_version": self._desired_version(),
            "doors": self._locks.positions(),
            "locks_energised": self._locks.energised(),
            "keypad_locked": self._scanner.keypad_locked(self._clock()),
            "alarms": [alarm.model_dump(mode="json", exclude={"v"}) for alarm in self._sensing.alarms()],
            "outbox": self._uplink.status(),
            "stats": dict(self.stats),
        }
