"""The cloud's MQTT side: one persistent session, a queue, and ONE worker thread that decodes and ingests.

paho's network thread only enqueues what arrives; the worker takes everything queued (up to MAX_BATCH),
parses the topic and decodes the payload once each, then hands the messages to the ingest service in
arrival order: runs of consecutive telemetry messages as one batch (one transaction), runs of consecutive state
and reported messages likewise (a fleet's births and heartbeats), events and command acks one by one. Anything
malformed, or from a locker nobody registered, is counted by reason, logged at WARNING with a short excerpt, and
dropped.

Nothing received is lost (docs/protocol.md, "Delivery guarantees"): each message is acknowledged to the broker
only once its transaction committed (or it was dropped as bad input, or kept in `ingest_failures` after a bug);
while the database is unavailable the worker retries with backoff, so the broker keeps the rest queued.

Past one process (DK_MQTT_SHARE_GROUP): telemetry is a shared subscription, so the broker hands each telemetry
message to one node of the group; events, state, reported and command acks stay with the main node, whose one
worker applies them in arrival order (per-locker event numbering needs that). See `subscriptions`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

from cloud.errors import DatabaseUnavailable
from cloud.ingest_stats import IngestStats
from cloud.services.ingest import Dropped, Outcome
from cloud.services.presence_batch import PresenceItem, is_presence
from cloud.settings import Settings
from lockers.errors import MalformedMessage
from lockers.mqtt import BrokerAddress, Delivery, Inbound, MqttSession, Outbound
from lockers.protocol import codec
from lockers.protocol.messages import Command, DesiredState, Message, Telemetry
from lockers.protocol.topics import EDGE_PUBLISHES, Channel, TopicAddress, cloud_subscription, parse_topic, topic

log = logging.getLogger(__name__)

Handler = Callable[[TopicAddress, Message, bool], Outcome]  # (address, message, retained)
TelemetryHandler = Callable[[list[tuple[TopicAddress, Telemetry]]], list[Outcome | Dropped]]
PresenceHandler = Callable[[list[PresenceItem]], list[Outcome | Dropped]]
FailureSink = Callable[[str, bytes, str], None]  # (topic, payload, error)
MAX_BATCH = 500
RETRY_FIRST_S, RETRY_MAX_S = 0.5, 30.0
_JSON_NUL = b"\\u0000"
SUBSCRIBED = (Channel.STATE, Channel.TELEMETRY, Channel.EVENTS, Channel.REPORTED, Channel.CMD_ACK)


def subscriptions(settings: Settings) -> list[tuple[str, int]]:
    """What the node subscribes to. With a share group only telemetry is shared: its storage is idempotent and
    per locker serialised in the database, whereas events, state, reported and command acks must be applied one
    at a time in arrival order, so they stay on the one main node (never on a `ingest_telemetry_only` node)."""
    group = settings.mqtt_share_group
    if settings.ingest_telemetry_only:
        return [(cloud_subscription(Channel.TELEMETRY, group), 1)]
    return [(cloud_subscription(channel, group if channel is Channel.TELEMETRY else None), 1) for channel in SUBSCRIBED]


class _Abandoned(Exception):
    """Stopping while the database is unavailable: the message stays unacknowledged, the broker keeps it."""


class MqttBridge:
    """Owns the cloud's MQTT session and the single ingest worker."""

    def __init__(self, settings: Settings) -> None:
        address = BrokerAddress(
            host=settings.mqtt_host,
            port=settings.mqtt_port,
            username=settings.mqtt_username,
            password=settings.mqtt_password.get_secret_value() if settings.mqtt_password else None,
            ca_file=str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None,
            tls=settings.mqtt_tls,
        )
        self.stats = IngestStats()
        self._inbox: queue.Queue[Inbound | None] = queue.Queue()
        self._pending = 0
        self._idle = threading.Condition()
        self._accepting = True
        self._stopping = threading.Event()
        self._handler: Handler | None = None
        self._telemetry: TelemetryHandler | None = None
        self._presence: PresenceHandler | None = None
        self._keep_failed: FailureSink | None = None
        self._worker: threading.Thread | None = None
        self.connections = 0  # connections the broker confirmed since start; the watchdog republishes on a new one
        self._session = MqttSession(
            address,
            settings.mqtt_client_id,
            on_message=self._enqueue,
            subscriptions=subscriptions(settings),
            persistent=True,
            manual_ack=True,  # acknowledged once stored: a crash loses nothing the broker handed over
            on_connection=self._connection_changed,
            tcp_nodelay=settings.mqtt_tcp_nodelay,
        )

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(
        self,
        handler: Handler,
        telemetry: TelemetryHandler | None = None,
        keep_failed: FailureSink | None = None,
        presence: PresenceHandler | None = None,
    ) -> None:
        """Start the worker, then connect in the background (reconnecting until `stop`); `telemetry`, when
        given, takes runs of telemetry messages at once, `presence` runs of state and reported messages;
        `keep_failed` stores messages whose processing raised."""
        self._handler = handler
        self._telemetry = telemetry
        self._presence = presence
        self._keep_failed = keep_failed
        self._accepting = True
        self._stopping.clear()
        self._worker = threading.Thread(target=self._work, name="dk-cloud-ingest", daemon=True)
        self._worker.start()
        self._session.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish what was received, then disconnect. New arrivals are left unacknowledged (the broker delivers
        them again after our restart); the connection stays up until the last acknowledgement went out. Gives up
        when the worker makes no progress for `timeout` seconds: what it still holds stays unacknowledged too."""
        self._accepting = False
        self._stopping.set()  # retries during a database outage give up: the broker keeps those messages
        if self._worker is not None:
            self._inbox.put(None)
            self._join_while_progressing(timeout)
            self._worker = None
        self._session.stop()

    def _join_while_progressing(self, timeout: float) -> None:
        last, still_since = self._pending, time.monotonic()
        while self._worker.is_alive():
            self._worker.join(0.2)
            if self._pending != last:
                last, still_since = self._pending, time.monotonic()
            elif time.monotonic() - still_since > timeout:
                log.warning("ingest worker made no progress for %gs; %d message(s) left behind", timeout, last)
                return

    @property
    def connected(self) -> bool:
        return self._session.connected

    def wait_connected(self, timeout: float) -> None:
        self._session.wait_connected(timeout)

    def publish(self, message: Outbound) -> Delivery:
        return self._session.publish(message)

    def publish_desired(self, locker_id: str, state: DesiredState) -> Delivery:
        """Send a locker's desired state retained at QoS 1 (queued while disconnected)."""
        return self.publish(Outbound(topic(locker_id, Channel.DESIRED), codec.encode(state), qos=1, retain=True))

    def publish_command(self, locker_id: str, command: Command) -> Delivery:
        """Send a remote command at QoS 1, not retained: a command is for now, never for a later subscriber."""
        return self.publish(Outbound(topic(locker_id, Channel.CMD), codec.encode(command), qos=1, retain=False))

    def wait_idle(self, timeout: float) -> bool:
        """True once everything received so far has been processed (for tests and clean shutdowns)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    # --- paho's thread: hand over only --------------------------------------------------------------

    # network thread: count only
    def _connection_changed(self, up: bool) -> None:
        if up:
            self.connections += 1

    def _enqueue(self, inbound: Inbound) -> None:
        if not self._accepting:
            return  # stopping: unacknowledged, so the broker keeps it for our next session
        with self._idle:
            self._pending += 1
        self.stats.count_received()
        self._inbox.put(inbound)

    # --- the worker -----------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            first = self._inbox.get()
            if first is None:
                return
            batch, stopping = [first], False
            while len(batch) < MAX_BATCH:
                try:
                    item = self._inbox.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            try:
                self._process_all(batch)
            finally:
                with self._idle:
                    self._pending -= len(batch)
                    self._idle.notify_all()
            if stopping:
                return

    def _process_all(self, inbounds: list[Inbound]) -> None:
        # One run open at a time: any other message ends it, so nothing is reordered across an event.
        run: list[tuple[Inbound, TopicAddress, Message]] = []
        kind: Channel | None = None
        for inbound in inbounds:
            try:
                decoded = self._decode(inbound)
            except Exception as exc:
                self._failed([inbound], exc)
                continue
            if decoded is None:
                self._settle([inbound])
                continue
            address, message = decoded
            this = self._run_kind(address, message)
            if this is not None and this is kind:
                run.append((inbound, address, message))
                continue
            self._end_run(kind, run)
            run, kind = [], this
            if this is None:
                self._dispatch(inbound, address, message)
            else:
                run.append((inbound, address, message))
        self._end_run(kind, run)

    def _run_kind(self, address: TopicAddress, message: Message) -> Channel | None:
        """Which run the message may join (TELEMETRY, or STATE for state and reported alike), None for none."""
        if self._telemetry is not None and isinstance(message, Telemetry):
            return Channel.TELEMETRY
        if self._presence is not None and is_presence(address, message):
            return Channel.STATE
        return None

    def _end_run(self, kind: Channel | None, run: list[tuple[Inbound, TopicAddress, Message]]) -> None:
        if kind is Channel.TELEMETRY:
            self._telemetry_run(run)
        elif kind is Channel.STATE:
            self._presence_run(run)

    def _until_stored(self, inbounds: Sequence[Inbound], step: Callable):
        """Run `step`, again and again with backoff while the database is unavailable (raise _Abandoned when
        stopping meanwhile); any other exception propagates."""
        delay = RETRY_FIRST_S
        while True:
            try:
                return step()
            except DatabaseUnavailable as exc:
                if self._stopping.is_set():
                    raise _Abandoned(str(exc)) from exc
                log.warning("%s; retrying %d message(s) in %.1fs", exc, len(inbounds), delay)
                self._stopping.wait(delay)
                delay = min(delay * 2, RETRY_MAX_S)

    def _failed(self, inbounds: Sequence[Inbound], exc: Exception) -> None:
        """A bug: say so loudly, keep the messages as received, and only then acknowledge them."""
        self.stats.count_drop("processing_error")
        log.exception("failed to process %d MQTT message(s) on %s", len(inbounds), inbounds[0].topic[:120])
        if self._keep_failed is None:
            return
        try:
            for inbound in inbounds:
                self._keep_failed(inbound.topic, inbound.payload, f"{type(exc).__name__}: {exc}")
        except Exception:
            log.exception("could not keep the failed message(s) either; left unacknowledged")
            return
        self._settle(inbounds)

    def _decode(self, inbound: Inbound) -> tuple[TopicAddress, Message] | None:
        try:
            address = parse_topic(inbound.topic)
        except MalformedMessage as exc:
            self._drop("malformed_topic", str(exc), inbound)
            return None
        if address.channel not in EDGE_PUBLISHES:
            self._drop("unexpected_channel", f"{address.channel.value} is published by the cloud", inbound)
            return None
        if _JSON_NUL in inbound.payload:
            # Valid JSON, but no text column (PostgreSQL above all) can hold it: refuse before it gets that far.
            self._drop("malformed_payload", "a string holds a NUL character", inbound)
            return None
        try:
            return address, codec.decode(address.channel, inbound.payload)
        except MalformedMessage as exc:
            self._drop("malformed_payload", str(exc), inbound)
            return None

    def _dispatch(self, inbound: Inbound, address: TopicAddress, message: Message) -> None:
        try:
            outcome = self._until_stored([inbound], lambda: self._handler(address, message, inbound.retained))
        except Dropped as exc:
            self._drop(exc.reason, str(exc), inbound)
        except _Abandoned:
            return
        except Exception as exc:
            self._failed([inbound], exc)
            return
        else:
            self.stats.count(outcome)
        self._settle([inbound])

    def _telemetry_run(self, run: list[tuple[Inbound, TopicAddress, Telemetry]]) -> None:
        """One transaction for the whole run; if it fails, each message again on its own, so only the
        message at fault is set aside."""
        if not run:
            return
        inbounds = [inbound for inbound, _, _ in run]
        try:
            results = self._until_stored(inbounds, lambda: self._telemetry([(a, m) for _, a, m in run]))
        except _Abandoned:
            return
        except Exception as exc:
            if len(run) == 1:
                self._failed(inbounds, exc)
                return
            log.warning("telemetry batch of %d messages failed (%s); retrying them one by one", len(run), exc)
            for item in run:
                self._telemetry_run([item])
            return
        self._record(inbounds, results)

    def _presence_run(self, run: list[tuple[Inbound, TopicAddress, Message]]) -> None:
        """One transaction for a run of state and reported messages; if it fails, each message again through the
        one-by-one handler, so only the message at fault is set aside."""
        if not run:
            return
        if len(run) == 1:
            self._dispatch(*run[0])
            return
        inbounds = [inbound for inbound, _, _ in run]
        try:
            results = self._until_stored(
                inbounds, lambda: self._presence([(a, m, inbound.retained) for inbound, a, m in run])
            )
        except _Abandoned:
            return
        except Exception as exc:
            log.warning("state/reported batch of %d messages failed (%s); retrying them one by one", len(run), exc)
            for item in run:
                self._dispatch(*item)
            return
        self._record(inbounds, results)

    def _record(self, inbounds: Sequence[Inbound], results: Sequence) -> None:
        """Count what a batch stored or dropped, then acknowledge it."""
        for inbound, result in zip(inbounds, results, strict=True):
            if isinstance(result, Dropped):
                self._drop(result.reason, str(result), inbound)
            else:
                self.stats.count(result)
        self._settle(inbounds)

    def _settle(self, inbounds: Sequence[Inbound]) -> None:
        """Acknowledge to the broker: the messages are stored, dropped as bad input, or kept after a failure."""
        self._session.acknowledge(inbounds)

    def _drop(self, reason: str, detail: str, inbound: Inbound) -> None:
        self.stats.count_drop(reason)
        log.warning(
            "dropped MQTT message on %s (%s): %s; payload: %s",
            inbound.topic[:120],
            reason,
            detail,
            codec.preview(inbound.payload),
        )
