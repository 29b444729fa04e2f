"""Access control on a real mosquitto running the project's config: accounts, the per-locker ACL, revocation."""

from __future__ import annotations

import queue
import time

import pytest

from dorpskluis.broker import render_mosquitto_config
from lockers.mqtt import BrokerAddress, Inbound, MqttSession, Outbound
from lockers.protocol.topics import Channel, topic
from provisioning import MOSQUITTO_CONF
from provisioning.acl import render_acl
from tests.support import wait_until

QUIET_S = 1.0  # how long we listen for a message that must not arrive (after a control message did)


class Client:
    """A session with a mailbox, as one named account."""

    def __init__(self, broker, username: str | None, password: str | None, subscriptions=()) -> None:
        self.box: queue.Queue[Inbound] = queue.Queue()
        address = BrokerAddress(broker.host, broker.port, username, password)
        self.session = MqttSession(
            address, f"{username or 'anonymous'}-test", on_message=self.box.put, subscriptions=list(subscriptions)
        )
        self.session.start()

    def received(self) -> list[tuple[str, bytes]]:
        items = []
        while not self.box.empty():
            message = self.box.get_nowait()
            items.append((message.topic, message.payload))
        return items

    def stop(self) -> None:
        self.session.stop()


@pytest.fixture
def accounts(secured_broker):
    """Two lockers with their own accounts, and the cloud's."""
    passwords = {"locker-a": "pw-a-" + "x" * 20, "locker-b": "pw-b-" + "y" * 20}
    secured_broker.accounts().set_many(passwords)
    # The reload is a SIGHUP the broker handles when it gets to it: a login with a new account says it is done, so
    # no test's client meets the broker in the middle of a reload.
    ready = Client(secured_broker, "locker-b", passwords["locker-b"], ())
    ready.session.wait_connected(10)
    ready.stop()
    clients: list[Client] = []

    def connect(username: str | None, password: str | None = None, subscriptions=(), *, wait: bool = True) -> Client:
        if password is None and username in passwords:
            password = passwords[username]
        if username == secured_broker.cloud_username and password is None:
            password = secured_broker.cloud_password
        client = Client(secured_broker, username, password, subscriptions)
        clients.append(client)
        if wait:
            client.session.wait_connected(10)
        return client

    yield connect
    for client in clients:
        client.stop()


def test_the_committed_acl_file_is_the_one_the_protocol_implies():
    committed = (MOSQUITTO_CONF.parent / "acl").read_text()
    assert committed == render_acl()


def test_the_project_config_admits_no_anonymous_clients():
    lines = MOSQUITTO_CONF.read_text().splitlines()
    assert "allow_anonymous false" in lines
    assert any(line.startswith("password_file ") for line in lines)
    assert any(line.startswith("acl_file ") for line in lines)


def test_an_open_local_run_says_so_and_a_secured_one_keeps_the_access_lines(tmp_path):
    common = {"host": "127.0.0.1", "port": 1, "data_dir": tmp_path, "log_file": tmp_path / "log"}
    open_lines = render_mosquitto_config(MOSQUITTO_CONF.read_text(), **common).splitlines()
    assert "allow_anonymous true" in open_lines and "allow_anonymous false" not in open_lines
    assert not any(line.startswith(("password_file", "acl_file")) for line in open_lines)
    secured = render_mosquitto_config(
        MOSQUITTO_CONF.read_text(), **common, accounts=(tmp_path / "passwd", tmp_path / "acl")
    ).splitlines()
    assert "allow_anonymous false" in secured and "allow_anonymous true" not in secured
    assert f"password_file {tmp_path / 'passwd'}" in secured


@pytest.mark.parametrize(
    ("username", "password"),
    [(None, None), ("locker-a", "wrong password"), ("nobody", "pw-a-" + "x" * 20)],
    ids=["anonymous", "wrong-password", "unknown-user"],
)
def test_the_broker_refuses_clients_without_a_valid_account(accounts, username, password):
    client = accounts(username, password, wait=False)
    wait_until(lambda: client.session.last_refusal, what="a refused CONNECT")
    assert "authori" in client.session.last_refusal.lower()
    assert not client.session.connected


