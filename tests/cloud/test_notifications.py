"""Alert notifications reach a real SMTP server and a real webhook receiver (signature checked), are retried,
and escalate to the next contact level when nobody acknowledges."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from cloud.db import utcnow
from cloud.models_monitoring import Notification
from tests.cloud.coldchain_support import SimulatedSite, alerts
from tests.cloud.conftest import ADMIN, cloud_settings
from tests.cloud.servers import webhook_server
from tests.support import wait_until


@pytest.fixture
def settings(database_url, broker, tmp_path, smtp):
    _inbox, port = smtp
    return cloud_settings(
        database_url,
        broker,
        tmp_path / "data",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_from="Dorpskluis Zwartsluis <alarm@dorpskluis.example>",
        escalation_after_minutes=0.01,  # 0.6 s
        watchdog_interval_s=0.1,
        notify_retry_s=0.05,
        notify_max_attempts=3,
    )


@pytest.fixture
def webhooks(client):
    secret = bytes.fromhex(client.app.state.runtime.settings.resolved_webhook_secret_file().read_text().strip())
    with webhook_server(secret) as running:
        yield running


def add_contact(client, **body) -> dict:
    response = client.post("/api/v1/contacts", headers=ADMIN, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def raise_temperature_alert(site: SimulatedSite, client) -> None:
    site.crafted(*[9.0] * 32)  # 16 minutes above 7 °C
    site.sync(client)


def notifications(client) -> list[Notification]:
    with client.app.state.runtime.db.read() as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


def test_alert_notifies_by_email_and_signed_webhook_then_escalates(client, locker, edge, smtp, webhooks, tmp_path):
    inbox, _ = smtp
    receiver, url = webhooks
    add_contact(client, level=0, name="Wachtdienst", email="wacht@dorpskluis.example", webhook_url=url)
    add_contact(client, level=1, name="Coördinator", email="coordinator@dorpskluis.example")
    site = SimulatedSite(edge, tmp_path / "w1")
    site.online()
    raise_temperature_alert(site, client)

    (alert,) = alerts(client, locker)
    (mail,) = wait_until(lambda: inbox.to("wacht@dorpskluis.example"), 10, "mail to level 0")
    assert mail["Subject"] == f"[Dorpskluis] temperature alert {alert['id']} at {locker} (chilled): raised"
    assert mail["From"] == "Dorpskluis Zwartsluis <alarm@dorpskluis.example>"
    text = mail.get_content()
    assert "chilled zone above 7 °C for 15 min (peak 9.0 °C)" in text
    assert f"https://dorpskluis.example/api/v1/alerts/{alert['id']}/ack" in text
    (hook,) = wait_until(lambda: receiver.received("alert.raised"), 10, "webhook alert.raised")
    assert hook.signature_valid
    assert hook.payload["alert"]["id"] == alert["id"] and hook.payload["alert"]["kind"] == "temperature"
    assert hook.payload["event"] == "alert.raised" and hook.delivery_id.isdigit()

    # nobody acknowledges within 0.6 s: the next level hears of it, once
    (escalated,) = wait_until(lambda: inbox.to("coordinator@dorpskluis.example"), 10, "mail to level 1")
    assert escalated["Subject"].endswith(": not acknowledged")
    assert client.get(f"/api/v1/alerts/{alert['id']}", headers=ADMIN).json()["escalation_level"] == 1
    (entry,) = client.get("/api/v1/audit", headers=ADMIN, params={"subject": f"alert:{alert['id']}"}).json()
    assert (entry["actor"], entry["action"]) == ("system", "alert.escalated")
    assert (entry["old"], entry["new"]) == ({"escalation_level": 0}, {"escalation_level": 1})

    # cleared: everybody who was told hears the end of it
    site.crafted(5.0)
    site.sync(client)
    wait_until(lambda: len(inbox.to("coordinator@dorpskluis.example")) == 2, 10, "cleared mail to level 1")
    (cleared,) = wait_until(lambda: receiver.received("alert.cleared"), 10, "webhook alert.cleared")
    assert cleared.signature_valid and cleared.payload["alert"]["state"] == "cleared"
    sent = wait_until(lambda: all(n.status == "sent" for n in notifications(client)), 10, "everything sent")
    assert sent and len(notifications(client)) == 6  # raised: mail + hook; escalated: mail; cleared: 3
    assert client.get(f"/api/v1/alerts/{alert['id']}", headers=ADMIN).json()["escalation_level"] == 1


def test_acknowledged_alerts_do_not_escalate(client, locker, edge, smtp, tmp_path):
    inbox, _ = smtp
    add_contact(client, level=0, name="Wachtdienst", email="wacht@dorpskluis.example")
    add_contact(client, level=2, name="Bestuur", email="bestuur@dorpskluis.example")
    site = SimulatedSite(edge, tmp_path / "w1")
    site.online()
    # hold the watchdog so the acknowledgement surely comes before the escalation interval is checked
    runtime = client.app.state.runtime
    runtime.watchdog.stop()
    raise_temperature_alert(site, client)
    (alert,) = alerts(client, locker)
    ack = client.post(f"/api/v1/alerts/{alert['id']}/ack", headers=ADMIN, json={"note": "monteur onderweg"})
    assert ack.status_code == 200, ack.text
    runtime.watchdog.start()
    wait_until(lambda: inbox.to("wacht@dorpskluis.example"), 10, "mail to level 0")
    assert runtime.watchdog.escalate(utcnow() + timedelta(hours=1)) == 0
    assert inbox.to("bestuur@dorpskluis.example") == []
    assert client.get(f"/api/v1/alerts/{alert['id']}", headers=ADMIN).json()["escalation_level"] == 0


def test_failed_webhooks_are_retried_with_backoff_then_given_up(client, locker, edge, webhooks, tmp_path):
    receiver, url = webhooks
    receiver.statuses = [500, 503]  # two refusals, then the receiver is back
    add_contact(client, level=0, name="Shop", webhook_url=url)
    add_contact(client, level=0, name="Gone", webhook_url="http://127.0.0.1:9/nobody-listens")
    site = SimulatedSite(edge, tmp_path / "w1")
    site.online()
    raise_temperature_alert(site, client)

    wait_until(lambda: receiver.received("alert.raised"), 10, "webhook after retries")
    assert receiver.refused == 2

    def settled() -> list[Notification]:
        rows = notifications(client)
        return rows if rows and all(n.status != "pending" for n in rows) else []

    delivered, failed = wait_until(settled, 10, "both notifications settled")
    assert (delivered.status, delivered.attempts, delivered.last_error) == ("sent", 3, None)
    assert (failed.status, failed.attempts) == ("failed", 3)
    assert "ConnectError" in failed.last_error
