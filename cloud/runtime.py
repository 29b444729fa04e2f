"""Wiring: settings -> database, keys, services and the MQTT bridge; started and stopped as one."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from cloud.db import Database
from cloud.keys import KeyRing, load_key_ring, load_signing_key_file
from cloud.mqtt_bridge import MqttBridge
from cloud.services.desired import DesiredStates
from cloud.services.event_effects import EventEffects
from cloud.services.ingest import Ingest
from cloud.services.lockers import Lockers
from cloud.services.orders import Orders
from cloud.services.pickup import Pickups
from cloud.services.vendors import Vendors
from cloud.settings import Settings
from cloud.tokens import ResidentLinks, load_link_secret

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
    vendors: Vendors
    lockers: Lockers
    ingest: Ingest

    def start(self) -> None:
        """Connect to the broker, start ingesting, and republish every locker's desired state."""
        self.bridge.start(self.ingest.handle)
        count = self.desired.publish_all()
        log.info("cloud started: %d locker(s), MQTT %s:%s", count, self.settings.mqtt_host, self.settings.mqtt_port)

    def close(self) -> None:
        self.bridge.stop()
        self.db.dispose()


def open_runtime(settings: Settings) -> CloudRuntime:
    """Create tables, load keys and build the services; `settings` must have been through prepare_settings."""
    develop = not settings.production
    db = Database(settings.resolved_database_url())
    try:
        db.create_all()
        private_key = load_signing_key_file(settings.resolved_signing_key_file(), create=develop)
        with db.write() as session:
            keys = load_key_ring(session, private_key)
        links = ResidentLinks(load_link_secret(settings.resolved_link_secret_file(), create=develop))
    except BaseException:
        db.dispose()
        raise
    bridge = MqttBridge(settings)
    desired = DesiredStates(db, bridge)
    pickups = Pickups(settings, keys, links)
    return CloudRuntime(
        settings=settings,
        db=db,
        keys=keys,
        bridge=bridge,
        desired=desired,
        orders=Orders(db, settings, links, desired),
        pickups=pickups,
        vendors=Vendors(db, keys, settings.admin_key_value()),
        lockers=Lockers(db, desired),
        ingest=Ingest(db, EventEffects(pickups), desired),
    )
