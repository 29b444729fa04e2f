"""Wiring: settings -> database, keys, services, the MQTT bridge and the background threads; started and
stopped as one."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from prometheus_client import CollectorRegistry
from sqlalchemy import select

from cloud import reporting, schema
from cloud.db import Database
from cloud.export import Exporter, InfluxSettings, build_exporter
from cloud.keys import KeyRing, load_key_ring, load_signing_key_file
from cloud.metrics import CloudCollector
from cloud.metrics import registry as metrics_registry
from cloud.models_monitoring import Contact
from cloud.mqtt_bridge import MqttBridge
from cloud.notify.delivery import Notifier
from cloud.presence import PresenceRule
from cloud.ratelimit import FailureLimiter
from cloud.services.alerts import Alerts
from cloud.services.coldchain import ColdChain
from cloud.services.commands import Commands
from cloud.services.conflicts import Conflicts
from cloud.services.contacts import Contacts
from cloud.services.desired import DesiredStates
from cloud.services.enrollment import Enrollments, build_accounts
from cloud.services.event_effects import EventEffects
from cloud.services.expiry import Expiry
from cloud.services.failures import FailedMessages
from cloud.services.ingest import Ingest
from cloud.services.integrations import Integrations
from cloud.services.limits import Limits
from cloud.services.lockers import Lockers
from cloud.services.monitoring import Monitoring
from cloud.services.orders import Orders
from cloud.services.pickup import Pickups
from cloud.services.returns import Returns
from cloud.services.vendors import Vendors
from cloud.services.watchdog import Watchdog
from cloud.settings import Settings
from cloud.tokens import ResidentLinks, load_link_secret, load_secret_file
from cloud.web.session import WebSessions
from lockers.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass
class CloudRuntime:
    """Everything a running cloud node holds; built by `open_runtime`, torn down by `close`."""

    settings: Settings
    db: Database
    keys: KeyRing
    bridge: MqttBridge
    desired: DesiredStates
    orders: Orders
    pickups: Pickups
    metrics: CollectorRegistry
    returns: Returns
    vendors: Vendors
    lockers: Lockers
    commands: Commands
    presence: PresenceRule
    ingest: Ingest
    limits: Limits
    alerts: Alerts
    contacts: Contacts
    coldchain: ColdChain
    monitoring: Monitoring
    notifier: Notifier
    watchdog: Watchdog
    exporter: Exporter
    enrollments: Enrollments
    integrations: Integrations
    web: WebSessions
    auth_limiter: FailureLimiter

    @property
    def role(self) -> str:
        """The node's role: "ingest" on an extra ingest node (DK_INGEST_TELEMETRY_ONLY), else "main". Only the
        main node delivers notifications, watches the clock and republishes desired states, so with several nodes
        nothing is sent twice; an ingest node stores its share of the telemetry, and the main node's outbox poll
        sends what that raised."""
        return "ingest" if self.settings.ingest_telemetry_only else "main"

    def start(self) -> None:
        """Start delivering notifications, connect to the broker, ingest, republish desired states, watch."""
        main = self.role == "main"
        self.exporter.start()
        if main:
            self.notifier.start()
            self.vendors.resign_codes()  # after a key rotation: vendor codes must outlive the old key
        self.presence.restart_clock()  # we heard nothing while we were down
        self.bridge.start(
            self.ingest.handle, self.ingest.telemetry_batch, FailedMessages(self.db).keep, self.ingest.presence_batch
        )
        count = self.desired.publish_all() if main else 0
        if main:
            self.watchdog.start()
        log.info(
            "cloud started (%s node): %d locker(s), MQTT %s:%s",
            self.role,
            count,
            self.settings.mqtt_host,
            self.settings.mqtt_port,
        )

    def close(self) -> None:
        self.watchdog.stop()
        self.bridge.stop()
        self.exporter.stop(timeout=10)  # after ingest stopped: what it handed over still gets written
        self.notifier.stop()
        self.db.dispose()


def open_runtime(settings: Settings) -> CloudRuntime:
    """Create tables, load keys and build the services; `settings` must have been through prepare_settings."""
    develop = not settings.production
    db = Database(settings.resolved_database_url())
    try:
        log.info("database: %s", schema.prepare(db))
        log.info("database: %s", reporting.refresh(db, settings.reporting_role, settings.offline_after_s))
        private_key = load_signing_key_file(settings.resolved_signing_key_file(), create=develop)
        with db.write() as session:
            keys = load_key_ring(session, private_key, timedelta(days=settings.key_rollover_days))
        link_secret = load_link_secret(settings.resolved_link_secret_file(), create=develop)
        links = ResidentLinks(link_secret)
        webhook_secret = _webhook_secret(settings, db)
        exporter = build_exporter(InfluxSettings())
        accounts = build_accounts(settings)  # before the bridge connects: it writes the cloud's own account
    except BaseException:
        db.dispose()
        raise
    bridge = MqttBridge(settings)
    desired = DesiredStates(db, bridge, keys.trusted())
    pickups = Pickups(settings, keys, links)
    limits = Limits(db)
    alerts = Alerts(db, settings)
    coldchain = ColdChain(settings, limits)
    monitoring = Monitoring(limits, alerts, coldchain)
    monitoring.shared = settings.mqtt_share_group is not None  # telemetry shared with other ingest processes
    notifier = Notifier(db, settings, webhook_secret)
    commands = Commands(db, bridge)
    presence = PresenceRule(settings.offline_after_s)
    effects = EventEffects(pickups, coldchain, Conflicts(alerts), alerts)
    ingest = Ingest(db, effects, desired, monitoring, commands, notifier, seen_step_s=settings.offline_after_s / 20)
    ingest.add_reading_sink(exporter.submit)  # after commit, never blocking: InfluxDB gets stored readings
    return CloudRuntime(
        settings=settings,
        db=db,
        keys=keys,
        bridge=bridge,
        desired=desired,
        orders=Orders(db, settings, links, desired),
        pickups=pickups,
        metrics=metrics_registry(CloudCollector(db, presence, bridge.stats.snapshot, lambda: bridge.connected)),
        returns=Returns(db, settings, keys, links, pickups, desired),
        vendors=Vendors(db, keys, settings.admin_key_value()),
        lockers=Lockers(db, desired, presence, settings.event_gap_alert_s),
        commands=commands,
        presence=presence,
        ingest=ingest,
        limits=limits,
        alerts=alerts,
        contacts=Contacts(db, webhooks_enabled=webhook_secret is not None),
        coldchain=coldchain,
        monitoring=monitoring,
        notifier=notifier,
        watchdog=Watchdog(
            db,
            settings,
            alerts,
            desired,
            notifier,
            presence,
            commands,
            connections=lambda: bridge.connections,
            expiry=Expiry(db, coldchain, desired, notifier),
        ),
        exporter=exporter,
        enrollments=Enrollments(db, settings, keys, accounts),
        integrations=Integrations(db, settings.admin_key_value()),
        web=WebSessions(link_secret),
        auth_limiter=FailureLimiter(settings.auth_failures_allowed, settings.auth_failure_window_s),
    )


def _webhook_secret(settings: Settings, db: Database) -> bytes | None:
    """Generated in development; in production read when present, and required once webhooks are configured."""
    path = settings.resolved_webhook_secret_file()
    if not settings.production or path.is_file():
        return load_secret_file(path, create=True, what="webhook secret")
    with db.read() as session:
        webhooks = session.scalar(select(Contact.id).where(Contact.active.is_(True), Contact.webhook_url.is_not(None)))
    if webhooks is not None:
        raise ConfigError(
            f"contacts with webhooks are configured but the webhook secret file {path} does not exist; "
            "production never generates it on the fly (create it once with `python -m cloud init`)"
        )
    return None
