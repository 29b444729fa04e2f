"""Prometheus metrics of the cloud (GET /metrics): read when scraped, from the ingest counters and the database,
so nothing on the hot paths counts twice. Lockers online and offline, open alerts, orders per status, the
notification outbox, the MQTT connection and what ingest received."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from cloud.db import Database, utcnow
from cloud.lifecycle import OrderKind, OrderStatus
from cloud.models import Locker, Order
from cloud.models_monitoring import Alert, Notification
from cloud.presence import PresenceRule
from cloud.services.alerts import OPEN
from dorpskluis import __version__

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class CloudCollector(Collector):
    """Builds every metric family at scrape time."""

    def __init__(
        self,
        db: Database,
        presence: PresenceRule,
        ingest: Callable[[], dict],
        mqtt_connected: Callable[[], bool],
    ) -> None:
        self._db = db
        self._presence = presence
        self._ingest = ingest
        self._mqtt_connected = mqtt_connected

    def collect(self) -> Iterator:
        yield InfoMetricFamily("dorpskluis_cloud", "The cloud service's version.", value={"version": __version__})
        yield GaugeMetricFamily(
            "dorpskluis_mqtt_connected", "1 while the cloud's MQTT session is connected.", self._mqtt_connected()
        )
        stats = self._ingest()
        messages = CounterMetricFamily(
            "dorpskluis_ingest_messages", "MQTT messages from lockers, by what became of them.", labels=["result"]
        )
        for result in ("received", "processed", "duplicates", "inconsistent", "dropped"):
            messages.add_metric([result], stats[result])
        yield messages
        now = utcnow()
        with self._db.read() as session:
            lockers = GaugeMetricFamily("dorpskluis_lockers", "Registered lockers by presence.", labels=["state"])
            counts = {"online": 0, "offline": 0, "never_seen": 0}
            for online, last_seen in session.execute(select(Locker.online, Locker.last_seen)):
                if last_seen is None and not online:
                    counts["never_seen"] += 1
                else:
                    counts["offline" if self._presence.of(online, last_seen, now).why_offline else "online"] += 1
            for state, count in counts.items():
                lockers.add_metric([state], count)
            yield lockers
            alerts = GaugeMetricFamily(
                "dorpskluis_alerts_open", "Alerts raised or acknowledged, not cleared.", labels=["kind", "severity"]
            )
            query = select(Alert.kind, Alert.severity, func.count()).where(Alert.state.in_(OPEN))
            for kind, severity, count in session.execute(query.group_by(Alert.kind, Alert.severity)):
                alerts.add_metric([kind, severity], count)
            yield alerts
            orders = GaugeMetricFamily("dorpskluis_orders", "Orders by status and kind.", labels=["status", "kind"])
            found = dict.fromkeys(((s.value, k.value) for s in OrderStatus for k in OrderKind), 0)
            for status, kind, count in session.execute(
                select(Order.status, Order.kind, func.count()).group_by(Order.status, Order.kind)
            ):
                found[(status, kind)] = count
            for (status, kind), count in sorted(found.items()):
                orders.add_metric([status, kind], count)
            yield orders
            pending = session.scalar(
                select(func.count()).select_from(Notification).where(Notification.status == "pending")
            )
            yield GaugeMetricFamily(
                "dorpskluis_notifications_pending", "Emails and webhooks waiting to be delivered.", pending
            )


def registry(collector: CloudCollector) -> CollectorRegistry:
    """A registry of our own (not the process-wide default): one per runtime, nothing else in it."""
    own = CollectorRegistry(auto_describe=False)
    own.register(collector)
    return own


def exposition(own: CollectorRegistry) -> bytes:
    return generate_latest(own)