def test_a_locker_reaches_the_cloud_on_its_own_topics_and_hears_its_own_commands(accounts, secured_broker):
    cloud = accounts(secured_broker.cloud_username, subscriptions=[("dk/v1/+/events", 1)])
    a = accounts("locker-a", subscriptions=[(topic("locker-a", Channel.CMD), 1)])
    assert a.session.publish(Outbound(topic("locker-a", Channel.EVENTS), b"from a")).wait(5)
    assert cloud.box.get(timeout=5).payload == b"from a"
    assert cloud.session.publish(Outbound(topic("locker-a", Channel.CMD), b"open B2")).wait(5)
    assert a.box.get(timeout=5).payload == b"open B2"


def test_a_locker_cannot_speak_for_another_locker(accounts, secured_broker):
    cloud = accounts(secured_broker.cloud_username, subscriptions=[("dk/v1/+/events", 1), ("dk/v1/+/state", 1)])
    b = accounts(
        "locker-b", subscriptions=[(topic("locker-b", Channel.CMD), 1), (topic("locker-b", Channel.DESIRED), 1)]
    )
    a = accounts("locker-a")
    forged = [
        topic("locker-b", Channel.EVENTS),
        topic("locker-b", Channel.STATE),
        topic("locker-b", Channel.CMD),  # a command to B, as if from the cloud
        topic("locker-b", Channel.DESIRED),  # B's desired state, as if from the cloud
        topic("locker-a", Channel.DESIRED),  # its own desired state: only the cloud writes that
    ]
    for name in forged:
        a.session.publish(Outbound(name, b"forged by a"))
    # A message of A's own, sent after the forgeries on the same connection, arrives; none of them did.
    assert a.session.publish(Outbound(topic("locker-a", Channel.EVENTS), b"marker")).wait(5)
    assert cloud.box.get(timeout=5).payload == b"marker"
    time.sleep(QUIET_S)
    assert cloud.received() == []
    assert b.received() == []


def test_a_locker_cannot_read_another_lockers_or_the_clouds_traffic(accounts, secured_broker):
    snoop = [("dk/v1/#", 1), ("dk/v1/+/telemetry", 1), (topic("locker-b", Channel.DESIRED), 1), ("#", 1)]
    a = accounts("locker-a", subscriptions=snoop + [(topic("locker-a", Channel.CMD), 1)])
    b = accounts("locker-b")
    cloud = accounts(secured_broker.cloud_username)
    assert b.session.publish(Outbound(topic("locker-b", Channel.TELEMETRY), b"b's readings")).wait(5)
    assert cloud.session.publish(Outbound(topic("locker-b", Channel.DESIRED), b"b's codes", retain=True)).wait(5)
    assert cloud.session.publish(Outbound(topic("locker-b", Channel.CMD), b"b's command")).wait(5)
    assert cloud.session.publish(Outbound(topic("locker-a", Channel.CMD), b"marker")).wait(5)
    assert a.box.get(timeout=5).payload == b"marker"
    time.sleep(QUIET_S)
    assert a.received() == []
    # And a late subscriber gets no retained message of B's either.
    late = accounts("locker-a", subscriptions=[(topic("locker-b", Channel.DESIRED), 1), ("dk/v1/+/desired", 1)])
    time.sleep(QUIET_S)
    assert late.received() == []
    cloud.session.publish(Outbound(topic("locker-b", Channel.DESIRED), b"", retain=True)).wait(5)


def test_a_revoked_locker_is_disconnected_and_refused_from_then_on(accounts, secured_broker):
    a = accounts("locker-a")
    assert secured_broker.accounts().remove("locker-a")
    wait_until(lambda: not a.session.connected, what="the revoked locker to be disconnected")
    wait_until(lambda: a.session.last_refusal, timeout=15, what="the revoked locker's reconnect to be refused")
    assert not a.session.connected
    b = accounts("locker-b")  # everyone else carries on
    assert b.session.connected


def test_a_new_password_replaces_the_old_one_at_once(accounts, secured_broker):
    secured_broker.accounts().set("locker-a", "the new password " + "z" * 10)
    old = accounts("locker-a", wait=False)  # the fixture's (old) password
    wait_until(lambda: old.session.last_refusal, what="the old password to be refused")
    new = accounts("locker-a", "the new password " + "z" * 10)
    assert new.session.connected
