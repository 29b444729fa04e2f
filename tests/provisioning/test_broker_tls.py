"""TLS on the broker: the listener runs with certificates from `provisioning.certs`; a locker that trusts the
bundle's CA connects with its own account, one that trusts another CA (or none) does not get in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dorpskluis.broker import RunningBroker, free_port, mosquitto_binary
from lockers.mqtt import BrokerAddress, MqttSession
from provisioning.certs import write_broker_certs
from tests.support import service_missing, wait_until


@pytest.fixture
def tls_broker(tmp_path) -> Iterator[RunningBroker]:
    if mosquitto_binary() is None:
        service_missing("mosquitto binary not installed")
    certs = write_broker_certs(tmp_path / "certs", ["localhost", "127.0.0.1"])
    broker = RunningBroker(
        kind="mosquitto",
        host="127.0.0.1",
        port=free_port(),
        workdir=tmp_path / "broker",
        tls=certs,
        tls_port=free_port(),
    ).start()
    broker.accounts().set("locker-a", "a-password-of-some-length")
    yield broker
    broker.stop()


def outcome(address: BrokerAddress) -> tuple[bool, MqttSession]:
    session = MqttSession(address, "tls-probe", persistent=False)
    session.start()
    try:
        connected = wait_until(
            lambda: "yes" if session.connected else "no" if session.last_refusal or session.last_error else None,
            timeout=10,
            what="a TLS connection or its refusal",
        )
    finally:
        session.stop()
    return connected == "yes", session


def test_a_locker_trusting_the_bundles_ca_connects_over_tls(tls_broker):
    ok, _ = outcome(
        BrokerAddress(
            "localhost", tls_broker.tls_port, "locker-a", "a-password-of-some-length", ca_file=str(tls_broker.tls.ca)
        )
    )
    assert ok


def test_tls_still_needs_the_account(tls_broker):
    ok, session = outcome(
        BrokerAddress("localhost", tls_broker.tls_port, "locker-a", "wrong", ca_file=str(tls_broker.tls.ca))
    )
    assert not ok and "authori" in session.last_refusal.lower()


def test_a_broker_with_a_certificate_of_another_ca_is_not_trusted(tls_broker, tmp_path):
    stranger = write_broker_certs(tmp_path / "other", ["localhost"])
    ok, session = outcome(
        BrokerAddress(
            "localhost", tls_broker.tls_port, "locker-a", "a-password-of-some-length", ca_file=str(stranger.ca)
        )
    )
    assert not ok and "certificate verify failed" in session.last_error


def test_the_name_must_match_the_certificate(tls_broker, tmp_path):
    certs = write_broker_certs(tmp_path / "named", ["broker.example.nl"])
    broker = RunningBroker(
        kind="mosquitto", host="127.0.0.1", port=free_port(), workdir=tmp_path / "b2", tls=certs, tls_port=free_port()
    ).start()
    try:
        ok, session = outcome(BrokerAddress("127.0.0.1", broker.tls_port, "x", "y", ca_file=str(certs.ca)))
        assert not ok and "mismatch" in session.last_error.lower()
    finally:
        broker.stop()
