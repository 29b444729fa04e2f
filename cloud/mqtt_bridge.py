"""The cloud's MQTT side: one persistent session, a queue, and ONE worker thread that decodes and ingests.

paho's network thread only enqueues what arrives; the worker takes everything queued (up to MAX_BATCH),
parses the topic and decodes the payload once each, then hands the messages to the ingest service in
arrival order: runs of consecutive telemetry messages as one batch (one transaction), everything else one
by one. Anything malformed, or from a locker nobody registered, is counted by reason, logged at WARNING
with a short excerpt, and dropped.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable

from cloud.services.ingest import Dropped, Outcome
from cloud.settings import Settings
from lockers.errors import MalformedMessage
from lockers.mqtt import BrokerAddress, Delivery, Inbound, MqttSession, Outbound
from lockers.protocol import codec
from lockers.protocol.messages import DesiredState, Message, Telemetry
from lockers.protocol.topics import EDGE_PUBLISHES, Channel, TopicAddress, cloud_subscription, parse_topic, topic

log = logging.getLogger(__name__)

Handler = Callable[[TopicAddress, Message], Outcome]
TelemetryHandler = Callable[[list[tuple[TopicAddress, Telemetry]]], list[Outcome | Dropped]]
MAX_BATCH = 500
_JSON_NUL = b"\\u0000"
SUBSCRIBED = (Channel.STATE, Channel.TELEMETRY, Channel.EVENTS, Channel.REPORTED, Channel.CMD_ACK)


class IngestStats:
    """Counters of the ingest path, safe to read from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.received = 0
        self._outcomes: Counter[str] = Counter()
        self._dropped: Counter[str] = Counter()

    def count_received(self) -> None:
        with self._lock:
            self.received += 1

    def count(self, outcome: Outcome) -> None:
        with self._lock:
            self._outcomes[outcome.value] += 1

    def count_drop(self, reason: str) -> None:
        with self._lock:
            self._dropped[reason] += 1

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "received": self.received,
                # Inconsistent events were stored too: they count as processed as well.
                "processed": self._outcomes[Outcome.PROCESSED] + self._outcomes[Outcome.INCONSISTENT],
                "duplicates": self._outcomes[Outcome.DUPLICATE],
                "inconsistent": self._outcomes[Outcome.INCONSISTENT],
                "dropped": sum(self._dropped.values()),
                "dropped_by_reason": dict(self._dropped),
            }


class MqttBridge:
    """Owns the cloud's MQTT session and the single ingest worker."""

    def __init__(self, settings: Settings) -> None:
        address = BrokerAddress(
            host=settings.mqtt_host,
            port=settings.mqtt_port,
            username=settings.mqtt_username,
            password=settings.mqtt_password.get_secret_value() if settings.mqtt_password else None,
        )
        self.stats = IngestStats()
        self._inbox: queue.Queue[Inbound | None] = queue.Queue()
        self._pending = 0
        self._idle = threading.Condition()
        self._handler: Handler | None = None
        self._telemetry: TelemetryHandler | None = None
        self._worker: threading.Thread | None = None
        self._session = MqttSession(
            address,
            settings.mqtt_client_id,
            on_message=self._enqueue,
            subscriptions=[(cloud_subscription(channel), 1) for channel in SUBSCRIBED],
            persistent=True,
        )

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self, handler: Handler, telemetry: TelemetryHandler | None = None) -> None:
        """Start the worker, then connect in the background (reconnecting until `stop`); `telemetry`, when
        given, takes runs of telemetry messages at once."""
        self._handler = handler
        self._telemetry = telemetry
        self._worker = threading.Thread(target=self._work, name="dk-cloud-ingest", daemon=True)
        self._worker.start()
        self._session.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Disconnect, let the worker finish what was already received, and stop it."""
        self._session.stop()
        if self._worker is not None:
            self._inbox.put(None)
            self._worker.join(timeout)
            if self._worker.is_alive():
                log.warning("ingest worker still busy after %gs; leaving it behind", timeout)
            self._worker = None

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

    def wait_idle(self, timeout: float) -> bool:
        """True once everything received so far has been processed (for tests and clean shutdowns)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    # --- paho's thread: hand over only --------------------------------------------------------------

    def _enqueue(self, inbound: Inbound) -> None:
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
        run: list[tuple[Inbound, TopicAddress, Telemetry]] = []
        for inbound in inbounds:
            decoded = self._safely(inbound, self._decode)
            if decoded is None:
                continue
            address, message = decoded
            if self._telemetry is not None and isinstance(message, Telemetry):
                run.append((inbound, address, message))
                continue
            self._telemetry_run(run)
            run = []
            self._safely(inbound, lambda i, a=address, m=message: self._dispatch(i, a, m))
        self._telemetry_run(run)

    def _safely(self, inbound: Inbound, step: Callable):
        try:
            return step(inbound)
        except Exception:
            # A bug or a database outage: keep serving the other messages, but say so loudly.
            self.stats.count_drop("processing_error")
            log.exception("failed to process MQTT message on %s; dropped", inbound.topic[:120])
            return None

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
            outcome = self._handler(address, message)
        except Dropped as exc:
            self._drop(exc.reason, str(exc), inbound)
            return
        self.stats.count(outcome)

    def _telemetry_run(self, run: list[tuple[Inbound, TopicAddress, Telemetry]]) -> None:
        """One transaction for the whole run; if it fails, each message again on its own, so only the
        message at fault is lost."""
        if not run:
            return
        if len(run) > 1:
            try:
                results = self._telemetry([(address, message) for _, address, message in run])
            except Exception as exc:
                log.warning("telemetry batch of %d messages failed (%s); retrying them one by one", len(run), exc)
                for item in run:
                    self._telemetry_run([item])
                return
        else:
            inbound, address, message = run[0]
            results = self._safely(inbound, lambda _i: self._telemetry([(address, message)]))
            if results is None:
                return
        for (inbound, _, _), result in zip(run, results, strict=True):
            if isinstance(result, Dropped):
                self._drop(result.reason, str(result), inbound)
            else:
                self.stats.count(result)

    def _drop(self, reason: str, detail: str, inbound: Inbound) -> None:
        self.stats.count_drop(reason)
        log.warning(
            "dropped MQTT message on %s (%s): %s; payload: %s",
            inbound.topic[:120],
            reason,
            detail,
            codec.preview(inbound.payload),
        )
