"""Remote unlock: an admin's command goes to the locker at QoS 1 with an expiry; the locker's acknowledgement or
refusal comes back; unanswered commands expire; issuing and answers are audited; bad requests get a 4xx."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from cloud.errors import ServiceUnavailable
from cloud.schemas_edge import UnlockRequest
from cloud.services.commands import Commands
from lockers.errors import TransportError
from lockers.protocol.messages import CommandAck
from lockers.protocol.topics import Channel
from tests.cloud.conftest import ADMIN, DEMO_LAYOUT, EdgeProbe, counter, key, wait_count
from tests.support import wait_until


def unlock(client, locker: str, **body):
    body = {"compartments": ["A1"], "reason": "resident locked out, phoned at 14:02", **body}
    return client.post(f"/api/v1/lockers/{locker}/unlock", headers=ADMIN, json=body)


def command(client, command_id: str) -> dict:
    response = client.get(f"/api/v1/commands/{command_id}", headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()


def trail(client, command_id: str) -> list[dict]:
    """Audit entries of the command, oldest first."""
    entries = client.get("/api/v1/audit", headers=ADMIN, params={"subject": f"command:{command_id}"}).json()
    return list(reversed(entries))


def test_an_acknowledged_unlock(client, locker, edge):
    response = unlock(client, locker, compartments=["B2", "A1", "B2"], by="Jan (wacht)")
    assert response.status_code == 202, response.text
    sent = response.json()
    assert re.fullmatch(r"[0-9a-f]{32}", sent["id"])
    assert (sent["locker"], sent["kind"], sent["state"]) == (locker, "unlock", "sent")
    assert sent["compartments"] == ["B2", "A1"]  # each once, in the order asked
    assert sent["issued_by"] == "admin (Jan (wacht))" and sent["reason"] == "resident locked out, phoned at 14:02"
    lifetime = datetime.fromisoformat(sent["expires_at"]) - datetime.fromisoformat(sent["issued_at"])
    assert lifetime == timedelta(seconds=60)

    received, retained = edge.command(sent["id"])
    assert not retained  # a command is for now: never kept for a later subscriber
    assert (received.kind, received.compartments, received.issued_by) == ("unlock", ["B2", "A1"], sent["issued_by"])
    assert received.expires_at == datetime.fromisoformat(sent["expires_at"])

    edge.send(Channel.CMD_ACK, CommandAck(id=sent["id"], ok=True, opened=["B2", "A1"]))
    done = wait_until(lambda: (c := command(client, sent["id"]))["state"] == "acknowledged" and c, 10, "the ack")
    assert done["opened"] == ["B2", "A1"] and done["answered_at"] is not None and done["detail"] is None
    listed = client.get(f"/api/v1/lockers/{locker}/commands", headers=ADMIN).json()
    assert listed["locker"] == locker and [c["id"] for c in listed["commands"]] == [sent["id"]]

    # a repeated ack (QoS 1) changes nothing and is not audited twice
    duplicates = counter(client, "duplicates")
    edge.send(Channel.CMD_ACK, CommandAck(id=sent["id"], ok=True, opened=["B2", "A1"]))
    wait_count(client, "duplicates", duplicates + 1)
    entries = trail(client, sent["id"])
    assert [(e["actor"], e["action"]) for e in entries] == [
        ("admin (Jan (wacht))", "command.issued"),
        (f"locker {locker}", "command.acknowledged"),
    ]
    assert entries[0]["new"]["compartments"] == ["B2", "A1"] and entries[0]["new"]["reason"] == sent["reason"]
    assert (entries[1]["old"], entries[1]["new"]["state"]) == ({"state": "sent"}, "acknowledged")


def test_a_refused_unlock(client, locker, edge):
    sent = unlock(client, locker, compartments=["C1"]).json()
    edge.command(sent["id"])
    edge.send(Channel.CMD_ACK, CommandAck(id=sent["id"], ok=False, detail="door C1 did not open (jam)"))
    done = wait_until(lambda: (c := command(client, sent["id"]))["state"] == "refused" and c, 10, "the refusal")
    assert (done["opened"], done["detail"]) == ([], "door C1 did not open (jam)")
    assert [e["action"] for e in trail(client, sent["id"])] == ["command.issued", "command.refused"]


def test_an_unanswered_unlock_expires(client, locker, edge):
    sent = unlock(client, locker, expires_in_s=1).json()
    edge.command(sent["id"])
    wait_until(lambda: command(client, sent["id"])["state"] == "expired", 10, "expiry")
    # a locker that answers late (it refuses: too late) is still recorded, from `expired`
    edge.send(Channel.CMD_ACK, CommandAck(id=sent["id"], ok=False, detail="expired"))
    wait_until(lambda: command(client, sent["id"])["state"] == "refused", 10, "the late answer")
    assert trail(client, sent["id"])[-1]["old"] == {"state": "expired"}


def test_answers_to_commands_never_sent_are_dropped(client, locker, edge, broker):
    before = counter(client, "dropped_by_reason.unknown_command")
    edge.send(Channel.CMD_ACK, CommandAck(id="ab" * 16, ok=True))
    sent = unlock(client, locker).json()
    other = f"{locker}-b"  # another registered locker may not answer for this one
    created = client.post("/api/v1/lockers", headers=ADMIN, json={"id": other, "name": "Kerk", "layout": DEMO_LAYOUT})
    assert created.status_code == 201, created.text
    with EdgeProbe(broker, other) as stranger:
        stranger.send(Channel.CMD_ACK, CommandAck(id=sent["id"], ok=True))
    wait_count(client, "dropped_by_reason.unknown_command", before + 2)
    assert command(client, sent["id"])["state"] == "sent"


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"compartments": ["A1", "Z9", "A7"]}, 422, "compartments: locker {locker} has no compartment Z9, A7 (it has "),
        ({"compartments": []}, 422, "compartments: List should have at least 1 item"),
        ({"reason": ""}, 422, "reason: String should have at least 3 characters"),
        ({"expires_in_s": 7200}, 422, "expires_in_s: Input should be less than or equal to 3600"),
        ({"force": True}, 422, "force: Extra inputs are not permitted"),
    ],
)
def test_bad_unlock_requests_are_explained(client, locker, body, status, detail):
    response = unlock(client, locker, **body)
    assert response.status_code == status, response.text
    assert response.json()["detail"].startswith(detail.format(locker=locker))
    assert client.get(f"/api/v1/lockers/{locker}/commands", headers=ADMIN).json()["commands"] == []


def test_who_may_unlock_and_what_does_not_exist(client, locker, farmer):
    body = {"compartments": ["A1"], "reason": "testing"}
    assert client.post(f"/api/v1/lockers/{locker}/unlock", json=body).status_code == 401
    refused = client.post(f"/api/v1/lockers/{locker}/unlock", headers=key(farmer), json=body)
    assert refused.status_code == 403 and refused.json()["detail"] == "only the foundation's admin key may do this"
    missing = client.post("/api/v1/lockers/t-nosuchlocker/unlock", headers=ADMIN, json=body)
    assert missing.status_code == 404 and missing.json() == {"detail": "no locker 't-nosuchlocker'"}
    assert client.get("/api/v1/commands/" + "0" * 32, headers=ADMIN).status_code == 404
    assert client.get("/api/v1/commands/not-an-id", headers=ADMIN).json() == {"detail": "no command 'not-an-id'"}
    assert client.get("/api/v1/lockers/t-nosuchlocker/commands", headers=ADMIN).status_code == 404
    assert client.get(f"/api/v1/lockers/{locker}/commands", headers=key(farmer)).status_code == 403


class _BrokerDown:
    """Stands in for the MQTT bridge when paho refuses a publish outright."""

    def publish_command(self, locker_id: str, command) -> None:
        raise TransportError("publish to dk/v1/x/cmd failed: out of memory")


def test_a_command_that_cannot_be_sent_is_recorded_as_failed(client, locker):
    runtime = client.app.state.runtime
    commands = Commands(runtime.db, _BrokerDown())
    with pytest.raises(ServiceUnavailable, match="could not be sent to locker") as raised:
        commands.unlock("admin", locker, UnlockRequest(compartments=["A1"], reason="testing the broker"))
    command_id = re.search(r"command ([0-9a-f]{32})", raised.value.detail).group(1)
    failed = command(client, command_id)
    assert (failed["state"], failed["detail"]) == ("failed", "publish to dk/v1/x/cmd failed: out of memory")
    assert [e["action"] for e in trail(client, command_id)] == ["command.issued", "command.failed"]
