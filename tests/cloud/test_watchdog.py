"""Wall-clock duties of the cloud: offline lockers get one alert that clears when they report again; a restarted
cloud gives lockers time before calling them silent; production needs the webhook secret once webhooks exist."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from cloud.db import utcnow
from cloud.errors import Conflict
from cloud.models import Locker
from cloud.models_monitoring import Contact
from cloud.runtime import open_runtime
from cloud.schemas_monitoring import ContactCreate
from cloud.settings import prepare_settings
from cloud.tokens import load_secret_file
from lockers.errors import ConfigError
from lockers.protocol.messages import StateMessage
from lockers.protocol.topics import Channel
from tests.cloud.coldchain_support import SimulatedSite, alerts
from tests.cloud.conftest import cloud_settings
from tests.cloud.test_settings import production, with_key_files
from tests.support import wait_until


@pytest.fixture
def offline_after_s() -> float:
    return 60.0


@pytest.fixture
def settings(database_url, broker, tmp_path, offline_after_s):
    return cloud_settings(
        database_url, broker, tmp_path / "data", watchdog_interval_s=0.05, offline_after_s=offline_after_s
    )


def test_a_locker_that_drops_off_gets_one_offline_alert_until_it_is_back(client, locker, edge):
    edge.send(Channel.STATE, StateMessage(state="online", agent="edge 0.3"))
    edge.send(Channel.STATE, StateMessage(state="offline"))  # the broker publishes the Last Will
    (alert,) = wait_until(lambda: alerts(client, locker, kind="offline"), 10, "offline alert")
    assert (alert["zone"], alert["sensor"], alert["severity"], alert["state"]) == (None, None, "critical", "raised")
    assert alert["detail"] == f"locker {locker} is offline (its connection dropped or it shut down)"
    edge.send(Channel.STATE, StateMessage(state="online", agent="edge 0.3"))
    wait_until(lambda: alerts(client, locker, state="cleared"), 10, "offline alert cleared")
    assert len(alerts(client, locker)) == 1


@pytest.mark.parametrize("offline_after_s", [1.0])
def test_a_silent_locker_is_offline_until_it_sends_again(client, locker, edge, tmp_path, offline_after_s):
    site = SimulatedSite(edge, tmp_path / "w1")
    site.online()
    site.advance(30)
    site.sync(client)
    (alert,) = wait_until(lambda: alerts(client, locker, kind="offline"), 10, "silence noticed after 1 s")
    assert alert["detail"].startswith(f"locker {locker} sent nothing since ")
    site.advance(30)
    wait_until(lambda: alerts(client, locker, state="cleared"), 10, "offline alert cleared")


def test_a_restarted_cloud_gives_lockers_a_full_interval(database_url, broker, tmp_path, locker_id):
    settings = cloud_settings(database_url, broker, tmp_path / "data", offline_after_s=600)
    runtime = open_runtime(prepare_settings(settings))
    try:
        with runtime.db.write() as session:
            session.add(Locker(id=locker_id, name="Oud", layout={}, pin_salt="0" * 32, online=True))
            session.execute(
                update(Locker).where(Locker.id == locker_id).values(last_seen=utcnow() - timedelta(hours=2))
            )
        now = utcnow()
        assert runtime.watchdog.check_offline(now) == (0, 0)  # we were down, not necessarily the locker
        assert runtime.watchdog.check_offline(now + timedelta(minutes=11)) == (1, 0)
        assert runtime.watchdog.check_offline(now + timedelta(minutes=12)) == (0, 0)  # still one alert
    finally:
        runtime.db.dispose()


def test_a_reconnection_before_the_watchdog_first_looked_still_republishes(database_url, broker, tmp_path, locker_id):
    runtime = open_runtime(prepare_settings(cloud_settings(database_url, broker, tmp_path / "data")))
    try:
        with runtime.db.write() as session:
            session.add(Locker(id=locker_id, name="Oud", layout={}, pin_salt="0" * 32))
        now = utcnow()
        runtime.bridge.connections = 1  # the start-up connection: the runtime's own publish covers it
        assert runtime.watchdog.republish_after_reconnect(now) == 0
        runtime.bridge.connections = 2  # the broker crashed and the session connected again
        assert runtime.watchdog.republish_after_reconnect(now) == 1
        assert runtime.watchdog.republish_after_reconnect(now) == 0  # once per reconnection
        later = open_runtime(prepare_settings(cloud_settings(database_url, broker, tmp_path / "data2")))
        try:
            later.bridge.connections = 2  # the crash came before this watchdog's first look
            assert later.watchdog.republish_after_reconnect(now) == 1
        finally:
            later.db.dispose()
    finally:
        runtime.db.dispose()


def test_production_needs_the_webhook_secret_once_webhooks_are_configured(tmp_path):
    settings = prepare_settings(with_key_files(production(tmp_path)))
    runtime = open_runtime(settings)  # no webhook secret file: webhooks are simply unavailable
    try:
        with pytest.raises(Conflict, match="webhooks need a signing secret"):
            runtime.contacts.create("admin", ContactCreate(name="Shop", webhook_url="https://shop.example/hook"))
        runtime.contacts.create("admin", ContactCreate(name="Wacht", email="wacht@dk.example"))
        with runtime.db.write() as session:  # e.g. configured before the secret file went missing
            session.add(Contact(level=0, name="Shop", webhook_url="https://shop.example/hook", active=True))
    finally:
        runtime.db.dispose()
    with pytest.raises(ConfigError, match="webhook secret file .* does not exist"):
        open_runtime(settings)
    load_secret_file(settings.resolved_webhook_secret_file(), create=True, what="webhook secret")
    runtime = open_runtime(settings)
    try:
        created = runtime.contacts.create("admin", ContactCreate(name="Shop 2", webhook_url="https://shop.example/2"))
        assert created.webhook_url == "https://shop.example/2"
    finally:
        runtime.db.dispose()
