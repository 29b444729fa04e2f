"""Enrollment through the API on a secured mosquitto: one-time tokens, revocation, rate limits, refusals."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import update

from cloud.app import create_app
from cloud.db import utcnow
from cloud.models_provisioning import Enrollment
from lockers.mqtt import BrokerAddress, MqttSession
from tests.cloud.conftest import ADMIN, DEMO_LAYOUT, TestClient, cloud_settings
from tests.support import wait_until


@pytest.fixture
def secured_client(database_url, secured_broker, tmp_path) -> Iterator[TestClient]:
    """The cloud as deployed: its own broker account, keeping the broker's password file."""
    accounts = secured_broker.accounts()
    settings = cloud_settings(
        database_url,
        secured_broker,
        tmp_path / "data",
        mqtt_username=secured_broker.cloud_username,
        mqtt_password=secured_broker.cloud_password,
        broker_password_file=accounts.path,
        broker_pid_file=accounts.pid_file,
        mqtt_public_port=secured_broker.tls_port,  # lockers: TLS, trusting the CA their bundle carries
        locker_ca_file=secured_broker.tls.ca,
        auth_failures_allowed=5,
    )
    with TestClient(create_app(settings)) as client:
        client.app.state.runtime.bridge.wait_connected(10)
        register = client.post(
            "/api/v1/lockers", json={"id": "kerk-1", "name": "Kerk", "layout": DEMO_LAYOUT}, headers=ADMIN
        )
        assert register.status_code == 201, register.text
        yield client


def enroll_token(client: TestClient, locker: str = "kerk-1") -> str:
    response = client.post(f"/api/v1/lockers/{locker}/enrollments", headers=ADMIN)
    assert response.status_code == 201, response.text
    return response.json()["token"]


def connects(broker, username: str, password: str) -> bool:
    """Whether the broker accepts these credentials (a real CONNECT)."""
    session = MqttSession(
        BrokerAddress(broker.host, broker.port, username, password), f"{username}-probe", persistent=False
    )
    session.start()
    try:
        return (
            wait_until(lambda: "yes" if session.connected else "no" if session.last_refusal else None, what="CONNACK")
            == "yes"
        )
    finally:
        session.stop()


def test_a_token_is_traded_once_for_credentials_the_broker_accepts(secured_client, secured_broker):
    token = enroll_token(secured_client)
    first = secured_client.post("/api/v1/enroll", json={"token": token})
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["locker"], body["username"], body["generation"]) == ("kerk-1", "kerk-1", 1)
    assert body["broker"] == {
        "host": secured_broker.host,
        "port": secured_broker.tls_port,
        "ca_pem": secured_broker.tls.ca.read_text(),
    }
    assert body["keys"] and body["keys"][0]["algorithm"] == "Ed25519"
    assert connects(secured_broker, "kerk-1", body["password"])
    again = secured_client.post("/api/v1/enroll", json={"token": token})
    assert again.status_code == 410 and "already used" in again.json()["detail"]
    status = secured_client.get("/api/v1/lockers/kerk-1/credentials", headers=ADMIN).json()
    assert status["active"] and status["generation"] == 1 and status["open_enrollments"] == 0
    audit = secured_client.get("/api/v1/audit", params={"subject": "locker:kerk-1"}, headers=ADMIN).json()
    assert {entry["action"] for entry in audit} >= {"enrollment_issued", "credentials_issued"}


def test_rotation_replaces_the_password_and_revocation_kills_account_and_open_tokens(secured_client, secured_broker):
    old = secured_client.post("/api/v1/enroll", json={"token": enroll_token(secured_client)}).json()["password"]
    new = secured_client.post("/api/v1/enroll", json={"token": enroll_token(secured_client)}).json()
    assert new["generation"] == 2
    assert not connects(secured_broker, "kerk-1", old)
    assert connects(secured_broker, "kerk-1", new["password"])
    pending = enroll_token(secured_client)
    revoked = secured_client.delete("/api/v1/lockers/kerk-1/credentials", headers=ADMIN)
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    assert not connects(secured_broker, "kerk-1", new["password"])
    refused = secured_client.post("/api/v1/enroll", json={"token": pending})
    assert refused.status_code == 410 and "revoked" in refused.json()["detail"]
    # A token issued after the revocation brings the locker back.
    restored = secured_client.post("/api/v1/enroll", json={"token": enroll_token(secured_client)})
    assert restored.status_code == 200 and connects(secured_broker, "kerk-1", restored.json()["password"])


def test_an_expired_token_is_refused_and_an_unknown_one_too(secured_client):
    token = enroll_token(secured_client)
    with secured_client.app.state.runtime.db.write() as session:
        session.execute(update(Enrollment).values(expires_at=utcnow() - timedelta(minutes=1)))
    expired = secured_client.post("/api/v1/enroll", json={"token": token})
    assert expired.status_code == 410 and "expired" in expired.json()["detail"]
    unknown = secured_client.post("/api/v1/enroll", json={"token": "x" * 43})
    assert unknown.status_code == 401 and "not known" in unknown.json()["detail"]


def test_guessing_tokens_or_keys_is_cut_off_with_429_even_for_a_right_guess(secured_client):
    token = enroll_token(secured_client)
    for _ in range(4):
        assert secured_client.post("/api/v1/enroll", json={"token": "y" * 43}).status_code == 401
    assert secured_client.get("/api/v1/lockers", headers=ADMIN).status_code == 200  # a success is no failure
    assert secured_client.get("/api/v1/lockers", headers={"X-API-Key": "guess"}).status_code == 401  # the 5th
    blocked = secured_client.post("/api/v1/enroll", json={"token": token})
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) >= 1
    assert "too many failed attempts" in blocked.json()["detail"]
    assert secured_client.get("/api/v1/lockers", headers=ADMIN).status_code == 429  # until the window passed


def test_only_the_admin_issues_tokens_and_reads_or_revokes_credentials(secured_client):
    for method, path in [
        ("post", "/api/v1/lockers/kerk-1/enrollments"),
        ("get", "/api/v1/lockers/kerk-1/credentials"),
        ("delete", "/api/v1/lockers/kerk-1/credentials"),
    ]:
        assert getattr(secured_client, method)(path).status_code == 401
    missing = secured_client.post("/api/v1/lockers/nope/enrollments", headers=ADMIN)
    assert missing.status_code == 404


@pytest.mark.parametrize("reserved", ["dk-cloud", "admin"])
def test_a_locker_cannot_take_a_service_account_name(secured_client, reserved):
    response = secured_client.post(
        "/api/v1/lockers", json={"id": reserved, "name": "x", "layout": DEMO_LAYOUT}, headers=ADMIN
    )
    assert response.status_code == 422 and "reserved" in response.json()["detail"]


def test_without_the_brokers_password_file_enrollment_says_what_to_configure(client):
    client.post("/api/v1/lockers", json={"id": "kerk-2", "name": "Kerk", "layout": DEMO_LAYOUT}, headers=ADMIN)
    response = client.post("/api/v1/lockers/kerk-2/enrollments", headers=ADMIN)
    assert response.status_code == 503 and "DK_BROKER_PASSWORD_FILE" in response.json()["detail"]
